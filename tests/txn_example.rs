//! examples-c/txn.c, the consume-transform-produce example, built with
//! `-std=c99 -Wall -Wextra -Wpedantic -Werror` under AddressSanitizer (with
//! LeakSanitizer) and UndefinedBehaviorSanitizer, against Apache Kafka 4.3.1 formatted
//! with each transaction protocol (`transaction.version` 2 and 1):
//!
//! * it copies a topic in transactions, aborting every third one (`-A 3`): a
//!   `read_committed` reader of the output sees every input record exactly once, in
//!   order, and a `read_uncommitted` one also what the aborted transactions wrote; run
//!   again it resumes from the committed offsets and copies only what is new;
//! * a second copier with the same `transactional.id` fences the first: the first exits
//!   with a fatal error, and nothing it wrote after being fenced is visible;
//! * its usage and configuration errors, and a missing input topic.
//!
//! One cluster per protocol for the whole binary (started when first used); every wait
//! is bounded, and any sanitizer report fails the test.

mod clib;
mod common;
mod txn_c;

use common::kafka::KafkaCluster;
use common::with_timeout;
use std::sync::OnceLock;
use std::time::Duration;
use txn_c::{
    expected_copy, feed, mark, read_all, start_cluster, sum_and_lines, topic, unique, Copier,
};

const TEST_LIMIT: Duration = Duration::from_secs(300);
/// Longest one run of the example may take.
const RUN_LIMIT: Duration = Duration::from_secs(90);

fn cluster(version: u8) -> &'static KafkaCluster {
    static V1: OnceLock<KafkaCluster> = OnceLock::new();
    static V2: OnceLock<KafkaCluster> = OnceLock::new();
    match version {
        1 => V1.get_or_init(|| start_cluster(1)),
        _ => V2.get_or_init(|| start_cluster(2)),
    }
}

fn values(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("v{i}")).collect()
}

/// The summary line: `copied <n> records in <t> transactions, <a> aborted, ...`.
fn summary(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("copied "))
        .unwrap_or_else(|| panic!("no summary in stderr:\n{stderr}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let n = |i: usize| -> u64 {
        words[i]
            .parse()
            .unwrap_or_else(|_| panic!("summary: {line}"))
    };
    assert_eq!(
        (words[0], words[2], words[3], words[5], words[7]),
        ("copied", "records", "in", "transactions", "aborted"),
        "{line}"
    );
    (n(1), n(4), n(6))
}

