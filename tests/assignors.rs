//! kafkac's partition assignors against the Java client's own (kafka-clients 4.3.1:
//! `RangeAssignor`, `RoundRobinAssignor`, `CooperativeStickyAssignor`), run by
//! `tests/assignors/JavaAssignor.java` on the same cases: [`CASES`] groups generated from a
//! fixed seed, with 1 to 10 members, 1 to 8 topics of 1 to 50 partitions, equal and
//! uneven subscriptions (some to topics that do not exist), static members, racks, and
//! owned partitions from an earlier assignment (of the current generation, of older
//! ones, of no generation; some of topics the member left; a few claimed twice in one
//! generation).
//!
//! * `range` and `roundrobin` must match Java exactly on every case.
//! * `cooperative-sticky` must match Java exactly where Java's result follows from the
//!   input alone. The Java program hands the subscriptions over in member-id order (as
//!   kafkac takes them), but when all subscriptions are equal Java also walks a `HashMap`
//!   of member ids: the members that keep one partition over the minimum quota are the
//!   first in hash order, where kafkac takes them in member-id order. Those cases are
//!   compared exactly only when the ids' hash order is their sorted order. Every case, exact or not, is also checked for the
//!   sticky assignor's promises, on Java's result and on kafkac's: each partition of a
//!   subscribed topic assigned once to a subscribed member (withheld only when another
//!   member owns it now); loads within one of each other among members with the same
//!   subscription; no member losing a partition it rightly owns to a member with two
//!   more; and kafkac moving no more owned partitions than Java.
//!
//! The Java program is compiled and run within time limits; a missing JDK or Kafka jar
//! fails the test.

mod common;

