//! kafkac's partitioners against the clients they copy, key for key, on 10,000 keys of
//! 1 to 64 bytes (text and binary, generated from a fixed seed):
//!
//! * the Java client (kafka-clients 4.3.1): `Utils.murmur2` and, per partition count,
//!   `Utils.toPositive(Utils.murmur2(key)) % n` and the default partitioner's
//!   `BuiltInPartitioner.partitionForKey`, which `murmur2` and `murmur2_random` must
//!   give (`tests/partitioners/JavaPartition.java`);
//! * librdkafka's partitioner functions themselves, all seven
//!   (`rd_kafka_msg_partitioner_*` of the system librdkafka, called directly by
//!   `tests/partitioners/rdkafka_partition.c`), also for NULL and empty keys: which
//!   cases are random and what every other case returns;
//! * librdkafka's producer (confluent-kafka's librdkafka 2.16) producing every key with
//!   the partition unassigned to topics of librdkafka's mock cluster
//!   (`tests/partitioners/rdkafka_produce.py`): keyed records land where
//!   `Partitioner::key_partition` says, and keyless ones follow `Partitioner::is_sticky`
//!   (all on one partition when sticky, spread when random and not sticky).
//!
//! Every helper runs within a time limit, and a missing tool (JDK, C compiler,
//! librdkafka, Python's confluent-kafka) fails the test.

mod common;

use common::{kafka, run_bounded, with_timeout, MockCluster};
use kafkac::producer::partitioner::{fnv1a, murmur2, Partitioner};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How many generated keys each comparison covers.
const KEY_COUNT: usize = 10_000;
/// Partition counts of the comparisons (the mock cluster's topics have these).
const COUNTS: [i32; 5] = [1, 3, 16, 100, 1000];
/// More counts for the pure functions: librdkafka's own test's, and counts large enough
/// that every bit of a hash matters.
const WIDE_COUNTS: [i32; 5] = [7, 17, 65_536, 1_000_003, i32::MAX];
/// How many NULL and how many empty keys the producer test sends per topic.
const KEYLESS: usize = 200;
/// Limit of one whole test, including building its helper.
const TEST_LIMIT: Duration = Duration::from_secs(300);
/// Limit of a compiler (`javac`, `cc`).
const BUILD_LIMIT: Duration = Duration::from_secs(120);
/// Limit of one run of a helper.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How many mismatches an assertion lists.
const SHOWN: usize = 8;

fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// SplitMix64: a fixed, dependency-free sequence.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// [`KEY_COUNT`] distinct non-empty keys of 1 to 64 bytes: every length equally often;
/// a third printable text, a third any byte, a third mostly 0x00 and 0xff (runs of
/// bytes with the high bit set and of zeros).
fn keys() -> &'static [Vec<u8>] {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = SplitMix(0x6b61_666b_6163);
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(KEY_COUNT);
        while keys.len() < KEY_COUNT {
            let len = keys.len() % 64 + 1;
            let key: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    match keys.len() % 3 {
                        0 => b' ' + (r % 95) as u8,
                        1 => r as u8,
                        _ => [0x00, 0xff, 0x80, 0x7f, r as u8][(r >> 8) as usize % 5],
                    }
                })
                .collect();
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        keys
    })
}

