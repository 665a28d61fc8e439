#!/usr/bin/env python3
"""Python throughput: kafkac's Python binding (bindings/python, ctypes over libkafkac.so)
against confluent-kafka (a C extension over librdkafka), in the same run, on the same
broker.

For each client, in a process of its own (so that its CPU time is its own): produce
--count records of --size bytes to a fresh topic (one produce() per record, a delivery
callback counting failures, poll(0) every 1,000 records, flush at the end), then consume
them back in a new group (consume(1000, ...) batches, reading each record's value). One
record is produced and flushed before the producer's clock starts, and the consumer's
clock starts at its first record, so connections, metadata and the group join are not
counted. Both clients run at their defaults (acks=all, linger.ms=5).

Prints msgs/s, MB/s, CPU seconds (user + system, every thread of the process), CPU per
million records and peak RSS, and the ratio kafkac / confluent-kafka.

  python3 bench/python_bench.py [--count 1000000] [--size 100] [--partitions 1]
                                [--repeats 1] [--bootstrap HOST:PORT]

Without --bootstrap, one Apache Kafka node is started (scripts/kafka-single.sh, 1 GiB G1
heap, as bench/producer.py does) and stopped at the end. The library is $KAFKAC_LIB, else
target/release/libkafkac.so (built with `cargo build --release --lib` when missing).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLIENTS = ("kafkac", "confluent-kafka")


def peak_rss_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def client_module(name):
    if name == "kafkac":
        sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
        import kafkac as mod
    else:
        import confluent_kafka as mod
    return mod


# ---------------------------------------------------------------------------
# Workers (one process each)
# ---------------------------------------------------------------------------


def work_produce(mod, boot, topic, count, size):
    failed = [0]

    def report(err, msg):
        if err is not None:
            failed[0] += 1

    p = mod.Producer({"bootstrap.servers": boot, "enable.idempotence": True})
    payload = bytes((i * 7 + 13) & 0xFF for i in range(size))
    p.produce(topic, b"warm-up", on_delivery=report)
    if p.flush(30) != 0:
        raise SystemExit("warm-up record not delivered")
    produce, poll = p.produce, p.poll
    c0, t0 = cpu_s(), time.perf_counter()
    for i in range(count):
        while True:
            try:
                produce(topic, payload, on_delivery=report)
                break
            except BufferError:
                poll(0.05)
        if i % 1000 == 999:
            poll(0)
    left = p.flush(120)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    if left or failed[0]:
        raise SystemExit(f"{left} records not reported, {failed[0]} failed")
    return {"msgs": count, "bytes": count * size, "wall": wall, "cpu": cpu}


def work_consume(mod, boot, topic, count, size):
    c = mod.Consumer({"bootstrap.servers": boot, "group.id": f"pybench-{uuid.uuid4().hex[:8]}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": True})
    c.subscribe([topic])
    # The warm-up record first: the clock starts once the group is joined and records flow.
    deadline = time.monotonic() + 60
    while True:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            break
        if time.monotonic() > deadline:
            raise SystemExit("no first record within 60 s")
    got = nbytes = 0
    consume = c.consume
    c0, t0 = cpu_s(), time.perf_counter()
    last = time.monotonic()
    while got < count:
        msgs = consume(1000, 1.0)
        if not msgs:
            if time.monotonic() - last > 30:
                raise SystemExit(f"stalled at {got} of {count} records")
            continue
        last = time.monotonic()
        for m in msgs:
            if m.error() is not None:
                continue
            nbytes += len(m.value())
            got += 1
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    c.close()
    if nbytes != count * size:
        raise SystemExit(f"read {nbytes} bytes, want {count * size}")
    return {"msgs": got, "bytes": nbytes, "wall": wall, "cpu": cpu}


def die_with_parent():
    """Linux: the worker gets SIGKILL when the driver dies (a driver killed at a time
    limit leaves no worker behind)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker(args):
    die_with_parent()
    mod = client_module(args.worker)
    fn = work_produce if args.role == "produce" else work_consume
    res = fn(mod, args.bootstrap, args.topic, args.count, args.size)
    res["rss_kib"] = peak_rss_kib()
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def library():
    lib = os.environ.get("KAFKAC_LIB")
    if lib:
        return lib
    lib = os.path.join(ROOT, "target", "release", "libkafkac.so")
    if not os.path.exists(lib):
        subprocess.run(["cargo", "build", "--release", "--lib", "-q"], cwd=ROOT, check=True)
    return lib


