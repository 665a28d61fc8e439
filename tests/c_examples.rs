//! The C examples in examples-c/, built with `-std=c99 -Wall -Wextra -Wpedantic -Werror`
//! under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer, linked
//! against the static libkafkac, and run against a real Tansu broker and librdkafka's
//! three-broker mock cluster. Every run must be free of sanitizer reports.

mod clib;
mod common;

use clib::Link;
use common::{MockCluster, Tansu};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EXAMPLES: [&str; 5] = ["metadata", "create_topic", "produce", "fetch", "offsets"];

/// Longest any one example may run.
const RUN_LIMIT: Duration = Duration::from_secs(30);

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

struct Broker {
    bootstrap: String,
}

/// One Tansu for the whole test binary (it dies with the process).
fn tansu() -> &'static str {
    static B: OnceLock<Broker> = OnceLock::new();
    &B.get_or_init(|| {
        let t = Box::leak(Box::new(Tansu::start()));
        Broker {
            bootstrap: t.bootstrap.clone(),
        }
    })
    .bootstrap
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
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
    let b = tansu();
    let r = run("create_topic", &[b, "ex-create", "2", "1"], b"");
    r.assert_ok("create_topic");
    assert_eq!(r.stdout(), "created topic ex-create with 2 partitions\n");
    run("create_topic", &[b, "ex-create", "2"], b"")
        .assert_error("create_topic again", "TOPIC_ALREADY_EXISTS");

    let r = run("metadata", &[b, "ex-create"], b"");
    r.assert_ok("metadata");
    let out = r.stdout();
    let first = out.lines().next().unwrap_or_default();
    let id = first
        .strip_prefix("broker ")
        .and_then(|rest| rest.strip_suffix(&format!(" {b}")))
        .unwrap_or_else(|| panic!("first line {first:?} is not 'broker <id> {b}'"));
    let id: i32 = id.parse().unwrap();
    assert_eq!(
        out,
        format!(
            "broker {id} {b}\npartition ex-create 0 leader {id}\npartition ex-create 1 leader {id}\n"
        )
    );
    // Every topic when none is named.
    let r = run("metadata", &[b], b"");
    r.assert_ok("metadata (all topics)");
    assert!(r.stdout().contains("partition ex-create 1 leader"));

    let r = run("metadata", &[b, "ex-missing"], b"");
    r.assert_error("metadata of a missing topic", "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(r.stderr.contains("'ex-missing'"), "{}", r.stderr);
    assert_eq!(r.stdout(), format!("broker {id} {b}\n"));
}

#[test]
fn produce_and_fetch_round_trip_byte_for_byte_with_every_codec() {
    let b = tansu();
    let codecs: [Option<&str>; 6] = [
        None,
        Some("none"),
        Some("gzip"),
        Some("snappy"),
        Some("lz4"),
        Some("zstd"),
    ];
    run("create_topic", &[b, "ex-codecs", "6", "1"], b"").assert_ok("create_topic");
    let input = tricky_input();
    let n = line_count(&input);
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
        // From the second batch, fewer records than there are. (Tansu 0.6.0 answers a
        // fetch from inside a batch with the next batch, so the mock-cluster test
        // checks that case.)
        let r = run("fetch", &[b, "ex-codecs", &part, "4", "-c", "3"], b"");
        r.assert_ok("fetch from the second batch");
        assert_eq!(
            r.stdout,
            b"\tleading TAB and trailing TAB\t\ntrailing spaces   \ncarriage return\r\n"
        );
    }
}

#[test]
fn keyed_produce_splits_at_the_first_tab_and_fetch_prints_key_tab_value() {
    let b = tansu();
    run("create_topic", &[b, "ex-keyed", "1", "1"], b"").assert_ok("create_topic");
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
    let mut conf = kafkac::Config::new();
    conf.set("bootstrap.servers", b).unwrap();
    let c = kafkac::Client::new(&conf).unwrap();
    let f = c
        .fetch(
            "ex-keyed",
            0,
            0,
            1 << 20,
            Duration::from_millis(100),
            Duration::from_secs(10),
        )
        .unwrap();
    let keys: Vec<Option<&[u8]>> = f.records.iter().map(|r| r.key).collect();
    let want: [Option<&[u8]>; 5] = [Some(b"k1"), Some(b"k2"), Some(b""), Some(b"k4"), None];
    assert_eq!(keys, want);
}

#[test]
fn produce_with_each_acks_setting() {
    let b = tansu();
    run("create_topic", &[b, "ex-acks", "1", "1"], b"").assert_ok("create_topic");
    for (next, acks) in ["1", "-1"].into_iter().enumerate() {
        let r = run("produce", &[b, "ex-acks", "0", "-a", acks], b"one\n");
        r.assert_ok(&format!("produce -a {acks}"));
        assert_eq!(
            r.stdout(),
            format!("produced 1 records to ex-acks/0 base offset {next}\n")
        );
    }
    let r = run(
        "produce",
        &[b, "ex-acks", "0", "-a", "0"],
        b"fire and forget\n",
    );
    r.assert_ok("produce -a 0");
    assert_eq!(
        r.stdout(),
        "produced 1 records to ex-acks/0 base offset -1\n",
        "acks=0 has no offset to report"
    );
    common::wait_until(Duration::from_secs(10), "acks=0 record stored", || {
        run("offsets", &[b, "ex-acks", "0", "latest"], b"").stdout() == "3\n"
    });
    let r = run("fetch", &[b, "ex-acks", "0", "0"], b"");
    r.assert_ok("fetch");
    assert_eq!(r.stdout(), "one\none\nfire and forget\n");
    run("produce", &[b, "ex-acks", "0", "-a", "2"], b"x\n").assert_error("acks 2", "_INVALID_ARG");
}

