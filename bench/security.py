#!/usr/bin/env python3
"""Security benchmark: the cost of TLS and SASL_SSL for kafkac and for librdkafka, in the
same run, on the same broker.

Makes a throwaway CA and a broker certificate for 127.0.0.1/localhost (the openssl
command-line tool), starts one Apache Kafka node (scripts/kafka-single.sh, 1 GiB G1
heap) with three client listeners on 127.0.0.1 -- PLAINTEXT, SSL and SASL_SSL
(SCRAM-SHA-512) -- adds a SCRAM-SHA-512 user, and runs, over each listener, with both
clients at the same settings:

  produce  --count messages of --size bytes to a fresh one-partition topic, one send call
           per message (bench/producer_bench.c, bench/rdkafka_producer_bench.c), acks=all,
           enable.idempotence=true, default batching (linger.ms=5);
  consume  the same number of records from one topic filled once (over PLAINTEXT, by
           kafkac, records of text that does not repeat), each run in a new group from the
           earliest offset (bench/consumer_bench.c, bench/rdkafka_consumer_bench.c), at
           the clients' defaults.

Both clients trust the throwaway CA (ssl.ca.location) and check the broker's hostname
(the certificate names 127.0.0.1). Configurations are interleaved and repeated --repeats
times; the tables give medians with [min-max] ranges, the ratio kafkac / librdkafka per
protocol, and each client's CPU over its own plaintext figure. The broker is stopped on
exit, on error and on SIGINT/SIGTERM/SIGHUP.

  python3 bench/security.py [--repeats 3] [--count 1000000] [--size 100]
                            [--protocols plaintext,ssl,sasl_ssl] [--roles produce,consume]
                            [-X prop=value]... [--json FILE]

-X sets a property for both clients (repeatable).
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as common  # noqa: E402  (free_port, ROOT, OUT)
import producer as pb  # noqa: E402  (build, Broker, Topics, run_one)
import consumer as cb  # noqa: E402  (build, run, parse, fill)

ROOT = common.ROOT
OUT = common.OUT
USER, PASSWORD = "bench", "bench-secret"
PROTOCOLS = ("plaintext", "ssl", "sasl_ssl")
CLIENTS = ("kafkac", "librdkafka")


def make_pki(d):
    """A CA and a broker certificate (RSA 2048, SHA-256) for 127.0.0.1 and localhost;
    returns (ca.pem, broker.pem), the latter Kafka's PEM keystore (key + chain)."""
    def ossl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=kafkac bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
         "-subj", "/CN=localhost")
    with open(os.path.join(d, "broker.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "broker.crt", "-days", "2", "-sha256", "-extfile", "broker.ext")
    # genpkey/req -nodes writes PKCS#8 ("BEGIN PRIVATE KEY"), which Kafka's PEM keystore wants.
    with open(os.path.join(d, "broker.pem"), "w") as f:
        for part in ("broker.key", "broker.crt", "ca.pem"):
            f.write(open(os.path.join(d, part)).read())
    return os.path.join(d, "ca.pem"), os.path.join(d, "broker.pem")


def start_broker(pki_dir, keystore):
    ports = {"ssl": common.free_port(), "sasl_ssl": common.free_port()}
    props = os.path.join(pki_dir, "server-extra.properties")
    with open(props, "w") as f:
        f.write(f"ssl.keystore.type=PEM\nssl.keystore.location={keystore}\n"
                "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;\n")
    # pb.Broker passes its environment to kafka-single.sh.
    os.environ["KAFKAC_KAFKA_LISTENERS"] = f"SSL:{ports['ssl']} SASL_SSL:{ports['sasl_ssl']}"
    os.environ["KAFKAC_KAFKA_PROPS"] = props
    broker = pb.Broker()
    boots = {"plaintext": broker.boot, "ssl": f"127.0.0.1:{ports['ssl']}",
             "sasl_ssl": f"127.0.0.1:{ports['sasl_ssl']}"}
    return broker, boots


def add_scram_user(boot):
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    admin = AdminClient({"bootstrap.servers": boot})
    up = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                      PASSWORD.encode())
    for f in admin.alter_user_scram_credentials([up]).values():
        f.result(60)


def security_props(proto, ca):
    if proto == "plaintext":
        return {}
    p = {"security.protocol": proto, "ssl.ca.location": ca}
    if proto == "sasl_ssl":
        p.update({"sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD})
    return p


def xargs(props):
    return [x for k, v in props.items() for x in ("-X", f"{k}={v}")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--roles", default="produce,consume")
    ap.add_argument("-X", dest="props", action="append", default=[],
                    help="a property for both clients (prop=value), repeatable")
    ap.add_argument("--json", default=f"{OUT}/security-results.json", help="raw results")
    a = ap.parse_args()
    protos = [p for p in a.protocols.split(",") if p]
    for p in protos:
        if p not in PROTOCOLS:
            raise SystemExit(f"unknown protocol {p} (one of {', '.join(PROTOCOLS)})")
    roles = [r for r in a.roles.split(",") if r]
    common_props = {}
    for kv in a.props:
        if "=" not in kv:
            raise SystemExit(f"-X {kv}: expected prop=value")
        k, v = kv.split("=", 1)
        common_props[k] = v
    if not shutil.which("openssl"):
        raise SystemExit("the openssl command-line tool is needed to make the certificates")

    pbins, rev, rdver = pb.build(ROOT)
    cbins, _ = cb.build()
    names = {"kafkac": f"kafkac {rev}", "librdkafka": f"librdkafka {rdver}"}
    base = {"acks": "all", "enable.idempotence": "true"}

    def on_term(signum, frame):
        raise SystemExit(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:  # not under nohup
        signal.signal(signal.SIGHUP, on_term)

    pki = tempfile.mkdtemp(prefix="kafkac-secbench-pki-")
    broker = topics = None
    results = {}
    try:
        ca, keystore = make_pki(pki)
        broker, boots = start_broker(pki, keystore)
        add_scram_user(boots["plaintext"])
        topics = pb.Topics(boots["plaintext"])

        def produce(client, proto, count):
            t = topics.create(1)
            try:
                return pb.run_one(pbins[client], boots[proto], t, count, a.size, 1, "throughput",
                                  dict(base, **security_props(proto, ca), **common_props))
            finally:
                topics.delete(t)

        def consume(client, proto, topic, count):
            out = cb.run([cbins[client], boots[proto], topic, str(count), "throughput",
                          *xargs(dict(security_props(proto, ca), **common_props))])
            return cb.parse(out, "throughput")

        # Warm the broker up (its JIT, plaintext and TLS paths) before anything is measured.
        warm = max(a.count // 5, 1000)
        for client in CLIENTS:
            for proto in protos:
                produce(client, proto, warm)
        filled = None
        if "consume" in roles:
            filled = topics.create(1)
            cb.fill(cbins["fill"], boots["plaintext"], filled, a.count, a.size, 1, "none")
            for client in CLIENTS:
                consume(client, protos[-1], filled, warm)

        configs = [(role, proto, client) for role in roles for proto in protos for client in CLIENTS]
        total = len(configs) * a.repeats
        done = 0
        for rep in range(a.repeats):
            k = (rep * len(configs)) // max(a.repeats, 1)
            for role, proto, client in configs[k:] + configs[:k]:
                free = shutil.disk_usage(tempfile.gettempdir()).free
                if free < 2 << 30:
                    raise SystemExit(f"only {free >> 20} MiB free in {tempfile.gettempdir()}")
                load = os.getloadavg()[0]
                if role == "produce":
                    r = produce(client, proto, a.count)
                else:
                    r = consume(client, proto, filled, a.count)
                r["load"] = load
                results.setdefault((role, proto, client), []).append(r)
                done += 1
                print(f"[{done}/{total}] {role:8} {proto:9} {client:10} {r['msgs'] / r['wall']:>10,.0f} msgs/s "
                      f"cpu {r['cpu']:.2f} s rss {r['rss_kib'] / 1024:.1f} MiB load {load:.1f}",
                      file=sys.stderr, flush=True)
        if filled:
            topics.delete(filled)
    finally:
        topics = None  # the admin client goes before its broker
        if broker is not None:
            broker.stop()
        shutil.rmtree(pki, ignore_errors=True)

    with open(a.json, "w") as f:
        json.dump([{"role": k[0], "protocol": k[1], "client": k[2], "runs": v} for k, v in results.items()],
                  f, indent=1)

    med, rng = pb.med, pb.fmt_range
    rate = lambda r: r["msgs"] / r["wall"]
    mbs = lambda r: r["bytes"] / r["wall"] / 1e6
    cpum = lambda r: r["cpu"] / r["msgs"] * 1e6
    rss = lambda r: r["rss_kib"] / 1024

    def col(key, fn):
        return [fn(r) for r in results.get(key, [])]

    loads = sorted(r["load"] for v in results.values() for r in v)
    print(f"\nkafkac: {names['kafkac']}; librdkafka: {names['librdkafka']} (confluent-kafka wheel, "
          f"OpenSSL); Apache Kafka 4.3 single node, one partition; {a.count:,} records of {a.size} bytes; "
          f"{a.repeats} runs per configuration, median [min–max]; {os.cpu_count()} CPUs, 1-minute load "
          f"average before the runs {med(loads):.1f} [{loads[0]:.1f}–{loads[-1]:.1f}]\n")
    print("| role | protocol | client | msgs/s | MB/s | CPU s / 1M msgs | CPU vs plaintext | peak RSS MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for role in roles:
        for proto in protos:
            for client in CLIENTS:
                key = (role, proto, client)
                if key not in results:
                    continue
                plain = (role, "plaintext", client)
                vs = ""
                if proto != "plaintext" and plain in results:
                    vs = f"{med(col(key, cpum)) / med(col(plain, cpum)):.2f}x"
                print(f"| {role} | {proto} | {client} | {rng(col(key, rate), lambda x: f'{x:,.0f}')} "
                      f"| {rng(col(key, mbs), lambda x: f'{x:.1f}')} "
                      f"| {rng(col(key, cpum), lambda x: f'{x:.3f}')} | {vs} "
                      f"| {rng(col(key, rss), lambda x: f'{x:.1f}')} |")
            k, l = (role, proto, "kafkac"), (role, proto, "librdkafka")
            if k in results and l in results:
                print(f"| {role} | {proto} | **kafkac / librdkafka** "
                      f"| {med(col(k, rate)) / med(col(l, rate)):.2f}x | "
                      f"| {med(col(k, cpum)) / med(col(l, cpum)):.2f}x | "
                      f"| {med(col(k, rss)) / med(col(l, rss)):.2f}x |")
    print()
    print("CPU seconds by thread (median of runs):\n")
    print("| role | protocol | client | threads |")
    print("|---|---|---|---|")
    for (role, proto, client), runs in results.items():
        groups = {}
        for r in runs:
            g = {}
            for name, s in r["threads"].items():
                g[pb.thread_group(name)] = g.get(pb.thread_group(name), 0) + s
            for name, s in g.items():
                groups.setdefault(name, []).append(s)
        desc = ", ".join(f"{name} {med(v):.2f}" for name, v in
                         sorted(groups.items(), key=lambda x: -med(x[1])) if med(v) >= 0.005)
        print(f"| {role} | {proto} | {client} | {desc} |")


if __name__ == "__main__":
    main()
