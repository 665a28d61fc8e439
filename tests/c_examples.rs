//! The C examples in examples-c/, built with `-std=c99 -Wall -Wextra -Wpedantic -Werror`
//! under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer, linked
//! against the static libkafkac, and run against Apache Kafka: a single-node cluster
//! shared by the test binary and a three-node one. Every run must be free of sanitizer
//! reports.

mod clib;
mod common;

use clib::Link;
use common::kafka::{self, KafkaCluster, KAFKA_START_TIMEOUT};
use common::with_timeout;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const EXAMPLES: [&str; 7] = [
    "metadata",
    "create_topic",
    "produce",
    "fetch",
    "offsets",
    "producer",
    "consumer",
];

/// Longest any one example may run.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Bound on each test once the examples are built and its cluster runs.
const LIMIT: Duration = Duration::from_secs(120);
/// Bound on building the library (`cargo build --lib`) and the examples.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Bound on starting a cluster: formatting the metadata directory (one JVM) and starting
/// the nodes, each bounded by the rig's own limit.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// How long a topic created a moment ago may take to appear, with a leader for every
/// partition, in the broker's metadata (KRaft brokers apply the controller's records
/// asynchronously).
const TOPIC_VISIBLE: Duration = Duration::from_secs(15);
/// Timeout of the calls the tests make through the Rust API.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

const CFLAGS: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-g",
];

/// Builds every example once per test binary (in parallel) into
/// `target/testbin/c/examples/` and returns that directory.
fn examples() -> &'static PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = clib::bin_dir().join("examples");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        clib::library();
        let builds: Vec<_> = EXAMPLES
            .iter()
            .map(|name| {
                let src = clib::manifest_dir().join(format!("examples-c/{name}.c"));
                let out = dir.join(name);
                thread::spawn(move || {
                    clib::compile(&clib::cc(), &src, CFLAGS, Some(Link::Static), &out)
                })
            })
            .collect();
        let errors: Vec<String> = builds
            .into_iter()
            .filter_map(|b| b.join().expect("build thread").err())
            .collect();
        if errors.is_empty() {
            Ok(dir)
        } else {
            Err(errors.join("\n\n"))
        }
    })
    .as_ref()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Builds the examples, then runs `f` with `cluster()` (started on first use), each step
/// bounded in time.
fn with_cluster<T, F>(cluster: fn() -> &'static KafkaCluster, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&'static KafkaCluster) -> T + Send + 'static,
{
    with_timeout(BUILD_LIMIT, examples);
    let k = with_timeout(START_LIMIT, cluster);
    with_timeout(LIMIT, move || f(k))
}

/// [`with_cluster`] on the single-node cluster this test binary shares; `f` gets its
/// bootstrap address.
fn on_kafka<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&'static str) -> T + Send + 'static,
{
    with_cluster(kafka::shared, |k| f(&k.bootstrap))
}

/// Builds the examples, then runs `f` (which needs no broker) bounded in time.
fn offline<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    with_timeout(BUILD_LIMIT, examples);
    with_timeout(LIMIT, f)
}

/// A Rust client, to check what the examples cannot show.
fn rust_client(bootstrap: &str) -> kafkac::Client {
    let mut conf = kafkac::Config::new();
    conf.set("bootstrap.servers", bootstrap).unwrap();
    conf.set("retry.backoff.ms", "20").unwrap();
    conf.set("retry.backoff.max.ms", "200").unwrap();
    kafkac::Client::new(&conf).unwrap()
}

