#!/usr/bin/env python3
"""Consumer benchmark: kafkac's group consumer against librdkafka's high-level consumer,
in the same run, on the same broker and the same topics.

Builds bench/consumer_bench.c (kafkac, kc_consumer_*) and bench/rdkafka_consumer_bench.c
(librdkafka 2.x from the confluent-kafka wheel), starts one Apache Kafka node
(scripts/kafka-single.sh, 1 GiB G1 heap), fills one topic per configuration with
kafkac's producer (bench/producer_bench.c, --size-byte records of text that does not
repeat), and runs both consumers on it, each in a new group from the earliest offset:

  throughput  --count records from 1 and 16 partitions, uncompressed and zstd: msgs/s,
              MB/s, client CPU seconds per million records and peak RSS, from the first
              record to the last (the group join is reported apart).
  latency     --lat-count records produced at --lat-rate a second (linger.ms=0) while the
              consumer polls: produce-to-poll p50/p99/p99.9/max.

Both clients run at their defaults apart from group.id and auto.offset.reset=earliest.
Configurations are interleaved and repeated --repeats times; the tables give medians
with [min-max] ranges. The broker is stopped on exit, on error and on a signal.

  python3 bench/consumer.py [--repeats 3] [--count 1000000] [--size 100]
                            [--partitions 1,16] [--codecs none,zstd]
                            [--lat-count 50000] [--lat-rate 10000]
                            [--parts throughput,latency] [--kafkac-x prop=value]...
                            [--json FILE]
"""
import argparse, glob, json, os, signal, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as common  # noqa: E402
import producer as pb  # noqa: E402  (Broker, Topics)

ROOT = common.ROOT
OUT = common.OUT
FLAGS = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror"]


def build():
    os.makedirs(OUT, exist_ok=True)
    common.sh(["cargo", "build", "--release", "--lib", "-q"], cwd=ROOT)
    cc = os.environ.get("CC", "cc")
    lib = f"{ROOT}/target/release/libkafkac.a"
    out = {}
    for name, src in (("kafkac", "consumer_bench.c"), ("fill", "producer_bench.c")):
        out[name] = f"{OUT}/{src[:-2]}"
        common.sh([cc, *FLAGS, "-I", f"{ROOT}/include", "-o", out[name], f"{HERE}/{src}", lib,
                   "-Wl,--gc-sections", "-lpthread", "-ldl", "-lm"])
    import confluent_kafka
    libdir = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    libs = glob.glob(os.path.join(libdir, "librdkafka-*.so*"))
    if not libs:
        raise SystemExit(f"no librdkafka in {libdir}")
    out["librdkafka"] = f"{OUT}/rdkafka_consumer_bench"
    common.sh([cc, *FLAGS, "-o", out["librdkafka"], f"{HERE}/rdkafka_consumer_bench.c",
               f"-L{libdir}", f"-l:{os.path.basename(libs[0])}", f"-Wl,-rpath,{libdir}", "-lpthread"])
    return out, confluent_kafka.libversion()[0]


def run(cmd, timeout=900):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise SystemExit(f"timed out: {' '.join(cmd)}")
    except BaseException:
        p.kill()
        p.wait()
        raise
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.strip()}")
    return out


def parse(out, mode):
    res = {"threads": {}}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        kv = {k: float(v) for k, v in (x.split("=", 1) for x in f[2:] if "=" in x)}
        if f[1] == "threads":
            res["threads"] = kv
        elif f[1] == mode:
            res.update(kv)
    if "msgs" not in res:
        raise SystemExit(f"no {mode} result in:\n{out}")
    return res


