//! What the tests of examples-c/txn.c share (`tests/txn_example.rs`, `tests/txn_kill.rs`):
//! the example built under the sanitizers, a copier process whose standard output is
//! read line by line as it runs, feeding the input and reading the output back.
#![allow(dead_code)]

use crate::clib::{self, Link};
use crate::common::client::{client, create_topic};
use crate::common::kafka::KafkaCluster;
use crate::common::{self, SANITIZE_FLAGS};
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::{Consumer, Event};
use kafkac::producer::{Message, Producer};
use kafkac::Config;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bound on each call the tests make.
pub const T: Duration = Duration::from_secs(30);

/// How often the coordinator looks for transactions past their timeout (the default is
/// 10 s).
pub const BROKER: &[(&str, &str)] = &[(
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "500",
)];

/// A single-node cluster formatted with `transaction.version=<version>` (2: the
/// default features of Kafka 4.3.1).
pub fn start_cluster(version: u8) -> KafkaCluster {
    match version {
        1 => KafkaCluster::start_formatted(1, &["transaction.version=1"], &[], BROKER),
        _ => KafkaCluster::start_formatted(1, &[], &[], BROKER),
    }
}

/// examples-c/txn.c built with [`SANITIZE_FLAGS`] against the static library, once per
/// test binary.
pub fn example() -> &'static PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = clib::bin_dir().join("txn");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = dir.join("txn");
        let src = clib::manifest_dir().join("examples-c/txn.c");
        clib::compile(&clib::cc(), &src, SANITIZE_FLAGS, Some(Link::Static), &out)?;
        Ok(out)
    })
    .as_ref()
    .unwrap_or_else(|e| panic!("{e}"))
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn config(bootstrap: &str, settings: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "20").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

/// Creates a topic of `partitions` partitions with a unique name.
pub fn topic(bootstrap: &str, prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    create_topic(&client(bootstrap), &name, partitions, 1, &[], T);
    name
}

/// Writes `values` to `topic` (value `i` to partition `i % partitions`, with key
/// `k<i>`), without transactions.
pub fn feed(bootstrap: &str, topic: &str, partitions: i32, values: &[String]) {
    let p = Producer::new(&config(bootstrap, &[("linger.ms", "20")])).unwrap();
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        p.send_blocking(
            &Message {
                topic,
                partition: i as i32 % partitions,
                key: Some(key.as_bytes()),
                value: Some(v.as_bytes()),
                ..Default::default()
            },
            T,
        )
        .unwrap_or_else(|e| panic!("send {v}: {e}"));
    }
    p.flush(T, |r| assert!(r.error.is_none(), "feed: {:?}", r.error))
        .unwrap();
    p.close(T);
}

/// Writes `marker` to every partition of `topic` in a committed transaction.
pub fn mark(bootstrap: &str, topic: &str, partitions: i32, marker: &str) {
    let p = Producer::new(&config(
        bootstrap,
        &[("transactional.id", &unique("marker"))],
    ))
    .unwrap();
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    for part in 0..partitions {
        p.send_blocking(
            &Message {
                topic,
                partition: part,
                value: Some(marker.as_bytes()),
                ..Default::default()
            },
            T,
        )
        .unwrap();
    }
    p.commit_transaction(T, |_| {}).unwrap();
    p.close(T);
}