/// Polls metadata until `topic` has `partitions` partitions, each with a leader and at
/// least `min_isr` in-sync replicas, and returns the leaders by partition. A topic
/// created a moment ago is not in the broker's metadata yet: its CreateTopics answer
/// comes from the controller.
fn wait_for_topic(bootstrap: &str, topic: &str, partitions: usize, min_isr: usize) -> Vec<i32> {
    let c = rust_client(bootstrap);
    let names = [topic.to_string()];
    let deadline = Instant::now() + TOPIC_VISIBLE;
    loop {
        let md = c.metadata(Some(&names), CALL_TIMEOUT).unwrap();
        let t = &md.topics[0];
        let mut parts = t.partitions.clone();
        parts.sort_by_key(|p| p.partition);
        let ready = t.name == topic
            && t.error_code == 0
            && parts.len() == partitions
            && parts
                .iter()
                .all(|p| p.error_code == 0 && p.leader >= 0 && p.isr.len() >= min_isr);
        if ready {
            return parts.iter().map(|p| p.leader).collect();
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} not ready in metadata after {TOPIC_VISIBLE:?}: {t:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Creates a topic with the `create_topic` example and waits until it is in the broker's
/// metadata; returns the leaders by partition.
fn create_topic(b: &str, topic: &str, partitions: usize, replication: usize) -> Vec<i32> {
    let (p, r) = (partitions.to_string(), replication.to_string());
    let out = run("create_topic", &[b, topic, &p, &r], b"");
    out.assert_ok("create_topic");
    assert_eq!(
        out.stdout(),
        format!("created topic {topic} with {partitions} partitions\n")
    );
    wait_for_topic(b, topic, partitions, replication)
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    #[track_caller]
    fn assert_ok(&self, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout(),
            self.stderr
        );
        assert_eq!(self.stderr, "", "{what}: stderr");
        self
    }

    /// Asserts a failure whose only stderr line starts with `error: <name>: `.
    #[track_caller]
    fn assert_error(&self, what: &str, name: &str) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "{what}: exit {:?}, expected a failure\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout(),
            self.stderr
        );
        let prefix = format!("error: {name}: ");
        assert!(
            self.stderr.starts_with(&prefix) && self.stderr.lines().count() == 1,
            "{what}: stderr should be one line starting with {prefix:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs an example with `args`, feeding it `stdin`, under the sanitizers; panics if it
/// takes longer than [`RUN_LIMIT`] or a sanitizer reports anything.
fn run(example: &str, args: &[&str], stdin: &[u8]) -> Run {
    let bin = examples().join(example);
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .env("RUST_BACKTRACE", "1");
    let done = common::run_bounded(cmd, Some(stdin.to_vec()), RUN_LIMIT)
        .unwrap_or_else(|e| panic!("spawn {bin:?}: {e}"));
    let Some(status) = done.status else {
        panic!("{example} {args:?} still running after {RUN_LIMIT:?}");
    };
    let stderr = done.stderr_text();
    for report in [
        "AddressSanitizer",
        "LeakSanitizer",
        "UndefinedBehaviorSanitizer",
        "runtime error:",
        "panicked at",
    ] {
        assert!(
            !stderr.contains(report),
            "{example} {args:?}: {report} in stderr (exit {status}):\n{stderr}"
        );
    }
    Run {
        code: status.code(),
        stdout: done.stdout,
        stderr,
        took: done.took,
    }
}

/// Lines that must survive produce → fetch unchanged: empty lines, tabs, CR, a NUL,
/// bytes that are not UTF-8, and a long line.
fn tricky_input() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"first line\n\n\n");
    v.extend_from_slice(b"value\twith a TAB\n");
    v.extend_from_slice(b"\tleading TAB and trailing TAB\t\n");
    v.extend_from_slice(b"trailing spaces   \n");
    v.extend_from_slice(b"carriage return\r\n");
    v.extend_from_slice(b"nul\0byte\n");
    v.extend_from_slice(b"not utf-8 \xff\xfe\n");
    v.extend_from_slice("unicode: été ✓\n".as_bytes());
    v.extend_from_slice(&b"long ".repeat(2000));
    v.extend_from_slice(b"\n\nlast\n");
    v
}

fn line_count(input: &[u8]) -> usize {
    input.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn create_topic_then_metadata_lists_broker_and_partitions() {
    on_kafka(|b| {
        let leaders = create_topic(b, "ex-create", 2, 1);
        assert_eq!(leaders, [1, 1], "node 1 leads both partitions");
        run("create_topic", &[b, "ex-create", "2"], b"")
            .assert_error("create_topic again", "TOPIC_ALREADY_EXISTS");

        let r = run("metadata", &[b, "ex-create"], b"");
        r.assert_ok("metadata");
        assert_eq!(
            r.stdout(),
            format!(
                "broker 1 {b}\npartition ex-create 0 leader 1\npartition ex-create 1 leader 1\n"
            )
        );
        // Every topic when none is named.
        let r = run("metadata", &[b], b"");
        r.assert_ok("metadata (all topics)");
        let out = r.stdout();
        assert!(out.starts_with(&format!("broker 1 {b}\n")), "{out}");
        assert!(
            out.contains("partition ex-create 0 leader 1\npartition ex-create 1 leader 1\n"),
            "{out}"
        );

        let r = run("metadata", &[b, "ex-missing"], b"");
        r.assert_error("metadata of a missing topic", "UNKNOWN_TOPIC_OR_PARTITION");
        assert!(r.stderr.contains("'ex-missing'"), "{}", r.stderr);
        assert_eq!(r.stdout(), format!("broker 1 {b}\n"));
    })
}

#[test]
fn produce_and_fetch_round_trip_byte_for_byte_with_every_codec() {
    on_kafka(|b| {
        let codecs: [Option<&str>; 6] = [
            None,
            Some("none"),
            Some("gzip"),
            Some("snappy"),
            Some("lz4"),
            Some("zstd"),
        ];
        create_topic(b, "ex-codecs", 6, 1);
        let input = tricky_input();
        let n = line_count(&input);
        let lines: Vec<&[u8]> = input.split_inclusive(|&c| c == b'\n').collect();
        assert_eq!(lines.len(), n);
        for (p, codec) in codecs.iter().enumerate() {
            let part = p.to_string();
            let mut args = vec![b, "ex-codecs", part.as_str(), "-b", "4"];
            if let Some(z) = codec {
                args.extend(["-z", z]);
            }
            let r = run("produce", &args, &input);
            r.assert_ok(&format!("produce {codec:?}"));
            // Batches of 4: one line per batch.
            let want: String = (0..n)
                .step_by(4)
                .map(|o| {
                    format!(
                        "produced {} records to ex-codecs/{p} base offset {o}\n",
                        (n - o).min(4)
                    )
                })
                .collect();
            assert_eq!(r.stdout(), want, "{codec:?}");

            // With a count, and reading up to the high watermark.
            let count = n.to_string();
            for extra in [&["-c", count.as_str()][..], &[]] {
                let mut args = vec![b, "ex-codecs", part.as_str(), "0"];
                args.extend(extra);
                let r = run("fetch", &args, b"");
                r.assert_ok(&format!("fetch {codec:?} {extra:?}"));
                assert!(
                    r.stdout == input,
                    "fetch {codec:?} {extra:?}: output differs from the input:\n{:?}\nvs\n{:?}",
                    String::from_utf8_lossy(&r.stdout),
                    String::from_utf8_lossy(&input)
                );
            }
            // From the start of the second batch and from inside it, fewer records than
            // there are.
            for from in [4, 5] {
                let r = run(
                    "fetch",
                    &[b, "ex-codecs", &part, &from.to_string(), "-c", "3"],
                    b"",
                );
                r.assert_ok(&format!("fetch {codec:?} from {from}"));
                assert_eq!(
                    String::from_utf8_lossy(&r.stdout),
                    String::from_utf8_lossy(&lines[from..from + 3].concat()),
                    "{codec:?} from {from}"
                );
            }
        }
    })
}

#[test]
fn keyed_produce_splits_at_the_first_tab_and_fetch_prints_key_tab_value() {
    on_kafka(|b| {
        create_topic(b, "ex-keyed", 1, 1);
        let input = b"k1\tv1\nk2\t\n\tempty key\nk4\tvalue\twith a TAB\nno tab: null key\n";
        let r = run("produce", &[b, "ex-keyed", "0", "-k"], input);
        r.assert_ok("produce -k");
        assert_eq!(
            r.stdout(),
            "produced 5 records to ex-keyed/0 base offset 0\n"
        );
        let r = run("fetch", &[b, "ex-keyed", "0", "0", "-k"], b"");
        r.assert_ok("fetch -k");
        assert_eq!(
            r.stdout(),
            "k1\tv1\nk2\t\n\tempty key\nk4\tvalue\twith a TAB\n\tno tab: null key\n"
        );
        let r = run("fetch", &[b, "ex-keyed", "0", "0"], b"");
        r.assert_ok("fetch");
        assert_eq!(
            r.stdout(),
            "v1\n\nempty key\nvalue\twith a TAB\nno tab: null key\n"
        );

        // The example prints an empty and a null key alike; the records keep them apart.
        let f = rust_client(b)
            .fetch(
                "ex-keyed",
                0,
                0,
                1 << 20,
                Duration::from_millis(100),
                CALL_TIMEOUT,
            )
            .unwrap();
        let keys: Vec<Option<&[u8]>> = f.records.iter().map(|r| r.key).collect();
        let want: [Option<&[u8]>; 5] = [Some(b"k1"), Some(b"k2"), Some(b""), Some(b"k4"), None];
        assert_eq!(keys, want);
    })
}

#[test]
fn produce_with_each_acks_setting() {
    on_kafka(|b| {
        create_topic(b, "ex-acks", 1, 1);
        for (next, acks) in ["1", "-1"].into_iter().enumerate() {
            let r = run("produce", &[b, "ex-acks", "0", "-a", acks], b"one\n");
            r.assert_ok(&format!("produce -a {acks}"));
            assert_eq!(
                r.stdout(),
                format!("produced 1 records to ex-acks/0 base offset {next}\n")
            );
        }
        // acks=0: Kafka answers nothing, so there is no offset to report. Two batches on
        // one connection.
        let r = run(
            "produce",
            &[b, "ex-acks", "0", "-a", "0", "-b", "1"],
            b"fire and\nforget\n",
        );
        r.assert_ok("produce -a 0");
        assert_eq!(
            r.stdout(),
            "produced 1 records to ex-acks/0 base offset -1\n".repeat(2),
            "acks=0 has no offset to report"
        );
        // The example has exited; Kafka appends what it read from the connection a moment
        // later.
        let c = rust_client(b);
        common::wait_until(Duration::from_secs(10), "acks=0 records stored", || {
            c.list_offsets(
                "ex-acks",
                0,
                kafkac::client::OffsetSpec::Latest,
                CALL_TIMEOUT,
            )
            .unwrap()
            .offset
                == 4
        });
        let r = run("offsets", &[b, "ex-acks", "0", "latest"], b"");
        r.assert_ok("offsets latest");
        assert_eq!(r.stdout(), "4\n");
        let r = run("fetch", &[b, "ex-acks", "0", "0"], b"");
        r.assert_ok("fetch");
        assert_eq!(r.stdout(), "one\none\nfire and\nforget\n");
        run("produce", &[b, "ex-acks", "0", "-a", "2"], b"x\n")
            .assert_error("acks 2", "_INVALID_ARG");
    })
}

/// The produce example stamps each batch with the time it encodes it: two runs give two
/// multi-record batches with distinct timestamps, which the test reads back. "Latest" is
/// the high watermark; a timestamp gives the first offset whose record timestamp is at or
/// after it.
#[test]
fn offsets_earliest_latest_and_by_timestamp() {
    on_kafka(|b| {
        create_topic(b, "ex-offsets", 1, 1);
        let offset = |what: &str| {
            let r = run("offsets", &[b, "ex-offsets", "0", what], b"");
            r.assert_ok(&format!("offsets {what}"));
            r.stdout()
        };
        assert_eq!(offset("latest"), "0\n", "empty");
        assert_eq!(offset("0"), "-1\n", "no record at all");
        run("produce", &[b, "ex-offsets", "0"], b"a\nb\nc\n").assert_ok("produce");
        // The next batch's timestamp is later.
        thread::sleep(Duration::from_millis(5));
        run("produce", &[b, "ex-offsets", "0"], b"d\ne\n").assert_ok("produce");
        let f = rust_client(b)
            .fetch(
                "ex-offsets",
                0,
                0,
                1 << 20,
                Duration::from_millis(100),
                CALL_TIMEOUT,
            )
            .unwrap();
        let ts: Vec<i64> = f.records.iter().map(|r| r.timestamp).collect();
        assert_eq!(ts.len(), 5);
        let (t1, t2) = (ts[0], ts[3]);
        assert_eq!(ts, [t1, t1, t1, t2, t2], "one timestamp per batch");
        assert!(t2 > t1, "{ts:?}");

        assert_eq!(offset("earliest"), "0\n");
        assert_eq!(offset("latest"), "5\n", "the high watermark");
        for (t, want) in [(t1 - 1000, 0), (t1, 0), (t1 + 1, 3), (t2, 3), (t2 + 1, -1)] {
            assert_eq!(
                offset(&t.to_string()),
                format!("{want}\n"),
                "timestamp {t} ({ts:?})"
            );
        }
        run("offsets", &[b, "ex-offsets", "0", "soon"], b"")
            .assert_error("bad spec", "_INVALID_ARG");
        run("offsets", &[b, "ex-offsets", "0", "-5"], b"").assert_error("bad spec", "_INVALID_ARG");
    })
}

#[test]
fn three_node_cluster_metadata_produce_fetch_and_out_of_range() {
    with_cluster(kafka::shared3, |k| {
        let b = k.bootstrap.as_str();
        let leaders = create_topic(b, "ex-three", 3, 3);
        let r = run("metadata", &[b, "ex-three"], b"");
        r.assert_ok("metadata");
        let mut want = String::new();
        for n in &k.nodes {
            want += &format!("broker {} {}\n", n.node_id, n.addr);
        }
        for (p, l) in leaders.iter().enumerate() {
            want += &format!("partition ex-three {p} leader {l}\n");
        }
        assert_eq!(r.stdout(), want);

        // Produce to partition 1's leader, two compressed batches, acks=all (the
        // default), and read it back: all of it, and from inside the first batch.
        let r = run(
            "produce",
            &[b, "ex-three", "1", "-z", "zstd", "-b", "3"],
            b"x\n\ny\tz\nlast\n",
        );
        r.assert_ok("produce");
        assert_eq!(
            r.stdout(),
            "produced 3 records to ex-three/1 base offset 0\n\
             produced 1 records to ex-three/1 base offset 3\n"
        );
        let r = run("fetch", &[b, "ex-three", "1", "0"], b"");
        r.assert_ok("fetch");
        assert_eq!(r.stdout(), "x\n\ny\tz\nlast\n");
        let r = run("fetch", &[b, "ex-three", "1", "1", "-c", "2"], b"");
        r.assert_ok("fetch from inside a batch");
        assert_eq!(r.stdout(), "\ny\tz\n");
        let r = run("offsets", &[b, "ex-three", "1", "latest"], b"");
        r.assert_ok("offsets");
        assert_eq!(r.stdout(), "4\n");

        let r = run("fetch", &[b, "ex-three", "1", "1000"], b"");
        r.assert_error("fetch past the end", "OFFSET_OUT_OF_RANGE");
        assert!(r.stderr.contains("ex-three/1"), "{}", r.stderr);
        assert_eq!(r.stdout, b"");
    })
}

#[test]
fn configuration_errors_name_the_property() {
    offline(|| {
        for ex in EXAMPLES {
            let r = run(ex, &["127.0.0.1:1", "-X", "no.such.property=1"], b"");
            r.assert_error(&format!("{ex} -X unknown"), "_UNKNOWN_CONFIG");
            assert!(
                r.stderr.contains("'no.such.property'") && r.stderr.contains("'1'"),
                "{ex}: {}",
                r.stderr
            );
            assert_eq!(r.code, Some(2), "{ex}: exit code for a bad property");
            let r = run(ex, &["127.0.0.1:1", "-Xrequest.timeout.ms=soon"], b"");
            r.assert_error(&format!("{ex} -X bad value"), "_INVALID_CONFIG");
            assert!(
                r.stderr.contains("'request.timeout.ms'") && r.stderr.contains("'soon'"),
                "{ex}: {}",
                r.stderr
            );
            let r = run(ex, &["-X", "missing-equals"], b"");
            r.assert_error(&format!("{ex} -X without ="), "_INVALID_ARG");
            // Too few arguments: a usage line.
            let r = run(ex, &[], b"");
            assert_eq!(r.code, Some(2), "{ex}: usage exit code");
            assert!(r.stderr.starts_with("usage: "), "{ex}: {}", r.stderr);
        }
    })
}

/// Nothing listens at the address: the call tries again until its own timeout (10 s in
/// metadata.c), then says why it gave up.
#[test]
fn unreachable_bootstrap_is_retried_until_the_timeout() {
    offline(|| {
        // A port that was just free: nothing listens there, so connecting is refused.
        let port = common::free_port();
        let b = format!("127.0.0.1:{port}");
        let r = run(
            "metadata",
            &[&b, "-X", "socket.connection.setup.timeout.ms=500"],
            b"",
        );
        r.assert_error("metadata", "_ALL_BROKERS_DOWN");
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains(&b), "names the address: {}", r.stderr);
        assert!(r.stderr.contains("Connection refused"), "{}", r.stderr);
        let attempts: u32 = r
            .stderr
            .split_once("(gave up after ")
            .and_then(|(_, rest)| rest.split_once(" attempts: timeout)"))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no 'gave up after N attempts: timeout': {}", r.stderr));
        assert!(attempts >= 2, "retried before giving up: {}", r.stderr);
        assert_eq!(r.stdout, b"");
    })
}

// ---------------------------------------------------------------------------------------
// The asynchronous producer: examples-c/producer.c
// ---------------------------------------------------------------------------------------

/// The counts of the producer example's summary, its last stderr line ("delivered <n>,
/// failed <m>, <s> s, <r> msgs/s").
fn producer_summary(r: &Run) -> (u64, u64) {
    let last = r.stderr.lines().last().unwrap_or_default();
    let parsed = (|| {
        let rest = last.strip_prefix("delivered ")?;
        let (delivered, rest) = rest.split_once(", failed ")?;
        let (failed, rest) = rest.split_once(", ")?;
        let (secs, rate) = rest.split_once(" s, ")?;
        secs.parse::<f64>().ok()?;
        rate.strip_suffix(" msgs/s")?.parse::<f64>().ok()?;
        Some((delivered.parse().ok()?, failed.parse().ok()?))
    })();
    parsed.unwrap_or_else(|| panic!("no summary line in stderr:\n{}", r.stderr))
}

/// Asserts the producer example delivered all `n` lines: exit 0 and a stderr of the
/// summary alone.
#[track_caller]
fn assert_all_delivered(r: &Run, n: u64, what: &str) {
    assert_eq!(r.code, Some(0), "{what}: exit {:?}\n{}", r.code, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{what}: stderr:\n{}", r.stderr);
    assert_eq!(producer_summary(r), (n, 0), "{what}: {}", r.stderr);
}

/// The `-D` lines of delivered messages: (partition, offset), one per input line.
fn delivered_at(r: &Run) -> Vec<(i32, i64)> {
    r.stdout()
        .lines()
        .map(|l| {
            let (p, o) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("not 'partition offset': {l:?}"));
            (
                p.parse().unwrap_or_else(|_| panic!("partition in {l:?}")),
                o.parse().unwrap_or_else(|_| panic!("offset in {l:?}")),
            )
        })
        .collect()
}

/// A line split at the first `delim` into key and value, as `producer -k` does (no
/// delimiter: a null key and the whole line).
fn split_line<'a>(line: &'a [u8], delim: &[u8]) -> (Option<&'a [u8]>, &'a [u8]) {
    match line.windows(delim.len()).position(|w| w == delim) {
        Some(i) => (Some(&line[..i]), &line[i + delim.len()..]),
        None => (None, line),
    }
}