def fill(binary, boot, topic, count, size, partitions, codec):
    run([binary, boot, topic, str(count), str(size), str(partitions), "throughput", "-p", "text",
         "-X", f"compression.type={codec}", "-X", "linger.ms=20"])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def rng(xs, f):
    if not xs:
        return "-"
    return f.format(med(xs)) + (f" [{f.format(min(xs))}-{f.format(max(xs))}]" if len(xs) > 1 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--partitions", default="1,16")
    ap.add_argument("--codecs", default="none,zstd")
    ap.add_argument("--lat-count", type=int, default=50_000)
    ap.add_argument("--lat-rate", type=int, default=10_000)
    ap.add_argument("--parts", default="throughput,latency")
    ap.add_argument("--kafkac-x", action="append", default=[],
                    help="a kafkac property for the consumer (prop=value), repeatable")
    ap.add_argument("--json")
    a = ap.parse_args()
    bins, rdver = build()
    broker = pb.Broker()

    def on_signal(sig, _frame):
        broker.stop()
        sys.exit(128 + sig)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    results = {"librdkafka": rdver, "throughput": {}, "latency": {}}
    try:
        topics = pb.Topics(broker.boot)
        parts = a.parts.split(",")
        if "throughput" in parts:
            confs = [(int(p), c) for p in a.partitions.split(",") for c in a.codecs.split(",")]
            filled = {}
            for conf in confs:
                t = topics.create(conf[0])
                fill(bins["fill"], broker.boot, t, a.count, a.size, conf[0], conf[1])
                filled[conf] = t
            for r in range(a.repeats):
                order = [(conf, client) for conf in confs for client in ("kafkac", "librdkafka")]
                order = order[r % len(order):] + order[:r % len(order)]
                for conf, client in order:
                    extra = [x for p in a.kafkac_x for x in ("-X", p)] if client == "kafkac" else []
                    out = run([bins[client], broker.boot, filled[conf], str(a.count), "throughput", *extra])
                    res = parse(out, "throughput")
                    key = f"{conf[0]}p {conf[1]}"
                    results["throughput"].setdefault(key, {}).setdefault(client, []).append(res)
                    print(f"{key:12} {client:10} {res['msgs'] / res['wall']:>12,.0f} msgs/s "
                          f"cpu {res['cpu']:.3f} s rss {res['rss_kib'] / 1024:.1f} MiB "
                          f"join {res['join']:.2f} s", file=sys.stderr)
            for t in filled.values():
                topics.delete(t)
        if "latency" in parts:
            for r in range(a.repeats):
                for client in ("kafkac", "librdkafka") if r % 2 == 0 else ("librdkafka", "kafkac"):
                    t = topics.create(1)
                    out = run([bins[client], broker.boot, t, str(a.lat_count), "latency",
                               "-r", str(a.lat_rate)])
                    res = parse(out, "latency")
                    results["latency"].setdefault(client, []).append(res)
                    print(f"latency {client:10} p50 {res['p50_us']:.0f} us p99 {res['p99_us']:.0f} us "
                          f"p99.9 {res['p999_us']:.0f} us max {res['max_us']:.0f} us", file=sys.stderr)
                    topics.delete(t)
    finally:
        broker.stop()

    print(f"\nlibrdkafka {rdver}; {a.repeats} repeats; medians [min-max]\n")
    if results["throughput"]:
        print("| topic | client | msgs/s | MB/s | CPU s / 1M | peak RSS MiB | ratio msgs/s | ratio CPU | ratio RSS |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for key, by in results["throughput"].items():
            def col(client, f):
                return [f(x) for x in by.get(client, [])]
            rate = {c: col(c, lambda x: x["msgs"] / x["wall"]) for c in by}
            mbs = {c: col(c, lambda x: x["bytes"] / x["wall"] / 1e6) for c in by}
            cpu = {c: col(c, lambda x: x["cpu"] / x["msgs"] * 1e6) for c in by}
            rss = {c: col(c, lambda x: x["rss_kib"] / 1024) for c in by}
            for c in ("kafkac", "librdkafka"):
                ratio = ("", "", "")
                if c == "kafkac" and "librdkafka" in by:
                    ratio = (f"{med(rate[c]) / med(rate['librdkafka']):.2f}",
                             f"{med(cpu[c]) / med(cpu['librdkafka']):.2f}",
                             f"{med(rss[c]) / med(rss['librdkafka']):.2f}")
                print(f"| {key} | {c} | {rng(rate[c], '{:,.0f}')} | {rng(mbs[c], '{:.1f}')} | "
                      f"{rng(cpu[c], '{:.3f}')} | {rng(rss[c], '{:.1f}')} | {ratio[0]} | {ratio[1]} | {ratio[2]} |")
    if results["latency"]:
        print(f"\n| latency at {a.lat_rate} msgs/s | p50 us | p99 us | p99.9 us | max us |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for c, rs in results["latency"].items():
            print(f"| {c} | {rng([x['p50_us'] for x in rs], '{:.0f}')} | {rng([x['p99_us'] for x in rs], '{:.0f}')} | "
                  f"{rng([x['p999_us'] for x in rs], '{:.0f}')} | {rng([x['max_us'] for x in rs], '{:.0f}')} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
