#!/usr/bin/env python3
"""Client benchmark: kafkac against librdkafka, in the same run, on the same brokers.

Starts an Apache Kafka node (KRaft, scripts/kafka-single.sh), a Tansu broker (in-memory)
and a one-broker librdkafka mock cluster on 127.0.0.1, then for each broker runs bench/kafkac_bench (kafkac C API: produce in batches through
kc_client_produce, acks=all, then fetch everything back) and bench/rdkafka_bench
(librdkafka: the same records through its producer with batch.num.messages equal to the
batch size, then its partition consumer) on fresh topics, and prints msgs/s, MB/s and client
CPU seconds per million messages and the client's peak RSS, with the ratio kafkac /
librdkafka.

librdkafka comes from two places: Debian's librdkafka 2.0.2 (which Tansu does not accept)
for the mock cluster, and the librdkafka 2.16 bundled in the confluent-kafka wheel for
Apache Kafka and Tansu.

  python3 bench/run.py [--count 1000000] [--size 100] [--batch 1000] [--codec none]
                       [--brokers kafka,tansu,mock] [--baseline DIR] [--repeats 1]

--repeats N runs every client N times on each broker, interleaved (kafkac, baseline,
librdkafka, kafkac, ...), each run on a fresh topic; the table gives each figure's median
and, with N > 1, the range of msgs/s and of CPU.

--baseline DIR also runs the same kafkac benchmark linked against the library of another
checkout (DIR/target/release/libkafkac.a and DIR/include, built first), in the same run on
the same brokers: before/after figures for a change.
"""
import argparse, glob, os, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, limit=30):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