/// 10,000 keyed lines through the partitioner: the `-D` report of each line names a
/// partition and offset, and reading the partitions back with kafkac's fetch gives
/// exactly those lines (key and value split at the first delimiter) at those offsets.
#[test]
fn producer_reports_where_each_line_went_and_the_log_holds_it_there() {
    on_kafka(|b| {
        const N: usize = 10_000;
        let topic = "ex-producer";
        create_topic(b, topic, 4, 1);
        let lines: Vec<Vec<u8>> = (0..N)
            .map(|i| {
                match i % 500 {
                    7 => format!("no delimiter {i}"),
                    11 => format!("::an empty key {i}"),
                    13 => format!("key-{}::value::with the delimiter {i}", i % 37),
                    17 => String::new(),
                    _ => format!("key-{}::value-{i}", i % 37),
                }
                .into_bytes()
            })
            .collect();
        let input: Vec<u8> = lines
            .iter()
            .flat_map(|l| [l, &b"\n"[..]].concat())
            .collect();
        let r = run(
            "producer",
            &["-b", b, "-t", topic, "-k", "::", "-D"],
            &input,
        );
        assert_all_delivered(&r, N as u64, "producer -k :: -D");
        let at = delivered_at(&r);
        assert_eq!(at.len(), N, "one report line per input line");

        let mut by_partition: Vec<Vec<(i64, usize)>> = vec![Vec::new(); 4];
        let mut by_key: std::collections::HashMap<&[u8], i32> = Default::default();
        for (i, &(p, o)) in at.iter().enumerate() {
            assert!((0..4).contains(&p), "line {i}: partition {p}");
            by_partition[p as usize].push((o, i));
            if let (Some(key), _) = split_line(&lines[i], b"::") {
                if !key.is_empty() {
                    let first = *by_key.entry(key).or_insert(p);
                    assert_eq!(p, first, "line {i}: key {key:?} in two partitions");
                }
            }
        }
        let c = rust_client(b);
        let reader = common::records::Reader {
            timeout: CALL_TIMEOUT,
            high_watermark_covers: false,
        };
        for (p, sent) in by_partition.iter().enumerate() {
            assert!(!sent.is_empty(), "no line went to partition {p}");
            // A new topic, and lines in input order: offsets 0, 1, 2... in line order.
            for (k, &(o, _)) in sent.iter().enumerate() {
                assert_eq!(o, k as i64, "partition {p}: offsets in line order");
            }
            let got = reader.fetch_n(&c, topic, p as i32, 0, sent.len());
            assert_eq!(got.len(), sent.len(), "partition {p}: records in the log");
            for (g, &(o, i)) in got.iter().zip(sent) {
                let (key, value) = split_line(&lines[i], b"::");
                assert_eq!(g.offset, o);
                assert_eq!(g.key.as_deref(), key, "line {i}: key at {p}/{o}");
                assert_eq!(
                    g.value.as_deref(),
                    Some(value),
                    "line {i}: value at {p}/{o}"
                );
            }
        }
    })
}

