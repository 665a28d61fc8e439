//! Exactly once across process kills: examples-c/txn.c (built under the sanitizers)
//! copies a topic of numbered records in transactions of 1,000, with the input offsets
//! in each transaction, against Apache Kafka 4.3.1 (`transaction.version=2`). The
//! copying process is killed with SIGKILL at random points — while it starts, in the
//! middle of a transaction, during a commit — and started again, which fences what the
//! killed one left and resumes from the last committed offsets. Once the last copier
//! has copied everything and exited, a `read_committed` reader of the output must see
//! every input record exactly once, in order: no duplicate, no gap.
//!
//! The suite runs 50,000 records (3 partitions) and 10 kills. `KAFKAC_TXN_KILL_RECORDS`,
//! `KAFKAC_TXN_KILLS`, `KAFKAC_TXN_KILL_SEED` and `KAFKAC_TXN_KILL_VERSION` (1 or 2)
//! change that: `scripts/txn-kill.sh` runs 1,000,000 records and 20 kills.

mod clib;
mod common;
mod txn_c;

use common::with_timeout;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use txn_c::{feed, mark, read_all, start_cluster, sum_and_lines, topic, unique, Copier};

const PARTITIONS: i32 = 3;
const PER_TXN: usize = 1000;

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The record numbered `i` (9 digits, so the values sort as the numbers do).
fn value(i: u64) -> String {
    format!("{i:09}")
}