use common::{kafka, run_bounded, with_timeout};
use kafkac::consumer::assignor::{
    cooperative_sticky, Assignment, Assignor, Member, PartitionCounts, TopicPartition,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// How many groups the comparison covers.
const CASES: usize = 600;
/// Limit of the whole test, including compiling the Java program.
const TEST_LIMIT: Duration = Duration::from_secs(300);
/// Limit of `javac`.
const BUILD_LIMIT: Duration = Duration::from_secs(120);
/// Limit of one run of the Java program.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// How many mismatches an assertion lists.
const SHOWN: usize = 8;

// ---------------------------------------------------------------------------
// Cases
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

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

struct Case {
    members: Vec<Member>,
    counts: PartitionCounts,
}

const TOPIC_NAMES: [&str; 10] = [
    "orders",
    "t0",
    "t1",
    "payments.v2",
    "clicks_raw",
    "a",
    "z-last",
    "Upper",
    "t10",
    "logs",
];

fn generate(rng: &mut SplitMix) -> Case {
    let topic_count = rng.range(1, 8);
    let mut names: Vec<&str> = TOPIC_NAMES.to_vec();
    for i in (1..names.len()).rev() {
        let j = rng.range(0, i);
        names.swap(i, j);
    }
    let topics: Vec<&str> = names[..topic_count].to_vec();
    let counts: PartitionCounts = topics
        .iter()
        .map(|t| (t.to_string(), rng.range(1, 50) as i32))
        .collect();

    // Member ids: short ones (which a Java HashMap often iterates in sorted order) or
    // client-style ones with a random suffix.
    let n = rng.range(1, 10);
    let style = rng.range(0, 2);
    let mut ids: Vec<String> = Vec::new();
    while ids.len() < n {
        let id = match style {
            0 => format!("m{}", ids.len()),
            1 => format!("{}", (b'a' + rng.range(0, 25) as u8) as char),
            _ => format!("consumer-{}-{:08x}", rng.range(1, 3), rng.next() as u32),
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    // Equal subscriptions (all topics, sometimes plus one unknown) or uneven ones.
    let equal = rng.chance(45);
    let unknown = rng.chance(15);
    let mut members: Vec<Member> = ids
        .iter()
        .map(|id| {
            let mut subscribed: Vec<String> = if equal {
                topics.iter().map(|t| t.to_string()).collect()
            } else {
                let mut s: Vec<String> = topics
                    .iter()
                    .filter(|_| rng.chance(55))
                    .map(|t| t.to_string())
                    .collect();
                if s.is_empty() {
                    s.push(rng.pick(&topics).to_string());
                }
                s
            };
            if unknown {
                subscribed.push("not-there".to_string());
            }
            let mut m = Member::new(id.as_str(), subscribed);
            if rng.chance(25) {
                m.group_instance_id = Some(format!("instance-{:04}", rng.range(0, 9999)));
            }
            if rng.chance(20) {
                m.rack = Some(format!("rack{}", rng.range(0, 2)));
            }
            m
        })
        .collect();
    // Distinct instance ids.
    let mut seen = BTreeSet::new();
    for m in &mut members {
        if let Some(i) = &m.group_instance_id {
            if !seen.insert(i.clone()) {
                m.group_instance_id = None;
            }
        }
    }
    give_owned_partitions(rng, &mut members, &counts);
    Case { members, counts }
}

/// Owned partitions as an earlier rebalance left them: an assignment of (most of) the
/// partitions among some of the members, in the current generation; some members of
/// older generations with stale claims, some with no generation.
fn give_owned_partitions(rng: &mut SplitMix, members: &mut [Member], counts: &PartitionCounts) {
    if rng.chance(15) {
        return; // A new group.
    }
    let generation = rng.range(1, 20) as i32;
    let n = members.len();
    let previous: Vec<usize> = (0..n).filter(|_| rng.chance(75)).collect();
    if previous.is_empty() {
        return;
    }
    for (topic, &count) in counts {
        // Partitions added since then are nobody's.
        let known = if rng.chance(20) {
            rng.range(0, count as usize) as i32
        } else {
            count
        };
        for p in 0..known {
            let mut owner = *rng.pick(&previous);
            // Mostly to a member subscribed now; sometimes to one that left the topic.
            if !members[owner].topics.contains(topic) && rng.chance(70) {
                if let Some(&o) = previous
                    .iter()
                    .find(|&&o| members[o].topics.contains(topic))
                {
                    owner = o;
                }
            }
            members[owner]
                .owned_partitions
                .push(TopicPartition::new(topic.as_str(), p));
        }
    }
    for &i in &previous {
        members[i].generation = Some(generation);
    }
    // Older generations: stale claims on partitions of topics they still subscribe to.
    for m in members.iter_mut() {
        if m.generation.is_none() && rng.chance(30) {
            let old = generation - rng.range(1, 3) as i32;
            m.generation = (old >= 0 && rng.chance(80)).then_some(old);
            let topics: Vec<String> = m
                .topics
                .iter()
                .filter(|t| counts.contains_key(*t))
                .cloned()
                .collect();
            for t in &topics {
                for p in 0..counts[t] {
                    if rng.chance(25) {
                        m.owned_partitions.push(TopicPartition::new(t.as_str(), p));
                    }
                }
            }
        }
    }
    // Now and then one partition claimed twice in the current generation.
    if previous.len() >= 2 && rng.chance(8) {
        let (a, b) = (previous[0], previous[1]);
        if let Some(tp) = members[a].owned_partitions.first().cloned() {
            if !members[b].owned_partitions.contains(&tp) {
                members[b].owned_partitions.push(tp);
            }
        }
    }
    for m in members.iter_mut() {
        let len = m.owned_partitions.len();
        for i in (1..len).rev() {
            let j = rng.range(0, i);
            m.owned_partitions.swap(i, j);
        }
    }
}

fn cases() -> &'static [Case] {
    static CASES_: OnceLock<Vec<Case>> = OnceLock::new();
    CASES_.get_or_init(|| {
        let mut rng = SplitMix(0x6173_7369_676e);
        (0..CASES).map(|_| generate(&mut rng)).collect()
    })
}

fn case_text(id: usize, case: &Case) -> String {
    let mut s = format!("case {id}\n");
    for (t, n) in &case.counts {
        let _ = writeln!(s, "topic {t} {n}");
    }
    let or_dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
    for m in &case.members {
        let owned: Vec<String> = m
            .owned_partitions
            .iter()
            .map(|tp| format!("{}:{}", tp.topic, tp.partition))
            .collect();
        let _ = writeln!(
            s,
            "member {} {} {} {} {} {}",
            m.member_id,
            m.group_instance_id.as_deref().unwrap_or("-"),
            m.generation.unwrap_or(-1),
            m.rack.as_deref().unwrap_or("-"),
            or_dash(m.topics.join(",")),
            or_dash(owned.join(",")),
        );
    }
    s.push_str("end\n");
    s
}

// ---------------------------------------------------------------------------
// The Java client
// ---------------------------------------------------------------------------

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

/// `tests/assignors/JavaAssignor.java` compiled into `target/testbin/assignors-java`
/// (into a private directory first, renamed into place: test binaries may run at once).
fn java_classes() -> PathBuf {
    let src = common::manifest_dir().join("tests/assignors/JavaAssignor.java");
    let dir = common::target_dir().join("testbin/assignors-java");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(&src).unwrap_or_else(|| panic!("no {}", src.display()));
    if mtime(&dir.join("JavaAssignor.class")).is_some_and(|t| t >= src_time) {
        return dir;
    }
    let tmp = dir.with_extension(format!("{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let mut cmd = Command::new("javac");
    cmd.args(["-encoding", "UTF-8", "-cp"])
        .arg(kafka::classpath())
        .arg("-d")
        .arg(&tmp)
        .arg(&src);
    if let Err(e) = checked_build("javac (a JDK is required)", cmd) {
        let _ = fs::remove_dir_all(&tmp);
        panic!("{e}");
    }
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).unwrap_or_else(|e| panic!("rename to {}: {e}", dir.display()));
    dir
}

/// Java's results per case: assignor name to its assignment, or to the exception.
type JavaResults = Vec<BTreeMap<String, Result<Assignment, String>>>;

fn run_java(cases: &[Case]) -> JavaResults {
    let classes = java_classes();
    let mut cmd = Command::new("java");
    cmd.args([
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
    ])
    .arg(format!("{}:{}", classes.display(), kafka::classpath()))
    .arg("JavaAssignor");
    let input: String = cases
        .iter()
        .enumerate()
        .map(|(i, c)| case_text(i, c))
        .collect();
    let done = run_bounded(cmd, Some(input.into_bytes()), RUN_LIMIT)
        .unwrap_or_else(|e| panic!("cannot run java (a JDK is required): {e}"));
    let out = match done.status {
        Some(st) if st.success() => String::from_utf8(done.stdout).expect("UTF-8 output"),
        st => panic!(
            "java JavaAssignor {}:\n{}",
            st.map_or_else(
                || format!("timed out after {RUN_LIMIT:?}"),
                |s| format!("failed ({s})")
            ),
            done.stderr_text()
        ),
    };
    let mut results: JavaResults = Vec::new();
    let mut current: Option<BTreeMap<String, Result<Assignment, String>>> = None;
    for line in out.lines() {
        let f: Vec<&str> = line.splitn(3, ' ').collect();
        match f[0] {
            "case" => {
                assert_eq!(f[1], results.len().to_string(), "cases in order");
                current = Some(BTreeMap::new());
            }
            "end" => results.push(current.take().expect("a case")),
            "error" => {
                let c = current.as_mut().expect("a case");
                c.insert(f[1].to_string(), Err(f.get(2).unwrap_or(&"").to_string()));
            }
            name => {
                let c = current.as_mut().expect("a case");
                let entry = c
                    .entry(name.to_string())
                    .or_insert_with(|| Ok(Assignment::new()));
                let list: Vec<TopicPartition> = match f[2] {
                    "-" => Vec::new(),
                    l => l
                        .split(',')
                        .map(|tp| {
                            let (t, p) = tp.rsplit_once(':').expect("topic:partition");
                            TopicPartition::new(t, p.parse().expect("partition"))
                        })
                        .collect(),
                };
                if let Ok(a) = entry {
                    let mut list = list;
                    list.sort();
                    a.insert(f[1].to_string(), list);
                }
            }
        }
    }
    assert_eq!(results.len(), cases.len(), "a result per case from Java");
    results
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Whether a Java `HashMap` of these member ids (16 buckets: up to 12 members) iterates
/// them in sorted order when they are put in sorted order.
fn java_hash_order_is_sorted(members: &[Member]) -> bool {
    let mut ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    ids.sort();
    let bucket = |s: &str| {
        let h = s
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let h = h as u32;
        (h ^ (h >> 16)) & 15
    };
    ids.len() <= 12 && ids.windows(2).all(|w| bucket(w[0]) <= bucket(w[1]))
}

fn all_subscriptions_equal(members: &[Member]) -> bool {
    let set = |m: &Member| m.topics.iter().cloned().collect::<BTreeSet<_>>();
    members.windows(2).all(|w| set(&w[0]) == set(&w[1]))
}

/// Per partition, the member whose claim counts: the single claimant of the highest
/// generation, if it still subscribes to the topic.
fn rightful_owners(case: &Case) -> BTreeMap<TopicPartition, &str> {
    let mut claims: BTreeMap<&TopicPartition, Vec<(i32, &Member)>> = BTreeMap::new();
    for m in &case.members {
        for tp in &m.owned_partitions {
            claims
                .entry(tp)
                .or_default()
                .push((m.generation.unwrap_or(-1), m));
        }
    }
    claims
        .into_iter()
        .filter_map(|(tp, c)| {
            let top = c.iter().map(|x| x.0).max()?;
            let best: Vec<&Member> = c.iter().filter(|x| x.0 == top).map(|x| x.1).collect();
            (best.len() == 1 && best[0].topics.contains(&tp.topic))
                .then(|| (tp.clone(), best[0].member_id.as_str()))
        })
        .collect()
}

/// Owned partitions (rightfully) that their owner does not keep in `balanced`.
fn moves(case: &Case, balanced: &Assignment) -> usize {
    rightful_owners(case)
        .iter()
        .filter(|(tp, m)| !balanced.get(**m).is_some_and(|l| l.contains(tp)))
        .count()
}

/// The sticky assignor's promises, for `final_` (sent) and `balanced` (before the
/// cooperative rule withheld partitions). Returns what is broken.
fn sticky_violations(case: &Case, final_: &Assignment, balanced: &Assignment) -> Vec<String> {
    let mut bad = Vec::new();
    let subscribed = |id: &str| -> BTreeSet<&str> {
        case.members
            .iter()
            .find(|m| m.member_id == id)
            .map(|m| m.topics.iter().map(String::as_str).collect())
            .unwrap_or_default()
    };
    let wanted: BTreeSet<TopicPartition> = case
        .counts
        .iter()
        .filter(|(t, _)| case.members.iter().any(|m| m.topics.contains(t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect();
    let mut where_: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
    for (m, list) in balanced {
        let topics = subscribed(m);
        for tp in list {
            if !topics.contains(tp.topic.as_str()) {
                bad.push(format!("{tp} to {m}, not subscribed"));
            }
            if let Some(o) = where_.insert(tp, m) {
                bad.push(format!("{tp} to both {o} and {m}"));
            }
        }
    }
    for tp in &wanted {
        if !where_.contains_key(tp) {
            bad.push(format!("{tp} unassigned"));
        }
    }
    // Withheld: assigned in `balanced` but not sent, and owned by another member.
    for (m, list) in balanced {
        let sent = final_.get(m).map(Vec::as_slice).unwrap_or_default();
        for tp in list {
            if !sent.contains(tp) {
                let other = case
                    .members
                    .iter()
                    .any(|o| &o.member_id != m && o.owned_partitions.contains(tp));
                if !other {
                    bad.push(format!("{tp} withheld from {m} though nobody else owns it"));
                }
            }
        }
        if let Some(x) = sent.iter().find(|tp| !list.contains(tp)) {
            bad.push(format!("{x} sent to {m} beyond the balanced assignment"));
        }
    }
    // Balance among members with the same subscription.
    let mut by_subscription: BTreeMap<BTreeSet<&str>, Vec<usize>> = BTreeMap::new();
    for (m, list) in balanced {
        by_subscription
            .entry(subscribed(m))
            .or_default()
            .push(list.len());
    }
    for (topics, loads) in &by_subscription {
        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        if hi - lo > 1 {
            bad.push(format!(
                "loads {loads:?} among members subscribed to {topics:?}"
            ));
        }
    }
    // Stickiness: a rightful owner loses a partition only to a member with at most
    // one more than it has.
    for (tp, m) in rightful_owners(case) {
        if let Some(&o) = where_.get(&tp) {
            if o != m {
                let (mine, theirs) = (balanced[m].len(), balanced[o].len());
                if theirs >= mine + 2 {
                    bad.push(format!(
                        "{tp} moved from its owner {m} ({mine} partitions) to {o} ({theirs})"
                    ));
                }
            }
        }
    }
    bad
}

/// The members whose partitions differ, and how: `member +[kafkac only] -[Java only]`.
fn diff(ours: &Assignment, java: &Assignment) -> String {
    let ids: BTreeSet<&String> = ours.keys().chain(java.keys()).collect();
    let none = Vec::new();
    let only = |a: &[TopicPartition], b: &[TopicPartition]| {
        a.iter()
            .filter(|tp| !b.contains(tp))
            .map(|tp| format!("{}:{}", tp.topic, tp.partition))
            .collect::<Vec<_>>()
            .join(",")
    };
    ids.into_iter()
        .filter_map(|id| {
            let (o, j) = (ours.get(id).unwrap_or(&none), java.get(id).unwrap_or(&none));
            (o != j).then(|| format!("{id} +[{}] -[{}]", only(o, j), only(j, o)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show(case: &Case) -> String {
    case_text(0, case).replace('\n', "; ")
}

fn report(what: &str, checked: usize, bad: &[String]) {
    assert!(checked > 0, "{what}: nothing compared");
    if !bad.is_empty() {
        panic!(
            "{what}: {} of {checked} fail; first ones:\n  {}",
            bad.len(),
            bad.iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

fn java_results() -> &'static JavaResults {
    static R: OnceLock<JavaResults> = OnceLock::new();
    R.get_or_init(|| run_java(cases()))
}

fn java_result<'a>(
    results: &'a JavaResults,
    i: usize,
    name: &str,
) -> &'a Result<Assignment, String> {
    results[i]
        .get(name)
        .unwrap_or_else(|| panic!("case {i}: no {name} result from Java"))
}

fn exact(assignor: Assignor) {
    let results = java_results();
    let mut bad = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let ours = assignor.assign(&case.members, &case.counts);
        match java_result(results, i, assignor.name()) {
            Ok(java) if *java == ours => {}
            Ok(java) => bad.push(format!(
                "case {i}: kafkac differs: {}\n    input {}",
                diff(&ours, java),
                show(case)
            )),
            Err(e) => bad.push(format!("case {i}: Java failed: {e}")),
        }
    }
    report(
        &format!("{assignor} vs kafka-clients {}", kafka::KAFKA_VERSION),
        cases().len(),
        &bad,
    );
    eprintln!(
        "{assignor}: {} of {} cases identical to Java's",
        cases().len(),
        cases().len()
    );
}

#[test]
fn range_matches_the_java_client() {
    with_timeout(TEST_LIMIT, || exact(Assignor::Range));
}

#[test]
fn roundrobin_matches_the_java_client() {
    with_timeout(TEST_LIMIT, || exact(Assignor::RoundRobin));
}

#[test]
fn cooperative_sticky_matches_the_java_client_or_keeps_its_promises() {
    with_timeout(TEST_LIMIT, || {
        let results = java_results();
        let (mut exact_cases, mut identical, mut other_identical) = (0, 0, 0);
        let (mut java_errors, mut fewer_moves) = (0, 0);
        let mut bad = Vec::new();
        for (i, case) in cases().iter().enumerate() {
            let out = cooperative_sticky(&case.members, &case.counts);
            let ours_balanced = out.balanced();
            for v in sticky_violations(case, &out.assignment, &ours_balanced) {
                bad.push(format!("case {i}: kafkac: {v}\n    input {}", show(case)));
            }
            let (java, java_balanced) = match (
                java_result(results, i, "cooperative-sticky"),
                java_result(results, i, "balanced"),
            ) {
                (Ok(j), Ok(b)) => (j, b),
                (Err(e), _) | (_, Err(e)) => {
                    java_errors += 1;
                    eprintln!("case {i}: Java failed ({e}); kafkac checked alone");
                    continue;
                }
            };
            for v in sticky_violations(case, java, java_balanced) {
                bad.push(format!("case {i}: Java: {v}\n    input {}", show(case)));
            }
            let (ours_moved, java_moved) =
                (moves(case, &ours_balanced), moves(case, java_balanced));
            if ours_moved > java_moved {
                bad.push(format!(
                    "case {i}: kafkac moves {ours_moved} owned partitions, Java {java_moved}\n    \
                     input {}",
                    show(case)
                ));
            } else if ours_moved < java_moved {
                fewer_moves += 1;
            }
            let same = *java == out.assignment && *java_balanced == ours_balanced;
            let deterministic =
                !all_subscriptions_equal(&case.members) || java_hash_order_is_sorted(&case.members);
            if deterministic {
                exact_cases += 1;
                if same {
                    identical += 1;
                } else {
                    bad.push(format!(
                        "case {i}: kafkac differs: sent {}; balanced {}\n    input {}",
                        diff(&out.assignment, java),
                        diff(&ours_balanced, java_balanced),
                        show(case)
                    ));
                }
            } else if same {
                other_identical += 1;
            }
        }
        report(
            &format!(
                "cooperative-sticky vs kafka-clients {}",
                kafka::KAFKA_VERSION
            ),
            cases().len(),
            &bad,
        );
        eprintln!(
            "cooperative-sticky: {identical} of {exact_cases} cases whose Java result follows \
             from the input identical to Java's; of the other {}, {other_identical} identical \
             too; all {} keep the sticky promises on both sides; kafkac moved fewer owned \
             partitions than Java in {fewer_moves}; Java failed on {java_errors}",
            cases().len() - exact_cases - java_errors,
            cases().len()
        );
    });
}