/// Tansu 0.6.0 reports "latest" per batch and looks timestamps up by append time, so
/// every record goes in its own batch (`-b 1`) and the lookup time is taken between two
/// produce runs.
#[test]
fn offsets_earliest_latest_and_by_timestamp() {
    let b = tansu();
    run("create_topic", &[b, "ex-offsets", "1", "1"], b"").assert_ok("create_topic");
    let before = now_ms();
    run("produce", &[b, "ex-offsets", "0", "-b", "1"], b"a\nb\n").assert_ok("produce");
    thread::sleep(Duration::from_millis(30));
    let middle = now_ms();
    thread::sleep(Duration::from_millis(30));
    run("produce", &[b, "ex-offsets", "0", "-b", "1"], b"c\nd\n").assert_ok("produce");
    let offset = |what: &str| {
        let r = run("offsets", &[b, "ex-offsets", "0", what], b"");
        r.assert_ok(&format!("offsets {what}"));
        r.stdout()
    };
    assert_eq!(offset("earliest"), "0\n");
    assert_eq!(offset("latest"), "4\n");
    assert_eq!(offset(&(before - 1000).to_string()), "0\n");
    assert_eq!(offset(&middle.to_string()), "2\n");
    run("offsets", &[b, "ex-offsets", "0", "soon"], b"").assert_error("bad spec", "_INVALID_ARG");
    run("offsets", &[b, "ex-offsets", "0", "-5"], b"").assert_error("bad spec", "_INVALID_ARG");
}

#[test]
fn three_broker_cluster_metadata_produce_fetch_and_out_of_range() {
    let mut mock = MockCluster::start(3);
    mock.create_topic("ex-three", 3, 3);
    for p in 0..3 {
        mock.set_leader("ex-three", p, p + 1);
    }
    let b = mock.bootstrap.clone();
    let r = run("metadata", &[&b, "ex-three"], b"");
    r.assert_ok("metadata");
    let mut want = String::new();
    for id in 1..=3 {
        want += &format!("broker {id} {}\n", mock.broker(id));
    }
    for p in 0..3 {
        want += &format!("partition ex-three {p} leader {}\n", p + 1);
    }
    assert_eq!(r.stdout(), want);

    // Produce to broker 2 (partition 1's leader), two compressed batches, and read it
    // back: all of it, and from inside the first batch (the broker returns the whole
    // batch; the example skips the records before the offset it asked for).
    let r = run(
        "produce",
        &[&b, "ex-three", "1", "-z", "zstd", "-b", "3"],
        b"x\n\ny\tz\nlast\n",
    );
    r.assert_ok("produce");
    assert_eq!(
        r.stdout(),
        "produced 3 records to ex-three/1 base offset 0\n\
         produced 1 records to ex-three/1 base offset 3\n"
    );
    let r = run("fetch", &[&b, "ex-three", "1", "0"], b"");
    r.assert_ok("fetch");
    assert_eq!(r.stdout(), "x\n\ny\tz\nlast\n");
    let r = run("fetch", &[&b, "ex-three", "1", "1", "-c", "2"], b"");
    r.assert_ok("fetch from inside a batch");
    assert_eq!(r.stdout(), "\ny\tz\n");
    let r = run("offsets", &[&b, "ex-three", "1", "latest"], b"");
    r.assert_ok("offsets");
    assert_eq!(r.stdout(), "4\n");

    let r = run("fetch", &[&b, "ex-three", "1", "1000"], b"");
    r.assert_error("fetch past the end", "OFFSET_OUT_OF_RANGE");
    assert!(r.stderr.contains("ex-three/1"), "{}", r.stderr);
    assert_eq!(r.stdout, b"");
}

#[test]
fn configuration_errors_name_the_property() {
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
}

#[test]
fn unreachable_bootstrap_fails_within_the_timeout() {
    // A port that was just free: nothing listens there, so connecting is refused.
    let port = common::free_port();
    let b = format!("127.0.0.1:{port}");
    let r = run(
        "metadata",
        &[&b, "-X", "socket.connection.setup.timeout.ms=500"],
        b"",
    );
    assert_eq!(r.code, Some(1), "stderr: {}", r.stderr);
    assert!(
        ["_ALL_BROKERS_DOWN", "_TRANSPORT", "_TIMED_OUT"]
            .iter()
            .any(|n| r.stderr.starts_with(&format!("error: {n}: "))),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&b), "names the address: {}", r.stderr);
    // metadata.c gives the call 10 s.
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);
    assert_eq!(r.stdout, b"");
}