/// `-z` sets the codec: every batch on the wire carries it, and the lines read back.
#[test]
fn producer_sends_with_each_codec() {
    on_kafka(|b| {
        let topic = "ex-producer-codecs";
        create_topic(b, topic, 5, 1);
        let lines: Vec<String> = (0..1000)
            .map(|i| format!("line {i} {}", "compressible ".repeat(i % 7)))
            .collect();
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let c = rust_client(b);
        let reader = common::records::Reader {
            timeout: CALL_TIMEOUT,
            high_watermark_covers: false,
        };
        for (p, (codec, _)) in common::records::CODECS.iter().enumerate() {
            let part = p.to_string();
            let r = run(
                "producer",
                &["-b", b, "-t", topic, "-p", &part, "-z", codec, "-D"],
                input.as_bytes(),
            );
            assert_all_delivered(&r, 1000, codec);
            let want: Vec<(i32, i64)> = (0..1000).map(|o| (p as i32, o)).collect();
            assert_eq!(delivered_at(&r), want, "{codec}");
            let got = reader.fetch_n(&c, topic, p as i32, 0, 1000);
            let values: Vec<String> = got
                .iter()
                .map(|g| String::from_utf8_lossy(g.value.as_deref().unwrap_or_default()).into())
                .collect();
            assert_eq!(values, lines, "{codec}: read back");
            let batches = common::batches::batches(&c, topic, p as i32, 0, 1000, CALL_TIMEOUT);
            common::batches::check_codecs(&batches, codec).unwrap_or_else(|e| panic!("{e}"));
        }
    })
}