fn copy_commit_and_abort(version: u8) {
    txn_c::example();
    let b = cluster(version).bootstrap.clone();
    let input = topic(&b, "txn-in", 3);
    let output = topic(&b, "txn-out", 3);
    let group = unique("txn-group");
    let id = unique("txn-id");
    let first = values(0, 3000);
    feed(&b, &input, 3, &first);

    // Transactions of 100 records, every third aborted and its records copied again.
    let r = Copier::start(
        &b,
        &input,
        &output,
        &group,
        &id,
        &["-n", "100", "-A", "3", "-e"],
    )
    .wait(RUN_LIMIT);
    assert!(
        r.status.success(),
        "{}\n{}\n{}",
        r.status,
        r.stdout.join("\n"),
        r.stderr
    );
    assert_eq!(r.stdout[0], "start 0:0 1:0 2:0");
    let (committed, commits) = sum_and_lines(&r.stdout, "committed ");
    let (aborted, aborts) = sum_and_lines(&r.stdout, "aborted ");
    assert_eq!(committed, 3000, "{}", r.stdout.join("\n"));
    assert_eq!(r.stdout.len() as u64, 1 + commits + aborts);
    assert!(aborts >= 1 && aborted >= 1, "{}", r.stdout.join("\n"));
    // Every third transaction aborted (the last, cut short at the end, may be either).
    let ends = commits + aborts;
    assert!(
        aborts >= ends / 3 - 1 && aborts <= ends / 3,
        "{aborts} of {ends}"
    );
    assert_eq!(summary(&r.stderr), (3000, commits, aborts), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    mark(&b, &output, 3, "end");
    let got = read_all(&b, &output, 3, "read_committed", "end", txn_c::T);
    assert!(
        got == expected_copy(&first, 3),
        "read_committed: the output is not the input exactly once, in order:\n{got:?}"
    );
    // What the aborted transactions wrote is in the log (some of it may have been
    // purged from the queue before it was sent); read_uncommitted readers see it.
    let raw = read_all(&b, &output, 3, "read_uncommitted", "end", txn_c::T);
    let raw_n: usize = raw.iter().map(Vec::len).sum();
    assert!(
        raw_n as u64 >= 3000 && raw_n as u64 <= 3000 + aborted,
        "read_uncommitted: {raw_n} records, {aborted} aborted"
    );
    for (p, (all, ok)) in raw.iter().zip(&got).enumerate() {
        let mut rest = ok.iter().peekable();
        for v in all {
            if rest.peek() == Some(&v) {
                rest.next();
            }
        }
        assert!(
            rest.peek().is_none(),
            "partition {p}: committed copies out of order"
        );
    }

    // Again: nothing new to copy, it resumes at the end.
    let r = Copier::start(&b, &input, &output, &group, &id, &["-e"]).wait(RUN_LIMIT);
    assert!(r.status.success(), "{}\n{}", r.status, r.stderr);
    assert_eq!(r.stdout, ["start 0:1000 1:1000 2:1000"]);
    assert_eq!(summary(&r.stderr), (0, 0, 0));

    // New input: only it is copied.
    let second = values(3000, 3600);
    feed(&b, &input, 3, &second);
    let r = Copier::start(&b, &input, &output, &group, &id, &["-n", "250", "-e"]).wait(RUN_LIMIT);
    assert!(r.status.success(), "{}\n{}", r.status, r.stderr);
    assert_eq!(r.stdout[0], "start 0:1000 1:1000 2:1000");
    assert_eq!(r.committed_records(), 600);
    assert_eq!(summary(&r.stderr).0, 600);
    mark(&b, &output, 3, "end2");
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let mut want = expected_copy(&all, 3);
    for w in &mut want {
        // The first marker sits between the two copies.
        w.insert(1000, "end".into());
    }
    let got = read_all(&b, &output, 3, "read_committed", "end2", txn_c::T);
    assert!(got == want, "after the second copy:\n{got:?}");
}

#[test]
fn v2_copies_exactly_once_and_aborted_copies_stay_hidden() {
    with_timeout(TEST_LIMIT, || copy_commit_and_abort(2));
}

#[test]
fn v1_copies_exactly_once_and_aborted_copies_stay_hidden() {
    with_timeout(TEST_LIMIT, || copy_commit_and_abort(1));
}

/// A second copier with the same transactional.id fences the first: the first exits
/// (status 1) with a fatal error as soon as it tries to write, the second copies what
/// came after, and the output holds every input record exactly once.
fn fencing(version: u8) {
    txn_c::example();
    let b = cluster(version).bootstrap.clone();
    let input = topic(&b, "fence-in", 1);
    let output = topic(&b, "fence-out", 1);
    let group = unique("fence-group");
    let id = unique("fence-id");
    let first = values(0, 100);
    feed(&b, &input, 1, &first);

    let mut a = Copier::start(&b, &input, &output, &group, &id, &["-i", "50"]);
    assert_eq!(
        a.wait_line(RUN_LIMIT, |l| l.starts_with("start"))
            .as_deref(),
        Some("start 0:0")
    );
    let mut copied = 0;
    while copied < 100 {
        let l = a
            .wait_line(RUN_LIMIT, |l| l.starts_with("committed "))
            .unwrap_or_else(|| panic!("first copier: {:?}", a.seen));
        copied += l["committed ".len()..].parse::<u64>().unwrap();
    }
    assert_eq!(copied, 100);

    // The second one fences the first when it starts, and resumes where it stopped.
    let mut b2 = Copier::start(&b, &input, &output, &group, &id, &["-i", "50"]);
    assert_eq!(
        b2.wait_line(RUN_LIMIT, |l| l.starts_with("start"))
            .as_deref(),
        Some("start 0:100")
    );
    let second = values(100, 200);
    feed(&b, &input, 1, &second);
    // Both read the new records; only the second may commit them.
    let ra = a.wait(RUN_LIMIT);
    assert_eq!(
        ra.status.code(),
        Some(1),
        "the fenced copier: {}\n{}",
        ra.stdout.join("\n"),
        ra.stderr
    );
    let fatal = ra
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{}", ra.stderr));
    assert!(
        fatal.starts_with("error: PRODUCER_FENCED: ")
            || fatal.starts_with("error: INVALID_PRODUCER_EPOCH: "),
        "{}",
        ra.stderr
    );
    let last_error = ra
        .stderr
        .lines()
        .rfind(|l| l.starts_with("error: "))
        .unwrap();
    assert!(last_error.ends_with("(fatal)"), "{}", ra.stderr);
    assert_eq!(summary(&ra.stderr).0, 100, "{}", ra.stderr);

    let mut copied = 0;
    while copied < 100 {
        let l = b2
            .wait_line(RUN_LIMIT, |l| l.starts_with("committed "))
            .unwrap_or_else(|| panic!("second copier: {:?}", b2.seen));
        copied += l["committed ".len()..].parse::<u64>().unwrap();
    }
    // SIGTERM: a clean exit.
    b2.signal(libc::SIGTERM);
    let rb = b2.wait(RUN_LIMIT);
    assert!(rb.status.success(), "{}\n{}", rb.status, rb.stderr);
    assert_eq!(summary(&rb.stderr), (100, rb.stdout.len() as u64 - 1, 0));

    mark(&b, &output, 1, "end");
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let got = read_all(&b, &output, 1, "read_committed", "end", txn_c::T);
    assert!(
        got == expected_copy(&all, 1),
        "the output is not the input exactly once:\n{got:?}"
    );
}

#[test]
fn v2_second_copier_fences_the_first() {
    with_timeout(TEST_LIMIT, || fencing(2));
}

#[test]
fn v1_second_copier_fences_the_first() {
    with_timeout(TEST_LIMIT, || fencing(1));
}

/// Runs the example with `args` (no broker needed) and returns (exit code, stderr).
fn run_offline(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(txn_c::example());
    cmd.args(args)
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    let done = common::run_bounded(cmd, None, RUN_LIMIT).expect("run examples-c/txn");
    let err = done.stderr_text();
    for report in ["Sanitizer", "runtime error:", "panicked at"] {
        assert!(!err.contains(report), "{args:?}: {err}");
    }
    assert!(done.stdout.is_empty(), "{args:?}: stdout {:?}", done.stdout);
    (done.status.and_then(|s| s.code()), err)
}

#[test]
fn usage_and_configuration_errors() {
    with_timeout(TEST_LIMIT, || {
        let base = ["127.0.0.1:1", "in", "out", "g", "id"];
        let (code, err) = run_offline(&base[..4]);
        assert_eq!(code, Some(2));
        assert!(
            err.starts_with("usage: txn <bootstrap> <input> <output> <group>"),
            "{err}"
        );
        let (code, err) = run_offline(&[&base[..], &["-q"]].concat());
        assert_eq!(code, Some(2));
        assert!(err.starts_with("usage: "), "{err}");
        let (code, err) = run_offline(&[&base[..], &["-n", "0"]].concat());
        assert_eq!(code, Some(2));
        assert_eq!(
            err,
            "error: _INVALID_ARG: -n must be at least 1, -i and -A at least 0\n"
        );
        let (code, err) = run_offline(&[&base[..], &["-n", "x"]].concat());
        assert_eq!(code, Some(2));
        assert_eq!(err, "error: _INVALID_ARG: -n must be an integer, got 'x'\n");
        let (code, err) = run_offline(&[&base[..], &["-X", "no.such.property=1"]].concat());
        assert_eq!(code, Some(2));
        assert!(
            err.starts_with("error: _UNKNOWN_CONFIG: ") && err.contains("no.such.property"),
            "{err}"
        );
        // transaction.timeout.ms below message.timeout.ms set by hand: the producer
        // refuses the configuration.
        let (code, err) = run_offline(
            &[
                &base[..],
                &[
                    "-X",
                    "transaction.timeout.ms=1000",
                    "-X",
                    "message.timeout.ms=5000",
                ],
            ]
            .concat(),
        );
        assert_eq!(code, Some(2));
        assert!(
            err.starts_with("error: _INVALID_CONFIG: ") && err.contains("message.timeout.ms"),
            "{err}"
        );
    })
}

#[test]
fn missing_input_topic_is_an_error() {
    with_timeout(TEST_LIMIT, || {
        txn_c::example();
        let b = cluster(2).bootstrap.clone();
        let r =
            Copier::start(&b, "no-such-input", "out", "g", &unique("id"), &["-e"]).wait(RUN_LIMIT);
        assert_eq!(r.status.code(), Some(1), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{:?}", r.stdout);
        assert!(
            r.stderr.starts_with(
                "error: UNKNOWN_TOPIC_OR_PARTITION: topic 'no-such-input': \
                 The broker does not host this topic or partition.\n"
            ),
            "{}",
            r.stderr
        );
    })
}