fn hex(key: &[u8]) -> String {
    key.iter()
        .fold(String::with_capacity(2 * key.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A key as the helpers read it: `null`, or hex (empty for the empty key).
fn key_line(key: Option<&[u8]>) -> String {
    key.map_or_else(|| "null".to_string(), hex)
}

fn show_key(key: Option<&[u8]>) -> String {
    match key {
        None => "NULL".into(),
        Some(k) => format!("[{}] {}", k.len(), hex(k)),
    }
}

fn counts_args(counts: &[i32]) -> Vec<String> {
    counts.iter().map(i32::to_string).collect()
}

/// Fails with the first [`SHOWN`] mismatches of `checked` comparisons.
fn assert_no_mismatch(what: &str, checked: usize, mismatches: &[String]) {
    assert!(checked > 0, "{what}: nothing compared");
    if !mismatches.is_empty() {
        panic!(
            "{what}: {} of {checked} differ; first ones:\n  {}",
            mismatches.len(),
            mismatches
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    eprintln!("{what}: {checked} of {checked} agree");
}

/// Runs a helper with `input` on stdin; panics with its stderr unless it succeeds in time.
fn run(what: &str, cmd: Command, input: String) -> String {
    let done = run_bounded(cmd, Some(input.into_bytes()), RUN_LIMIT)
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    match done.status {
        Some(st) if st.success() => String::from_utf8(done.stdout).expect("helper output"),
        st => panic!(
            "{what} {}:\n{}",
            st.map_or_else(
                || format!("timed out after {RUN_LIMIT:?}"),
                |s| format!("failed ({s})")
            ),
            done.stderr_text()
        ),
    }
}

/// Builds `out` with `build(tmp)`, writing to a private path and renaming it into place
/// (test binaries may build in parallel); skipped when `out` is newer than `src`.
fn build_once(
    src: &Path,
    out: &Path,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(src).ok_or_else(|| format!("no {}", src.display()))?;
    if mtime(out).is_some_and(|t| t >= src_time) {
        return Ok(());
    }
    let parent = out.parent().expect("output in a directory");
    fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let tmp = parent.join(format!(
        "{}.{}.{}.tmp",
        out.file_name().unwrap().to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let built = build(&tmp);
    let moved = built.and_then(|()| {
        let _ = fs::remove_dir_all(out);
        fs::rename(&tmp, out).map_err(|e| format!("rename to {}: {e}", out.display()))
    });
    if moved.is_err() {
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&tmp);
    }
    moved
}

fn checked_build(what: &str, cmd: Command) -> Result<(), String> {
    let done =
        run_bounded(cmd, None, BUILD_LIMIT).map_err(|e| format!("cannot run {what}: {e}"))?;
    if done.status.is_some_and(|s| s.success()) {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({:?}):\n{}{}",
            done.status,
            String::from_utf8_lossy(&done.stdout),
            done.stderr_text()
        ))
    }
}

// ---------------------------------------------------------------------------
// The Java client
// ---------------------------------------------------------------------------

/// `tests/partitioners/JavaPartition.java` compiled into `target/testbin/partitioners-java`.
fn java_classes() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = common::manifest_dir().join("tests/partitioners/JavaPartition.java");
        let dir = common::target_dir().join("testbin/partitioners-java");
        build_once(&src, &dir, |tmp| {
            fs::create_dir_all(tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
            let mut cmd = Command::new("javac");
            cmd.args(["-encoding", "UTF-8", "-cp"])
                .arg(kafka::classpath())
                .arg("-d")
                .arg(tmp)
                .arg(&src);
            checked_build("javac (a JDK is required)", cmd)
        })
        .map(|()| dir)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn murmur2_partitioners_match_the_java_client() {
    with_timeout(TEST_LIMIT, || {
        let classes = java_classes();
        let counts: Vec<i32> = COUNTS.iter().chain(&WIDE_COUNTS).copied().collect();
        let mut cmd = Command::new("java");
        cmd.args([
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
        ])
        .arg(format!("{}:{}", classes.display(), kafka::classpath()))
        .arg("JavaPartition")
        .args(counts_args(&counts));
        // The empty key too: Java hashes every non-null key.
        let mut input: Vec<&[u8]> = vec![b""];
        input.extend(keys().iter().map(Vec::as_slice));
        let lines: String = input.iter().map(|k| hex(k) + "\n").collect();
        let out = run("java JavaPartition", cmd, lines);
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(
            rows.len(),
            input.len(),
            "one line per key from JavaPartition"
        );

        let (mut checked, mut bad) = (0, Vec::new());
        for (key, row) in input.iter().zip(&rows) {
            let f: Vec<i64> = row
                .split_whitespace()
                .map(|t| {
                    t.parse()
                        .unwrap_or_else(|_| panic!("bad Java output {row:?}"))
                })
                .collect();
            assert_eq!(f.len(), 1 + 2 * counts.len(), "Java output {row:?}");
            let show = show_key(Some(key));
            checked += 1;
            if i64::from(murmur2(key) as i32) != f[0] {
                bad.push(format!(
                    "murmur2 {show}: kafkac {} Java {}",
                    murmur2(key) as i32,
                    f[0]
                ));
            }
            for (i, &n) in counts.iter().enumerate() {
                let (utils, builtin) = (f[1 + 2 * i], f[2 + 2 * i]);
                for p in [Partitioner::Murmur2, Partitioner::Murmur2Random] {
                    let ours = p.key_partition(Some(key), n).map(i64::from);
                    checked += 2;
                    if ours != Some(utils) || ours != Some(builtin) {
                        bad.push(format!(
                            "{p} {show} of {n}: kafkac {ours:?}, Java toPositive(murmur2) % n \
                             {utils}, BuiltInPartitioner.partitionForKey {builtin}"
                        ));
                    }
                }
            }
        }
        assert_no_mismatch("murmur2 vs kafka-clients 4.3.1", checked, &bad);
    });
}

// ---------------------------------------------------------------------------
// librdkafka's partitioner functions
// ---------------------------------------------------------------------------

/// `tests/partitioners/rdkafka_partition.c` built against the system librdkafka into
/// `target/testbin/rdkafka_partition`.
fn rdkafka_partition_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = common::manifest_dir().join("tests/partitioners/rdkafka_partition.c");
        let bin = common::target_dir().join("testbin/rdkafka_partition");
        build_once(&src, &bin, |tmp| {
            let flags = common::rdkafka_flags()?;
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
            let mut cmd = Command::new(&cc);
            cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o"])
                .arg(tmp)
                .arg(&src)
                .args(&flags);
            checked_build(&cc, cmd)
        })
        .map(|()| bin)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn partitioner_functions_match_librdkafkas() {
    with_timeout(TEST_LIMIT, || {
        let bin = rdkafka_partition_binary();
        let counts: Vec<i32> = COUNTS.iter().chain(&WIDE_COUNTS).copied().collect();
        let names: Vec<&str> = Partitioner::ALL.iter().map(|p| p.name()).collect();
        // NULL, empty, a key whose raw FNV-1a is 0x80000000, librdkafka's own test keys,
        // then the generated ones.
        let mut input: Vec<Option<&[u8]>> = vec![
            None,
            Some(b""),
            Some(&[0xe7, 0xa3, 0x00, 0x6e, 0x79]),
            Some(b"23456"),
            Some(b"hejsan"),
            Some(b"this is another string with more length to it perhaps"),
        ];
        assert_eq!(fnv1a(input[2].unwrap()), 0x8000_0000);
        input.extend(keys().iter().map(|k| Some(k.as_slice())));
        let mut cmd = Command::new(&bin);
        cmd.arg(names.join(",")).args(counts_args(&counts));
        let lines: String = input.iter().map(|k| key_line(*k) + "\n").collect();
        let out = run("rdkafka_partition", cmd, lines);
        let mut rows = out.lines();
        let version = rows.next().unwrap_or_default();
        assert!(version.starts_with("librdkafka "), "first line {version:?}");
        let rows: Vec<&str> = rows.collect();
        assert_eq!(
            rows.len(),
            input.len(),
            "one line per key from rdkafka_partition"
        );

        let (mut checked, mut bad) = (0, Vec::new());
        for (key, row) in input.iter().zip(&rows) {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells.len(), names.len() * counts.len(), "output {row:?}");
            for (i, p) in Partitioner::ALL.iter().enumerate() {
                for (j, &n) in counts.iter().enumerate() {
                    let theirs = match cells[i * counts.len() + j] {
                        "r" => None,
                        c => Some(c.parse::<i32>().unwrap_or_else(|_| panic!("cell {c:?}"))),
                    };
                    let ours = p.key_partition(*key, n);
                    checked += 1;
                    if ours != theirs {
                        bad.push(format!(
                            "{p} {} of {n}: kafkac {ours:?}, librdkafka {theirs:?} (None: random)",
                            show_key(*key)
                        ));
                    }
                }
            }
        }
        assert_no_mismatch(
            &format!("partitioner functions vs {version}"),
            checked,
            &bad,
        );
    });
}

// ---------------------------------------------------------------------------
// librdkafka's producer
// ---------------------------------------------------------------------------

/// What `rdkafka_produce.py` reported: the librdkafka version, and per partitioner and
/// partition count, the partition of each key in the order sent.
struct Produced {
    version: String,
    runs: Vec<(Partitioner, i32, Vec<i32>)>,
}

/// Produces `input` with every partitioner through confluent-kafka to topics of a mock
/// cluster with each of [`COUNTS`] partitions.
fn produce_with_rdkafka(input: &[Option<&[u8]>], sticky_linger_ms: u64) -> Produced {
    let mut mock = MockCluster::start(1);
    let tag = format!("{}-{}", std::process::id(), unique());
    let topics: Vec<(String, i32)> = COUNTS
        .iter()
        .map(|&n| (format!("partitioners-{tag}-{n}"), n))
        .collect();
    for (t, n) in &topics {
        mock.create_topic(t, *n, 1);
    }
    let names: Vec<&str> = Partitioner::ALL.iter().map(|p| p.name()).collect();
    let topic_list: Vec<&str> = topics.iter().map(|(t, _)| t.as_str()).collect();
    let script = common::manifest_dir().join("tests/partitioners/rdkafka_produce.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg(&mock.bootstrap)
        .arg(names.join(","))
        .arg(topic_list.join(","))
        .arg(sticky_linger_ms.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let lines: String = input.iter().map(|k| key_line(*k) + "\n").collect();
    let out = run("rdkafka_produce.py (needs confluent-kafka)", cmd, lines);
    let mut rows = out.lines();
    let version = rows.next().unwrap_or_default().to_string();
    assert!(version.starts_with("librdkafka "), "first line {version:?}");
    let mut runs = Vec::new();
    for row in rows {
        let mut f = row.split_whitespace();
        let p: Partitioner = f
            .next()
            .unwrap_or_default()
            .parse()
            .expect("partitioner name");
        let topic = f.next().unwrap_or_default();
        let n = topics
            .iter()
            .find(|(t, _)| t == topic)
            .unwrap_or_else(|| panic!("unknown topic in {row:?}"))
            .1;
        let parts: Vec<i32> = f.map(|t| t.parse().expect("partition")).collect();
        assert_eq!(
            parts.len(),
            input.len(),
            "one partition per key for {p} {topic}"
        );
        runs.push((p, n, parts));
    }
    assert_eq!(
        runs.len(),
        names.len() * topics.len(),
        "a run per partitioner and topic"
    );
    Produced { version, runs }
}

/// For `runs` of `input`: every key with a partition of its own must be there; among the
/// others, the sticky ones (`is_sticky(key, linger)`) must share one partition per run, and
/// the random ones must spread over more than one where there is more than one.
fn check_produced(what: &str, input: &[Option<&[u8]>], linger: u64, produced: &Produced) {
    let (mut checked, mut bad) = (0, Vec::new());
    for (p, n, parts) in &produced.runs {
        let (p, n) = (*p, *n);
        let mut sticky = BTreeSet::new();
        let mut random = BTreeSet::new();
        let mut random_count = 0;
        for (key, &got) in input.iter().zip(parts) {
            checked += 1;
            if !(0..n).contains(&got) {
                bad.push(format!("{p} {} of {n}: partition {got}", show_key(*key)));
            } else if p.is_sticky(*key, linger) {
                sticky.insert(got);
            } else if let Some(want) = p.key_partition(*key, n) {
                if got != want {
                    bad.push(format!(
                        "{p} {} of {n}: kafkac {want}, librdkafka {got}",
                        show_key(*key)
                    ));
                }
            } else {
                random.insert(got);
                random_count += 1;
            }
        }
        if sticky.len() > 1 {
            bad.push(format!(
                "{p} of {n}: sticky records on partitions {sticky:?}"
            ));
        }
        if n > 1 && random_count >= 100 && random.len() < 2 {
            bad.push(format!(
                "{p} of {n}: {random_count} random records all on partitions {random:?}"
            ));
        }
    }
    assert_no_mismatch(&format!("{what} vs {}", produced.version), checked, &bad);
}

/// NULL and empty keys, [`KEYLESS`] of each, interleaved.
fn keyless() -> Vec<Option<&'static [u8]>> {
    (0..2 * KEYLESS)
        .map(|i| (i % 2 == 1).then_some(&b""[..]))
        .collect()
}

#[test]
fn producer_partitions_match_librdkafkas_with_sticky_partitioning() {
    with_timeout(TEST_LIMIT, || {
        // Longer than the test: one sticky partition per topic for the whole run.
        let linger = 900_000;
        let mut input = keyless();
        input.extend(keys().iter().map(|k| Some(k.as_slice())));
        let produced = produce_with_rdkafka(&input, linger);
        check_produced(
            "producer, sticky.partitioning.linger.ms 900000",
            &input,
            linger,
            &produced,
        );
        // What this run must have shown, so the checks above were not vacuous.
        let null = None;
        let empty = Some(&b""[..]);
        assert!(Partitioner::ConsistentRandom.is_sticky(empty, linger));
        assert!(Partitioner::Murmur2Random.is_sticky(null, linger));
        assert!(!Partitioner::Murmur2Random.is_sticky(empty, linger));
        assert!(!Partitioner::Random.is_sticky(empty, linger));
        assert!(!Partitioner::Murmur2.is_sticky(null, linger));
    });
}

#[test]
fn producer_draws_keyless_partitions_per_record_without_sticky_partitioning() {
    with_timeout(TEST_LIMIT, || {
        let input = keyless();
        let produced = produce_with_rdkafka(&input, 0);
        check_produced(
            "producer, sticky.partitioning.linger.ms 0",
            &input,
            0,
            &produced,
        );
    });
}