/// A bad property or option: a usage error (exit 2) whose message names it.
#[test]
fn producer_configuration_errors_name_the_property() {
    offline(|| {
        let base = ["-b", "127.0.0.1:1", "-t", "t"];
        let cases: [(&[&str], &str, &[&str]); 6] = [
            (
                &["-X", "no.such.property=1"],
                "_UNKNOWN_CONFIG",
                &["'no.such.property'"],
            ),
            (
                &["-X", "linger.ms=soon"],
                "_INVALID_CONFIG",
                &["'linger.ms'", "'soon'"],
            ),
            // Accepted one by one, refused together by kc_producer_new.
            (
                &["-X", "enable.idempotence=true", "-X", "acks=1"],
                "_INVALID_CONFIG",
                &["'acks'", "enable.idempotence"],
            ),
            (
                &["-X", "max.in.flight.requests.per.connection=6"],
                "_INVALID_CONFIG",
                &["'max.in.flight.requests.per.connection'"],
            ),
            (
                &["-z", "brotli"],
                "_INVALID_CONFIG",
                &["'compression.type'", "'brotli'"],
            ),
            (&["-p", "-1"], "_INVALID_ARG", &["partition"]),
        ];
        for (extra, name, says) in cases {
            let mut args = base.to_vec();
            args.extend(extra);
            let r = run("producer", &args, b"never sent\n");
            r.assert_error(&format!("{extra:?}"), name);
            assert_eq!(r.code, Some(2), "{extra:?}: {}", r.stderr);
            for s in says {
                assert!(
                    r.stderr.contains(s),
                    "{extra:?} should name {s}: {}",
                    r.stderr
                );
            }
            assert_eq!(r.stdout, b"", "{extra:?}");
        }
        for args in [
            &["-b", "127.0.0.1:1"][..],
            &["-t", "t"],
            &["-b", "x", "-t", "t", "-q"],
        ] {
            let r = run("producer", args, b"");
            assert_eq!(r.code, Some(2), "{args:?}");
            assert!(
                r.stderr.starts_with("usage: producer "),
                "{args:?}: {}",
                r.stderr
            );
        }
        let r = run("producer", &["-b", "127.0.0.1:1", "-t", "t", "-k", ""], b"");
        r.assert_error("an empty key delimiter", "_INVALID_ARG");
    })
}