fn kill_run(records: u64, kills: u64, seed: u64, version: u8) {
    let started = Instant::now();
    txn_c::example();
    let cluster = start_cluster(version);
    let b = cluster.bootstrap.clone();
    let input = topic(&b, "kill-in", PARTITIONS);
    let output = topic(&b, "kill-out", PARTITIONS);
    let group = unique("kill-group");
    let id = unique("kill-id");
    let values: Vec<String> = (0..records).map(value).collect();
    let fed_at = Instant::now();
    feed(&b, &input, PARTITIONS, &values);
    let feed_took = fed_at.elapsed();
    drop(values);

    let mut rng = Rng(seed | 1);
    let per_txn = PER_TXN.to_string();
    let args = ["-n", per_txn.as_str(), "-i", "200", "-e"];
    // Kills are spread over the run: each incarnation is killed after it committed a
    // random number of transactions (up to its share of what is left), then a random
    // time more, so that the kill lands anywhere: while it starts, in a transaction, in
    // a commit.
    let (mut committed_txns, mut aborted_txns, mut committed_records) = (0u64, 0u64, 0u64);
    let mut killed = 0;
    // Kills of a copier that had records left to copy when it started.
    let mut mid_copy = 0;
    let mut starts = Vec::new();
    let copy_at = Instant::now();
    let run_limit = Duration::from_secs(120 + records / 2000);
    while killed < kills {
        let mut c = Copier::start(&b, &input, &output, &group, &id, &args);
        let left_records = records.saturating_sub(committed_records);
        let left = left_records / PER_TXN as u64;
        let wait_txns = rng.below(left / (kills - killed + 1) + 1);
        let mut seen = 0;
        let mut done = false;
        while seen < wait_txns {
            match c.wait_line(run_limit, |l| l.starts_with("committed ")) {
                Some(_) => seen += 1,
                None => {
                    done = true;
                    break;
                }
            }
        }
        if !done {
            // A transaction of 1,000 takes some tens of milliseconds.
            std::thread::sleep(Duration::from_millis(rng.below(80)));
            c.signal(libc::SIGKILL);
        }
        let r = c.wait(run_limit);
        if let Some(s) = r.stdout.first() {
            starts.push(s.clone());
        }
        let (n, t) = sum_and_lines(&r.stdout, "committed ");
        committed_records += n;
        committed_txns += t;
        aborted_txns += sum_and_lines(&r.stdout, "aborted ").1;
        if done || r.status.code().is_some() {
            // It finished (everything copied) before the kill.
            assert!(
                r.status.success(),
                "a copier failed: {}\n{}",
                r.status,
                r.stderr
            );
            break;
        }
        killed += 1;
        if left_records > 0 {
            mid_copy += 1;
        }
    }
    // The last one copies what is left and exits.
    let r = Copier::start(&b, &input, &output, &group, &id, &args).wait(run_limit);
    assert!(
        r.status.success(),
        "the last copier: {}\n{}\n{}",
        r.status,
        r.stdout.join("\n"),
        r.stderr
    );
    let (n, t) = sum_and_lines(&r.stdout, "committed ");
    committed_records += n;
    committed_txns += t;
    aborted_txns += sum_and_lines(&r.stdout, "aborted ").1;
    let copy_took = copy_at.elapsed();
    assert_eq!(
        killed, kills,
        "the copy ended after {killed} of {kills} kills: use more records"
    );

    mark(&b, &output, PARTITIONS, "end");
    let read_limit = Duration::from_secs(60 + records / 5000);
    let got = read_all(&b, &output, PARTITIONS, "read_committed", "end", read_limit);
    // Check: every record once (its number), each copy where its input was (partition
    // and offset), in order.
    let mut numbers = HashSet::with_capacity(records as usize);
    let (mut total, mut duplicates, mut misplaced) = (0u64, 0u64, 0u64);
    for (p, vals) in got.iter().enumerate() {
        for (o, v) in vals.iter().enumerate() {
            total += 1;
            let mut it = v.splitn(3, ':');
            let (vp, vo, vn) = (it.next(), it.next(), it.next());
            let n: u64 = vn
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{p}/{o}: bad copy {v:?}"));
            if !numbers.insert(n) {
                duplicates += 1;
            }
            // Record n went to partition n % 3 at offset n / 3.
            let want_p = (n % PARTITIONS as u64).to_string();
            let want_o = (n / PARTITIONS as u64).to_string();
            if vp != Some(want_p.as_str())
                || vo != Some(want_o.as_str())
                || (o as u64) != n / PARTITIONS as u64
            {
                misplaced += 1;
            }
        }
    }
    let lost = records - numbers.iter().filter(|&&n| n < records).count() as u64;
    eprintln!(
        "txn kill run (protocol v{version}, seed {seed}): {records} records, {kills} kills \
         (SIGKILL; {mid_copy} with records left to copy), {committed_txns} transactions committed ({committed_records} records) and \
         {aborted_txns} aborted as reported by the copiers (a kill between the commit and \
         its line hides one), output: {total} records, duplicates={duplicates}, \
         lost={lost}, misplaced={misplaced}; feed {:.1} s, copy with kills {:.1} s, wall \
         {:.1} s\nresumed at: {}",
        feed_took.as_secs_f64(),
        copy_took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        starts.join(" | ")
    );
    assert_eq!(duplicates, 0, "duplicates in the committed output");
    assert_eq!(lost, 0, "input records missing from the committed output");
    assert_eq!(misplaced, 0, "copies out of place or out of order");
    assert_eq!(total, records);
    // The kills were spread over the copy, not spent after its end.
    assert!(
        mid_copy * 2 >= kills,
        "only {mid_copy} of {kills} kills came before the copy was done: {starts:?}"
    );
}

#[test]
fn copy_is_exactly_once_across_sigkills() {
    let records = env_or("KAFKAC_TXN_KILL_RECORDS", 50_000);
    let kills = env_or("KAFKAC_TXN_KILLS", 10);
    let version = env_or("KAFKAC_TXN_KILL_VERSION", 2) as u8;
    let seed = env_or(
        "KAFKAC_TXN_KILL_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    eprintln!("KAFKAC_TXN_KILL_SEED={seed}");
    let limit = Duration::from_secs(240 + records / 500 + kills * 30);
    with_timeout(limit, move || kill_run(records, kills, seed, version));
}