/// The values of `topic` by partition, read with `isolation.level=<isolation>` from
/// the start until `marker` has been read from every partition.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
    marker: &str,
    limit: Duration,
) -> Vec<Vec<String>> {
    let c = Consumer::new(&config(
        bootstrap,
        &[("isolation.level", isolation), ("group.id", &unique("rd"))],
    ))
    .unwrap();
    let parts: Vec<(TopicPartition, Option<i64>)> = (0..partitions)
        .map(|p| (TopicPartition::new(topic, p), Some(0)))
        .collect();
    c.assign(&parts).unwrap();
    let mut out = vec![Vec::new(); partitions as usize];
    let mut done = vec![false; partitions as usize];
    let until = Instant::now() + limit;
    while done.iter().any(|d| !d) {
        assert!(
            Instant::now() < until,
            "{topic} ({isolation}): the marker '{marker}' was not read from every \
             partition within {limit:?} (done: {done:?})"
        );
        for e in c.poll_batch(10_000, Duration::from_millis(200)) {
            match e {
                Event::Message(m) => {
                    let p = m.partition() as usize;
                    let v = String::from_utf8_lossy(m.value().unwrap_or_default()).into_owned();
                    if v == marker {
                        done[p] = true;
                    } else {
                        assert!(!done[p], "{topic}/{p}: '{v}' after the marker");
                        out[p].push(v);
                    }
                }
                Event::Error { error, fatal, .. } => assert!(!fatal, "reader: {error}"),
            }
        }
    }
    c.close(T).unwrap();
    out
}

/// What the copy of `values` fed with [`feed`] must be, by output partition: value
/// `i` is at offset `i / partitions` of partition `i % partitions`, and its copy is
/// `"<partition>:<offset>:<value>"`.
pub fn expected_copy(values: &[String], partitions: i32) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); partitions as usize];
    for (i, v) in values.iter().enumerate() {
        let p = i % partitions as usize;
        let o = out[p].len();
        out[p].push(format!("{p}:{o}:{v}"));
    }
    out
}

/// A running copier (examples-c/txn.c): its standard output comes line by line.
pub struct Copier {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

/// How a copier ended.
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Ended {
    /// Records in the transactions committed (`committed <n>` lines).
    pub fn committed_records(&self) -> u64 {
        count(&self.stdout, "committed ")
    }
}

/// The sum of `<n>` over the lines `<prefix><n>`, and the number of such lines.
pub fn sum_and_lines(lines: &[String], prefix: &str) -> (u64, u64) {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|n| n.parse::<u64>().unwrap_or_else(|_| panic!("bad line {n}")))
        .fold((0, 0), |(s, c), n| (s + n, c + 1))
}

fn count(lines: &[String], prefix: &str) -> u64 {
    sum_and_lines(lines, prefix).0
}

impl Copier {
    /// Starts `txn <bootstrap> <input> <output> <group> <id> <args...>` under the
    /// sanitizers.
    pub fn start(
        bootstrap: &str,
        input: &str,
        output: &str,
        group: &str,
        id: &str,
        args: &[&str],
    ) -> Copier {
        let mut cmd = Command::new(example());
        cmd.args([bootstrap, input, output, group, id])
            .args(args)
            .arg("-X")
            .arg("retry.backoff.ms=20")
            .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = common::spawn_guarded(cmd).expect("start examples-c/txn");
        let out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }));
        Copier {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Waits up to `limit` for a line that `pred` accepts (and returns it); `None` when
    /// the output ended or the time ran out first.
    pub fn wait_line(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }

    /// Sends `sig` to the copier.
    pub fn signal(&mut self, sig: libc::c_int) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, not reaped yet.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, sig);
            }
        }
    }

    /// Waits up to `limit` for the copier to exit (killing it after that, and failing
    /// the test), and returns its whole output. Any sanitizer report fails the test.
    pub fn wait(mut self, limit: Duration) -> Ended {
        let until = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait for the copier") {
                break Some(st);
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let Some(status) = status else {
            panic!(
                "the copier was still running after {limit:?}\nstdout:\n{}\nstderr:\n{stderr}",
                self.seen.join("\n")
            );
        };
        for report in [
            "AddressSanitizer",
            "LeakSanitizer",
            "UndefinedBehaviorSanitizer",
            "runtime error:",
            "panicked at",
        ] {
            assert!(
                !stderr.contains(report),
                "{report} in the copier's stderr ({status}):\n{stderr}"
            );
        }
        Ended {
            status,
            stdout: std::mem::take(&mut self.seen),
            stderr,
        }
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