/// Nothing listens at the bootstrap address: every message times out after
/// `message.timeout.ms`, each line gets its failed report, and the example exits with
/// 1 well within a bound.
#[test]
fn producer_to_an_unreachable_bootstrap_reports_each_line_failed_and_exits_non_zero() {
    offline(|| {
        let b = format!("127.0.0.1:{}", common::free_port());
        let r = run(
            "producer",
            &["-b", &b, "-t", "t", "-D", "-X", "message.timeout.ms=1000"],
            b"one\ntwo\nthree\n",
        );
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
        assert_eq!(producer_summary(&r), (0, 3), "{}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: _MSG_TIMED_OUT: "), "{}", r.stderr);
        let out = r.stdout();
        assert_eq!(out.lines().count(), 3, "{out}");
        for l in out.lines() {
            assert!(l.starts_with("error _MSG_TIMED_OUT "), "{out}");
        }
    })
}

/// A line the producer refuses at once (larger than `message.max.bytes`) gets its
/// failed report in its place among the others, and the exit status says so.
#[test]
fn producer_reports_a_refused_line_in_its_place() {
    on_kafka(|b| {
        let topic = "ex-producer-refused";
        create_topic(b, topic, 1, 1);
        let mut input = b"first\n".to_vec();
        input.extend_from_slice(&b"x".repeat(2000));
        input.extend_from_slice(b"\nlast\n");
        let r = run(
            "producer",
            &[
                "-b",
                b,
                "-t",
                topic,
                "-p",
                "0",
                "-D",
                "-X",
                "message.max.bytes=1000",
            ],
            &input,
        );
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert_eq!(producer_summary(&r), (2, 1), "{}", r.stderr);
        assert!(
            r.stderr.starts_with("error: MESSAGE_TOO_LARGE: ")
                && r.stderr.contains("message.max.bytes"),
            "{}",
            r.stderr
        );
        let out = r.stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], "0 0");
        assert!(lines[1].starts_with("error MESSAGE_TOO_LARGE "), "{out}");
        assert_eq!(lines[2], "0 1");
    })
}

