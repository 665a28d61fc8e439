#!/usr/bin/env python3
"""Producer benchmark: kafkac's asynchronous producer against librdkafka's, in the same
run, on the same broker.

Builds bench/producer_bench.c (kafkac, kc_producer_*) and bench/rdkafka_producer_bench.c
(librdkafka 2.x from the confluent-kafka wheel), starts one Apache Kafka node
(scripts/kafka-single.sh, 1 GiB G1 heap) and runs, on a fresh topic per run, with
acks=all and enable.idempotence=true for both clients, one rd_kafka_producev /
kc_producer_send per message, keyless (the partitioner chooses):

  throughput  --count messages of --size bytes to 1 and 16 partitions: kafkac at its
              defaults (linger.ms=5) and at linger.ms=1000; librdkafka at its defaults
              (linger.ms=5) and at rdkafka_performance's linger.ms=1000.
  latency     --lat-count messages at a fixed --lat-rate msgs/s, linger.ms 0 and 5, both
              clients: send-to-delivery-report p50/p99/p99.9/max.
  codecs      the throughput run at default linger to 1 partition with
              compression.type none, lz4 and zstd, on payloads cut from a text that
              does not repeat between messages: client CPU with the codec minus
              without.

Configurations are interleaved (each repeat runs them all, in a rotated order) and
repeated --repeats times; the tables give medians with [min-max] ranges. The broker (and a
client still running) is stopped on exit, on error and on SIGINT/SIGTERM/SIGHUP.

  python3 bench/producer.py [--repeats 3] [--count 1000000] [--size 100]
                            [--lat-count 100000] [--lat-rate 10000]
                            [--partitions 1,16] [--lat-partitions 1,16]
                            [--codecs lz4,zstd] [--parts throughput,latency,codecs]
                            [--kafkac DIR] [--json FILE]

--kafkac DIR builds and measures the kafkac of another checkout (DIR/target/release,
DIR/include) instead of this one.
"""
import argparse, glob, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as common  # noqa: E402  (bench/run.py: sh, free_port, ROOT, OUT)

ROOT = common.ROOT
OUT = common.OUT
FLAGS = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror"]


def build(kafkac_dir):
    os.makedirs(OUT, exist_ok=True)
    common.sh(["cargo", "build", "--release", "--lib", "-q"], cwd=kafkac_dir)
    cc = os.environ.get("CC", "cc")
    kc = f"{OUT}/producer_bench"
    common.sh([cc, *FLAGS, "-I", f"{kafkac_dir}/include", "-o", kc, f"{HERE}/producer_bench.c",
               f"{kafkac_dir}/target/release/libkafkac.a", "-Wl,--gc-sections", "-lpthread", "-ldl", "-lm"])
    import confluent_kafka
    libdir = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    libs = glob.glob(os.path.join(libdir, "librdkafka-*.so*"))
    if not libs:
        raise SystemExit(f"no librdkafka in {libdir}")
    rd = f"{OUT}/rdkafka_producer_bench"
    common.sh([cc, *FLAGS, "-o", rd, f"{HERE}/rdkafka_producer_bench.c",
               f"-L{libdir}", f"-l:{os.path.basename(libs[0])}", f"-Wl,-rpath,{libdir}", "-lpthread"])
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=kafkac_dir,
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = ""
    return {"kafkac": kc, "librdkafka": rd}, rev or "?", confluent_kafka.libversion()[0]