def build_baseline(d):
    d = os.path.abspath(d)
    sh(["cargo", "build", "--release", "--lib", "-q"], cwd=d)
    cc = os.environ.get("CC", "cc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
    out = f"{OUT}/kafkac_bench_baseline"
    sh([cc, *flags, "-I", f"{d}/include", "-o", out, f"{ROOT}/bench/kafkac_bench.c",
        f"{d}/target/release/libkafkac.a", "-Wl,--gc-sections", "-lpthread", "-ldl", "-lm"])
    return out


def build():
    os.makedirs(OUT, exist_ok=True)
    sh(["cargo", "build", "--release", "--lib", "-q"], cwd=ROOT)
    cc = os.environ.get("CC", "cc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
    sh([cc, *flags, "-I", f"{ROOT}/include", "-o", f"{OUT}/kafkac_bench", f"{ROOT}/bench/kafkac_bench.c",
        f"{ROOT}/target/release/libkafkac.a", "-Wl,--gc-sections", "-lpthread", "-ldl", "-lm"])
    sh([cc, *flags, "-o", f"{OUT}/rdkafka_bench_deb", f"{ROOT}/bench/rdkafka_bench.c", "-lrdkafka"])
    bins = {"mock": f"{OUT}/rdkafka_bench_deb"}
    try:
        import confluent_kafka
        libdir = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
        lib = glob.glob(os.path.join(libdir, "librdkafka-*.so*"))[0]
        sh([cc, *flags, "-o", f"{OUT}/rdkafka_bench_wheel", f"{ROOT}/bench/rdkafka_bench.c",
            f"-L{libdir}", f"-l:{os.path.basename(lib)}", f"-Wl,-rpath,{libdir}"])
        bins["tansu"] = f"{OUT}/rdkafka_bench_wheel"
        bins["tansu_version"] = confluent_kafka.libversion()[0]
    except (ImportError, IndexError) as e:
        print(f"note: no bundled librdkafka for Tansu ({e})", file=sys.stderr)
    return bins


def start_tansu():
    cache = os.environ.get("KAFKAC_CACHE", os.path.expanduser("~/.cache/kafkac"))
    tansu = os.environ.get("KAFKAC_TANSU", f"{cache}/tansu-0.6.0/bin/tansu")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    p = subprocess.Popen([tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                          "--storage-engine", "memory://tansu/", "--cluster-id", "kafkac-bench", "--silent"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, f"127.0.0.1:{port}"


def start_kafka():
    import tempfile
    work = tempfile.mkdtemp(prefix="kafkac-bench-kafka-")
    port = free_port()
    env = dict(os.environ)
    # A benchmark broker: the JIT fully on and a heap that does not throttle it.
    env.setdefault("KAFKAC_KAFKA_JVM_OPTS",
                   "-Xms1g -Xmx1g -XX:+UseG1GC -XX:-UsePerfData -Djava.awt.headless=true")
    sh([f"{ROOT}/scripts/kafka-single.sh", work, str(port)], env=env, stdout=subprocess.DEVNULL)
    pid = int(open(os.path.join(work, "pid")).read())

    class Proc:
        def kill(self):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

        def wait(self):
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.05)
            subprocess.run(["rm", "-rf", work])
    return Proc(), f"127.0.0.1:{port}"


def start_mock():
    src = f"{ROOT}/tests/mock/mock_cluster.c"
    binp = f"{OUT}/mock_cluster"
    sh(["cc", "-std=c99", "-O2", "-o", binp, src] +
       subprocess.check_output(["pkg-config", "--cflags", "--libs", "rdkafka"], text=True).split())
    p = subprocess.Popen([binp, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line[0] == "bootstrap", line
    return p, line[1]


def mock_cmd(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    ans = p.stdout.readline().strip()
    assert ans == "ok", ans


def create_topic_tansu(boot, topic):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": boot})
    for f in a.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)


def run(binary, boot, topic, a):
    p = subprocess.Popen([binary, boot, topic, str(a.count), str(a.size), str(a.batch), a.codec],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        p.kill()
        raise SystemExit(f"{binary} timed out")
    if p.returncode != 0:
        raise SystemExit(f"{binary} failed: {err.strip()}")
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 3 or "=" not in f[2]:
            continue
        kv = dict(x.split("=") for x in f[2:])
        res[f[1]] = {k: float(v) for k, v in kv.items()}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--codec", default="none")
    ap.add_argument("--brokers", default="kafka,tansu,mock")
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    bins = build()
    baseline = build_baseline(a.baseline) if a.baseline else None
    rows = []
    io_rows = []
    for broker in a.brokers.split(","):
        if broker == "kafka":
            proc, boot = start_kafka()
            mk = lambda t: create_topic_tansu(boot, t)
            rd = bins.get("tansu")
            rdname = f"librdkafka {bins.get('tansu_version', '?')}"
        elif broker == "tansu":
            proc, boot = start_tansu()
            mk = lambda t: create_topic_tansu(boot, t)
            rd = bins.get("tansu")
            rdname = f"librdkafka {bins.get('tansu_version', '?')}"
        else:
            proc, boot = start_mock()
            mk = lambda t: mock_cmd(proc, f"topic {t} 1 1")
            rd = bins["mock"]
            rdname = "librdkafka 2.0.2"
        try:
            results = {}
            clients = [("kafkac", f"{OUT}/kafkac_bench"), (rdname, rd)]
            if baseline:
                clients.insert(1, ("kafkac-baseline", baseline))
            # Warm the broker up first (a JVM broker runs its first requests in the
            # interpreter), so the first client measured is not the one that pays for it.
            warm = f"bench-warmup-{int(time.time()*1000)}"
            mk(warm)
            warm_args = argparse.Namespace(count=max(a.count // 2, 1000), size=a.size,
                                           batch=a.batch, codec=a.codec)
            run(f"{OUT}/kafkac_bench", boot, warm, warm_args)
            runs = {}
            for _ in range(max(a.repeats, 1)):
                for name, binary in clients:
                    if binary is None:
                        continue
                    topic = f"bench-{name.split()[0]}-{int(time.time()*1000)}"
                    mk(topic)
                    runs.setdefault(name, []).append(run(binary, boot, topic, a))
            for phase in ("produce", "fetch"):
                ks = [r[phase] for r in runs.get("kafkac", []) if "io_cpu" in r.get(phase, {})]
                if ks:
                    io_rows.append([broker, phase, statistics.median(k["cpu"] for k in ks),
                                    statistics.median(k["io_cpu"] for k in ks)])
                meds = {}
                for name, rs in runs.items():
                    ms = [r[phase] for r in rs]
                    rates = [m["msgs"] / m["wall"] for m in ms]
                    cpus = [m["cpu"] / m["msgs"] * 1e6 for m in ms]
                    med = (statistics.median(rates), statistics.median(cpus),
                           statistics.median(m["rss_kib"] for m in ms))
                    meds[name] = med
                    mbs = statistics.median(m["bytes"] / m["wall"] / 1e6 for m in ms)
                    spread = (min(rates), max(rates), min(cpus), max(cpus)) if len(ms) > 1 else None
                    rows.append([broker, phase, name, med[0], mbs, med[1], med[2] / 1024, spread])
                base = next((v for n, v in meds.items() if n.startswith("librdkafka")), None)
                if base and "kafkac" in meds:
                    k = meds["kafkac"]
                    rows.append([broker, phase, "ratio kafkac/librdkafka",
                                 k[0] / base[0], None, k[1] / base[1], k[2] / base[2], None])
                if "kafkac-baseline" in meds and "kafkac" in meds:
                    k, b = meds["kafkac"], meds["kafkac-baseline"]
                    rows.append([broker, phase, "ratio kafkac/baseline",
                                 k[0] / b[0], None, k[1] / b[1], k[2] / b[2], None])
        finally:
            proc.kill()
            proc.wait()
    reps = f", medians of {a.repeats} interleaved runs" if a.repeats > 1 else ""
    print(f"\n{a.count} records of {a.size} bytes, batches of {a.batch}, codec {a.codec}, acks=all{reps}\n")
    for b, ph, cpu_total, io in io_rows:
        print(f"{b:7} {ph:8} kafkac CPU {cpu_total:.3f} s, of which its I/O thread {io:.3f} s")
    print()
    print(f"{'broker':7} {'phase':8} {'client':26} {'msgs/s':>12} {'MB/s':>8} {'CPU s/1M msgs':>14} {'peak RSS MiB':>13}")
    for b, ph, name, rate, mbs, cpu, rss, spread in rows:
        if name.startswith("ratio"):
            print(f"{b:7} {ph:8} {name:26} {rate:11.2f}x {'':>8} {cpu:13.2f}x {rss:12.2f}x")
        else:
            extra = ""
            if spread:
                extra = (f"   msgs/s {spread[0]:,.0f}-{spread[1]:,.0f}, "
                         f"CPU {spread[2]:.3f}-{spread[3]:.3f}")
            print(f"{b:7} {ph:8} {name:26} {rate:12,.0f} {mbs:8.1f} {cpu:14.3f} {rss:13.1f}{extra}")


if __name__ == "__main__":
    main()