// ---------------------------------------------------------------------------------------
// The group consumer: examples-c/consumer.c
// ---------------------------------------------------------------------------------------

/// The record count of the consumer example's summary, its last stderr line
/// ("consumed <n> records, <b> value bytes, from <p> partitions").
fn consumer_summary(r: &Run) -> u64 {
    let last = r.stderr.lines().last().unwrap_or_default();
    last.strip_prefix("consumed ")
        .and_then(|rest| rest.split_once(" records, "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", r.stderr))
}

/// The group's committed offsets of `topic`'s partitions, asked through the Rust
/// consumer (-1: none).
fn committed(b: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let mut conf = kafkac::Config::new();
    conf.set("bootstrap.servers", b).unwrap();
    conf.set("group.id", group).unwrap();
    let c = kafkac::consumer::Consumer::new(&conf).unwrap();
    let tps: Vec<_> = (0..partitions)
        .map(|p| kafkac::consumer::assignor::TopicPartition::new(topic, p))
        .collect();
    let assign: Vec<_> = tps.iter().map(|tp| (tp.clone(), None)).collect();
    c.assign(&assign).unwrap();
    let got = c.committed(&tps, CALL_TIMEOUT).unwrap();
    let v = tps
        .iter()
        .map(|tp| got.iter().find(|(t, _)| t == tp).map_or(-1, |(_, o)| *o))
        .collect();
    c.close(Duration::from_secs(2)).unwrap();
    v
}

/// 300 keyed lines written with the producer example, read by the consumer example in a
/// group with `-e`: every record printed exactly once (partition, offset, key, value,
/// as they were written), and the group's committed offsets are the end offsets; a
/// second run of the same group prints nothing, and `-c` stops after that many.
#[test]
fn consumer_prints_every_record_once_and_commits_the_end_offsets() {
    on_kafka(|b| {
        const N: usize = 300;
        let topic = "ex-consumer";
        let group = "ex-consumer-group";
        create_topic(b, topic, 3, 1);
        let input: String = (0..N).map(|i| format!("k{}:v{i}\n", i % 17)).collect();
        let r = run(
            "producer",
            &["-b", b, "-t", topic, "-k", ":", "-D"],
            input.as_bytes(),
        );
        assert_all_delivered(&r, N as u64, "producer");
        let at = delivered_at(&r);

        let args = [
            b,
            group,
            topic,
            "-e",
            "-X",
            "auto.offset.reset=earliest",
            "-f",
            "%p %o %k %s\\n",
        ];
        let r = run("consumer", &args, b"");
        assert_eq!(r.code, Some(0), "exit {:?}\n{}", r.code, r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "stderr:\n{}", r.stderr);
        assert_eq!(consumer_summary(&r), N as u64);
        let mut printed: Vec<(i32, i64, String, String)> = r
            .stdout()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                assert_eq!(f.len(), 4, "{l:?}");
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].to_owned(),
                    f[3].to_owned(),
                )
            })
            .collect();
        printed.sort();
        let mut want: Vec<(i32, i64, String, String)> = at
            .iter()
            .enumerate()
            .map(|(i, &(p, o))| (p, o, format!("k{}", i % 17), format!("v{i}")))
            .collect();
        want.sort();
        assert_eq!(printed.len(), N, "every record once");
        assert_eq!(printed, want);

        // The group's committed offsets are the end offsets.
        let c = rust_client(b);
        let ends: Vec<i64> = (0..3)
            .map(|p| {
                c.list_offsets(topic, p, kafkac::client::OffsetSpec::Latest, CALL_TIMEOUT)
                    .unwrap()
                    .offset
            })
            .collect();
        assert_eq!(ends.iter().sum::<i64>(), N as i64);
        assert_eq!(committed(b, group, topic, 3), ends);

        // The same group again: nothing left to print.
        let r = run("consumer", &args, b"");
        assert_eq!(r.code, Some(0), "exit {:?}\n{}", r.code, r.stderr);
        assert_eq!(r.stdout(), "");
        assert_eq!(consumer_summary(&r), 0);

        // Another group with -c: exactly that many, and they are committed.
        let r = run(
            "consumer",
            &[
                b,
                "ex-consumer-c",
                topic,
                "-c",
                "10",
                "-X",
                "auto.offset.reset=earliest",
            ],
            b"",
        );
        assert_eq!(r.code, Some(0), "exit {:?}\n{}", r.code, r.stderr);
        assert_eq!(r.stdout().lines().count(), 10);
        assert_eq!(consumer_summary(&r), 10);
        let sum: i64 = committed(b, "ex-consumer-c", topic, 3)
            .iter()
            .map(|&o| o.max(0))
            .sum();
        assert!(sum >= 10, "committed {sum}");
    })
}

#[test]
fn consumer_usage_and_configuration_errors() {
    offline(|| {
        let r = run("consumer", &["127.0.0.1:1", "g"], b"");
        assert_eq!(r.code, Some(2));
        assert!(r.stderr.starts_with("usage: "), "{}", r.stderr);
        let r = run(
            "consumer",
            &["127.0.0.1:1", "g", "t", "-X", "no.such.property=1"],
            b"",
        );
        r.assert_error("unknown property", "_UNKNOWN_CONFIG");
        // The regex error's own description takes several lines.
        let r = run("consumer", &["127.0.0.1:1", "g", "^[bad"], b"");
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(
            r.stderr
                .starts_with("error: _INVALID_ARG: subscribe: invalid pattern '^[bad'"),
            "{}",
            r.stderr
        );
    })
}