class Broker:
    """One Apache Kafka node, as bench/run.py starts it, stopped by stop() (idempotent)."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="kafkac-pbench-kafka-")
        self.pid = None
        port = common.free_port()
        env = dict(os.environ)
        env.setdefault("KAFKAC_KAFKA_JVM_OPTS",
                       "-Xms1g -Xmx1g -XX:+UseG1GC -XX:-UsePerfData -Djava.awt.headless=true")
        # Its own process group, so that an interrupted start-up (the storage format's JVM,
        # the node's) can be killed whole.
        starter = subprocess.Popen([f"{ROOT}/scripts/kafka-single.sh", self.work, str(port)], env=env,
                                   stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            if starter.wait() != 0:
                raise SystemExit("the Kafka node did not start")
        except BaseException:
            try:
                os.killpg(starter.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            starter.wait()
            self.stop()
            raise
        self._read_pid()
        self.boot = f"127.0.0.1:{port}"

    def _read_pid(self):
        if not self.work:
            return
        try:
            self.pid = int(open(os.path.join(self.work, "pid")).read())
        except (OSError, ValueError):
            self.pid = None

    def stop(self):
        if self.pid is None:
            self._read_pid()
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not os.path.exists(f"/proc/{self.pid}"):
                    break
                time.sleep(0.05)
            self.pid = None
        if self.work:
            subprocess.run(["rm", "-rf", self.work])
            self.work = None


class Topics:
    def __init__(self, boot):
        from confluent_kafka.admin import AdminClient
        self.admin = AdminClient({"bootstrap.servers": boot})
        self.n = 0

    def create(self, partitions):
        from confluent_kafka.admin import NewTopic
        self.n += 1
        name = f"pbench-{partitions}p-{self.n}-{int(time.time() * 1000)}"
        # Deleted after its run: its files go a second later, not Kafka's default minute,
        # so that a long run does not fill the disk.
        t = NewTopic(name, partitions, 1, config={"file.delete.delay.ms": "1000"})
        for f in self.admin.create_topics([t]).values():
            f.result(60)
        return name

    def delete(self, name):
        for f in self.admin.delete_topics([name]).values():
            try:
                f.result(60)
            except Exception as e:  # a leftover topic is not worth failing the run
                print(f"note: deleting {name}: {e}", file=sys.stderr)


def run_one(binary, boot, topic, count, size, partitions, mode, props, extra=()):
    cmd = [binary, boot, topic, str(count), str(size), str(partitions), mode, *extra]
    for k, v in props.items():
        cmd += ["-X", f"{k}={v}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise SystemExit(f"timed out: {' '.join(cmd)}")
    except BaseException:  # a signal: the client goes too
        p.kill()
        p.wait()
        raise
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.strip()}")
    res = {"threads": {}}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        kv = {}
        for x in f[2:]:
            if "=" in x:
                k, v = x.split("=", 1)
                kv[k] = float(v)
        if f[1] == "threads":
            res["threads"] = kv
        elif f[1] == mode:
            res.update(kv)
    if "msgs" not in res:
        raise SystemExit(f"no result from {' '.join(cmd)}:\n{out}\n{err}")
    return res


def thread_group(name):
    """Threads summed by kind: kc-io-0/kc-io-1 -> kc-io, rdk:broker1 -> rdk:broker."""
    base = name.rstrip("0123456789-")
    if base.startswith("rdk:broker"):
        return "rdk:broker"
    if base in ("producer_bench", "rdkafka_produce"):
        return "app"
    return base


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_range(xs, f):
    if not xs:
        return "-"
    if len(xs) == 1:
        return f(xs[0])
    return f"{f(med(xs))} [{f(min(xs))}–{f(max(xs))}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--lat-count", type=int, default=100_000)
    ap.add_argument("--lat-rate", type=int, default=10_000)
    ap.add_argument("--partitions", default="1,16")
    ap.add_argument("--lat-partitions", default="1,16")
    ap.add_argument("--codecs", default="lz4,zstd")
    ap.add_argument("--txn-sizes", default="1000",
                    help="messages per transaction in the txn part (comma-separated)")
    ap.add_argument("--parts", default="throughput,latency,codecs",
                    help="any of throughput,latency,codecs,txn")
    ap.add_argument("--kafkac", default=ROOT, help="checkout whose kafkac is measured")
    ap.add_argument("--json", default=f"{OUT}/producer-results.json", help="raw results")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    bins, rev, rdver = build(os.path.abspath(a.kafkac))
    names = {"kafkac": f"kafkac {rev}", "librdkafka": f"librdkafka {rdver}"}
    base = {"acks": "all", "enable.idempotence": "true"}

    # (part, client, partitions, label, props, mode, extra args)
    configs = []
    if "throughput" in parts:
        for n in map(int, a.partitions.split(",")):
            for client in ("kafkac", "librdkafka"):
                configs.append(("throughput", client, n, "linger.ms=5 (default)", dict(base), "throughput", ()))
                configs.append(("throughput", client, n, "linger.ms=1000", dict(base, **{"linger.ms": "1000"}),
                                "throughput", ()))
    if "codecs" in parts:
        # Text that does not repeat from one message to the next (-p text): with the
        # same payload in every message a batch compresses to almost nothing, which
        # flatters the codec.
        for codec in ["none"] + [c for c in a.codecs.split(",") if c]:
            for client in ("kafkac", "librdkafka"):
                configs.append(("codecs", client, 1, codec, dict(base, **{"compression.type": codec}),
                                "throughput", ("-p", "text")))
    if "txn" in parts:
        # Transactions of N messages (begin, sends, commit), acks=all.
        for size in a.txn_sizes.split(","):
            for client in ("kafkac", "librdkafka"):
                configs.append(("txn", client, 1, f"{size} per transaction",
                                dict(base, **{"transactional.id": f"bench-{client}-{size}"}), "txn",
                                ("-r", size)))
    if "latency" in parts:
        for n in map(int, a.lat_partitions.split(",")):
            for client in ("kafkac", "librdkafka"):
                for linger in ("0", "5"):
                    configs.append(("latency", client, n, f"linger.ms={linger}", dict(base, **{"linger.ms": linger}),
                                    "latency", ("-r", str(a.lat_rate))))

    broker = topics = None

    def on_term(signum, frame):
        raise SystemExit(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:  # not under nohup
        signal.signal(signal.SIGHUP, on_term)
    results = {}
    try:
        broker = Broker()
        topics = Topics(broker.boot)
        # Warm the broker up (its JIT) before anything is measured.
        t = topics.create(1)
        run_one(bins["kafkac"], broker.boot, t, a.count // 2, a.size, 1, "throughput", base)
        run_one(bins["librdkafka"], broker.boot, t, a.count // 2, a.size, 1, "throughput", base)
        if "txn" in parts:
            # The broker's transaction path (coordinator, markers) takes a few thousand
            # transactions to reach its speed (its first 300 take 3 times as long as
            # later ones): each client runs twice before anything is measured.
            for client in ("kafkac", "librdkafka") * 2:
                run_one(bins[client], broker.boot, t, a.count, a.size, 1, "txn",
                        dict(base, **{"transactional.id": f"bench-warm-{client}"}), ("-r", "1000"))
        topics.delete(t)
        total = len(configs) * a.repeats
        done = 0
        for rep in range(a.repeats):
            # Rotate the order so that no configuration always runs in the same slot.
            k = (rep * len(configs)) // max(a.repeats, 1)
            for cfg in configs[k:] + configs[:k]:
                part, client, n, label, props, mode, extra = cfg
                count = a.lat_count if mode == "latency" else a.count
                free = shutil.disk_usage(tempfile.gettempdir()).free
                if free < 2 << 30:
                    raise SystemExit(f"only {free >> 20} MiB free in {tempfile.gettempdir()}: stopping "
                                     f"before the broker runs out of disk")
                load = os.getloadavg()[0]
                topic = topics.create(n)
                try:
                    r = run_one(bins[client], broker.boot, topic, count, a.size, n, mode, props, extra)
                finally:
                    topics.delete(topic)
                done += 1
                r["load"] = load
                key = (part, client, n, label)
                results.setdefault(key, []).append(r)
                if mode == "latency":
                    brief = f"p50 {r['p50_us']:.0f} us p99 {r['p99_us']:.0f} us"
                else:
                    brief = (f"{r['msgs'] / r['wall']:,.0f} msgs/s cpu {r['cpu']:.2f} s "
                             f"qfull {int(r.get('qfull', 0))}")
                print(f"[{done}/{total}] {part:10} {client:10} {n:2}p {label:22} {brief}",
                      file=sys.stderr, flush=True)
    finally:
        topics = None  # the admin client goes before its broker
        if broker is not None:
            broker.stop()

    with open(a.json, "w") as f:
        json.dump([{"part": k[0], "client": k[1], "partitions": k[2], "config": k[3], "runs": v}
                   for k, v in results.items()], f, indent=1)

    def col(key, fn):
        return [fn(r) for r in results.get(key, [])]

    rate = lambda r: r["msgs"] / r["wall"]
    mbs = lambda r: r["bytes"] / r["wall"] / 1e6
    cpum = lambda r: r["cpu"] / r["msgs"] * 1e6
    rss = lambda r: r["rss_kib"] / 1024

    loads = sorted(r["load"] for v in results.values() for r in v)
    print(f"\nkafkac: {names['kafkac']}; librdkafka: {names['librdkafka']} (confluent-kafka wheel); "
          f"Apache Kafka 4.3 single node; acks=all, enable.idempotence=true, keyless, "
          f"{a.size}-byte messages; {a.repeats} runs per configuration, "
          f"median [min–max]; {os.cpu_count()} CPUs, 1-minute load average before the runs "
          f"{med(loads):.1f} [{loads[0]:.1f}–{loads[-1]:.1f}]\n")
    if "txn" in parts:
        print(f"### Transactions: {a.count:,} messages in transactions (begin, sends, commit)\n")
        print("| per transaction | client | msgs/s | MB/s | CPU s / 1M msgs | peak RSS MiB |")
        print("|---:|---|---:|---:|---:|---:|")
        for size in a.txn_sizes.split(","):
            label = f"{size} per transaction"
            for client in ("kafkac", "librdkafka"):
                key = ("txn", client, 1, label)
                if key in results:
                    print(f"| {size} | {client} | {fmt_range(col(key, rate), lambda x: f'{x:,.0f}')} "
                          f"| {fmt_range(col(key, mbs), lambda x: f'{x:.1f}')} "
                          f"| {fmt_range(col(key, cpum), lambda x: f'{x:.3f}')} "
                          f"| {fmt_range(col(key, rss), lambda x: f'{x:.1f}')} |")
            k, l = ("txn", "kafkac", 1, label), ("txn", "librdkafka", 1, label)
            if k in results and l in results:
                print(f"| {size} | **kafkac / librdkafka** | {med(col(k, rate)) / med(col(l, rate)):.2f}x | "
                      f"| {med(col(k, cpum)) / med(col(l, cpum)):.2f}x "
                      f"| {med(col(k, rss)) / med(col(l, rss)):.2f}x |")
        print()
    if "throughput" in parts:
        print(f"### Throughput: {a.count:,} messages, one send call per message\n")
        print("| partitions | client | config | msgs/s | MB/s | CPU s / 1M msgs | peak RSS MiB | QUEUE_FULL retries |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        for n in map(int, a.partitions.split(",")):
            for label in ("linger.ms=5 (default)", "linger.ms=1000"):
                for client in ("kafkac", "librdkafka"):
                    key = ("throughput", client, n, label)
                    if key not in results:
                        continue
                    print(f"| {n} | {client} | {label} | {fmt_range(col(key, rate), lambda x: f'{x:,.0f}')} "
                          f"| {fmt_range(col(key, mbs), lambda x: f'{x:.1f}')} "
                          f"| {fmt_range(col(key, cpum), lambda x: f'{x:.3f}')} "
                          f"| {fmt_range(col(key, rss), lambda x: f'{x:.1f}')} "
                          f"| {fmt_range(col(key, lambda r: r.get('qfull', 0)), lambda x: f'{x:,.0f}')} |")
                k, l = ("throughput", "kafkac", n, label), ("throughput", "librdkafka", n, label)
                if k in results and l in results:
                    print(f"| {n} | **kafkac / librdkafka** | {label} "
                          f"| {med(col(k, rate)) / med(col(l, rate)):.2f}x | "
                          f"| {med(col(k, cpum)) / med(col(l, cpum)):.2f}x "
                          f"| {med(col(k, rss)) / med(col(l, rss)):.2f}x | |")
            # kafkac at linger 5 against librdkafka at rdkafka_performance's linger 1000.
            k = ("throughput", "kafkac", n, "linger.ms=5 (default)")
            l = ("throughput", "librdkafka", n, "linger.ms=1000")
            if k in results and l in results:
                print(f"| {n} | **kafkac (5) / librdkafka (1000)** | defaults vs rdkafka_performance "
                      f"| {med(col(k, rate)) / med(col(l, rate)):.2f}x | "
                      f"| {med(col(k, cpum)) / med(col(l, cpum)):.2f}x "
                      f"| {med(col(k, rss)) / med(col(l, rss)):.2f}x | |")
        print()
        print("CPU seconds by thread (median of runs; app = the thread calling send/poll/flush, "
              "includes the process start):\n")
        print("| partitions | client | config | threads |")
        print("|---:|---|---|---|")
        for n in map(int, a.partitions.split(",")):
            for label in ("linger.ms=5 (default)", "linger.ms=1000"):
                for client in ("kafkac", "librdkafka"):
                    key = ("throughput", client, n, label)
                    if key not in results:
                        continue
                    groups = {}
                    for r in results[key]:
                        g = {}
                        for name, s in r["threads"].items():
                            g[thread_group(name)] = g.get(thread_group(name), 0) + s
                        for name, s in g.items():
                            groups.setdefault(name, []).append(s)
                    desc = ", ".join(f"{name} {med(v):.2f}" for name, v in
                                     sorted(groups.items(), key=lambda x: -med(x[1])) if med(v) >= 0.005)
                    print(f"| {n} | {client} | {label} | {desc} |")
        print()
    if "latency" in parts:
        print(f"### Latency: {a.lat_count:,} messages at {a.lat_rate:,} msgs/s, send to delivery report "
              f"(reports served by a thread blocked in poll), microseconds\n")
        print("| partitions | client | config | p50 | p99 | p99.9 | max | CPU s / 1M msgs |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        us = lambda x: f"{x:,.0f}"
        for n in map(int, a.lat_partitions.split(",")):
            for label in ("linger.ms=0", "linger.ms=5"):
                for client in ("kafkac", "librdkafka"):
                    key = ("latency", client, n, label)
                    if key not in results:
                        continue
                    late = sum(r.get("late", 0) for r in results[key])
                    note = f" ({late:.0f} sends >1 ms late)" if late else ""
                    print(f"| {n} | {client} | {label}{note} | {fmt_range(col(key, lambda r: r['p50_us']), us)} "
                          f"| {fmt_range(col(key, lambda r: r['p99_us']), us)} "
                          f"| {fmt_range(col(key, lambda r: r['p999_us']), us)} "
                          f"| {fmt_range(col(key, lambda r: r['max_us']), us)} "
                          f"| {fmt_range(col(key, cpum), lambda x: f'{x:.3f}')} |")
        print()
    if "codecs" in parts:
        print(f"### Codecs: {a.count:,} messages to 1 partition, default linger, payloads cut from "
              f"a text of words that does not repeat between messages\n")
        print("| codec | client | msgs/s | CPU s / 1M msgs | codec CPU s / 1M msgs (minus none) |")
        print("|---|---|---:|---:|---:|")
        for codec in ["none"] + [c for c in a.codecs.split(",") if c]:
            for client in ("kafkac", "librdkafka"):
                key = ("codecs", client, 1, codec)
                nonekey = ("codecs", client, 1, "none")
                if key not in results or nonekey not in results:
                    continue
                extra = med(col(key, cpum)) - med(col(nonekey, cpum))
                print(f"| {codec} | {client} | {fmt_range(col(key, rate), lambda x: f'{x:,.0f}')} "
                      f"| {fmt_range(col(key, cpum), lambda x: f'{x:.3f}')} "
                      f"| {'' if codec == 'none' else f'{extra:+.3f}'} |")
        print()


if __name__ == "__main__":
    main()