def run_worker(client, role, boot, topic, count, size, lib):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", client, "--role", role,
           "--bootstrap", boot, "--topic", topic, "--count", str(count), "--size", str(size)]
    env = dict(os.environ, KAFKAC_LIB=lib)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"{client} {role} failed ({p.returncode}):\n{p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--bootstrap")
    ap.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    ap.add_argument("--role", choices=("produce", "consume"), help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    lib = library()
    broker = None
    boot = args.bootstrap
    if not boot:
        sys.path.insert(0, HERE)
        import producer as pbench  # bench/producer.py: its Broker starts and stops a node

        broker = pbench.Broker()
        boot = broker.boot
    os.environ["KAFKAC_LIB"] = lib
    kafkac = client_module("kafkac")
    admin = kafkac.AdminClient({"bootstrap.servers": boot})
    results = {(c, r): [] for c in CLIENTS for r in ("produce", "consume")}
    topics = []
    try:
        for rep in range(args.repeats):
            order = CLIENTS if rep % 2 == 0 else tuple(reversed(CLIENTS))
            for client in order:
                topic = f"pybench-{client}-{uuid.uuid4().hex[:8]}"
                admin.create_topic(topic, args.partitions, 1, {"file.delete.delay.ms": "1000"})
                topics.append(topic)
                _wait_topic(kafkac, admin, topic, args.partitions)
                for role in ("produce", "consume"):
                    res = run_worker(client, role, boot, topic, args.count, args.size, lib)
                    results[(client, role)].append(res)
                    print(f"result client={client} role={role} msgs={res['msgs']} "
                          f"bytes={res['bytes']} wall={res['wall']:.3f} cpu={res['cpu']:.3f} "
                          f"msgs_per_s={res['msgs'] / res['wall']:.0f} rss_kib={res['rss_kib']}",
                          flush=True)
                admin.delete_topic(topic)
                topics.remove(topic)
    finally:
        for t in topics:
            try:
                admin.delete_topic(t)
            except kafkac.KafkaException:
                pass
        admin.close()
        if broker is not None:
            broker.stop()
    report(results, args)


def _wait_topic(kafkac, admin, topic, partitions):
    deadline = time.monotonic() + 30
    while True:
        try:
            admin.list_offset(topic, partitions - 1, kafkac.OFFSET_LATEST, timeout=5)
            return
        except kafkac.KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def report(results, args):
    med = statistics.median
    print()
    print(f"{args.count:,} records of {args.size} bytes, {args.partitions} partition(s), "
          f"{args.repeats} run(s) (medians)")
    print()
    print("| role | client | msgs/s | MB/s | CPU s | CPU s / 1M msgs | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for role in ("produce", "consume"):
        for client in CLIENTS:
            rs = results[(client, role)]
            rate = med([r["msgs"] / r["wall"] for r in rs])
            mbs = med([r["bytes"] / r["wall"] / 1e6 for r in rs])
            cpu = med([r["cpu"] for r in rs])
            per_m = med([r["cpu"] / r["msgs"] * 1e6 for r in rs])
            rss = med([r["rss_kib"] / 1024 for r in rs])
            print(f"| {role} | {client} | {rate:,.0f} | {mbs:.1f} | {cpu:.2f} | {per_m:.2f} | {rss:.0f} |")
    print()
    for role in ("produce", "consume"):
        k = results[("kafkac", role)]
        c = results[("confluent-kafka", role)]
        rate = med([r["msgs"] / r["wall"] for r in k]) / med([r["msgs"] / r["wall"] for r in c])
        cpu = med([r["cpu"] for r in k]) / med([r["cpu"] for r in c])
        print(f"{role}: kafkac / confluent-kafka: throughput x{rate:.2f}, CPU x{cpu:.2f}")


if __name__ == "__main__":
    main()
