//! The C++17 interface, include/kafkac.hpp: the programs in tests/cpp/ and the example
//! in examples-cpp/, built with g++ and with clang++ (`-std=c++17 -Wall -Wextra
//! -Wpedantic -Werror`) under AddressSanitizer (with LeakSanitizer) and
//! UndefinedBehaviorSanitizer, linked against the static libkafkac, and run without a
//! broker and against Apache Kafka (the single-node cluster this test binary shares).
//! Every run must be free of sanitizer reports. A last test checks that the constants
//! kafkac.hpp mirrors have the values kafkac.h gives them.

mod clib;
mod common;

use clib::Link;
use common::kafka::{self, KafkaCluster, KAFKA_START_TIMEOUT};
use common::{with_timeout, SANITIZE_FLAGS};
use kafkac::client::OffsetSpec;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::Consumer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

/// Bound on building the library and the programs.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Bound on starting the shared cluster.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// Bound on each run of a program.
const RUN_LIMIT: Duration = Duration::from_secs(150);
/// Bound on each test once its programs are built and its cluster runs.
const LIMIT: Duration = Duration::from_secs(200);
/// Timeout of the calls the tests make through the Rust API.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Records the round trip produces and consumes.
const RECORDS: usize = 500;

/// The C programs' sanitizer flags (`common::SANITIZE_FLAGS`), in C++17.
fn cxxflags() -> Vec<&'static str> {
    std::iter::once("-std=c++17")
        .chain(
            SANITIZE_FLAGS
                .iter()
                .copied()
                .filter(|f| !f.starts_with("-std=")),
        )
        .collect()
}

const COMPILERS: [&str; 2] = ["g++", "clang++"];

/// Builds `src` (relative to the crate) with `compiler` into `target/testbin/c/cpp/`,
/// bounded in time; fails the test when a compiler is missing or reports anything.
fn build(compiler: &'static str, src: &'static str) -> PathBuf {
    clib::require_tool(compiler, &["--version"]);
    let dir = clib::bin_dir().join("cpp");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = Path::new(src).file_stem().unwrap().to_str().unwrap();
    let out = dir.join(format!("{stem}-{compiler}"));
    let exe = out.clone();
    with_timeout(BUILD_LIMIT, move || {
        clib::compile(
            compiler,
            &clib::manifest_dir().join(src),
            &cxxflags(),
            Some(Link::Static),
            &exe,
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Builds `src` with both compilers at once.
fn build_both(src: &'static str) -> Vec<(&'static str, PathBuf)> {
    clib::library();
    let builds: Vec<_> = COMPILERS
        .iter()
        .map(|&c| thread::spawn(move || (c, build(c, src))))
        .collect();
    builds
        .into_iter()
        .map(|b| b.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect()
}

/// Asserts the harness summary (tests/cpp/check.hpp) at the end of `out`: at least
/// `min_checks` checks, none failed.
#[track_caller]
fn assert_summary(out: &str, min_checks: usize) {
    let last = out.lines().last().unwrap_or("");
    let checks: usize = last
        .strip_suffix(" checks, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no passing summary at the end of:\n{out}"));
    assert!(
        checks >= min_checks,
        "only {checks} checks ran (at least {min_checks} expected):\n{out}"
    );
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn offline_program_passes_with_gcc_and_clang_under_the_sanitizers() {
    let programs = build_both("tests/cpp/offline.cpp");
    with_timeout(LIMIT, move || {
        for (compiler, exe) in programs {
            let nowhere = format!("127.0.0.1:{}", common::free_port());
            let mut cmd = Command::new(&exe);
            cmd.arg(&nowhere);
            let out = common::run_sanitized(cmd, RUN_LIMIT);
            assert_summary(&out, 70);
            eprintln!("{compiler}: {}", out.lines().last().unwrap_or(""));
        }
    })
}

/// Creates `name` with `partitions` partitions.
fn create_topic(b: &str, name: &str, partitions: i32) {
    let c = common::client::client(b);
    common::client::create_topic(&c, name, partitions, 1, &[], CALL_TIMEOUT);
}

/// The end offset of each partition of `name`.
fn end_offsets(b: &str, name: &str, partitions: i32) -> Vec<i64> {
    let c = common::client::client(b);
    (0..partitions)
        .map(|p| {
            c.list_offsets(name, p, OffsetSpec::Latest, CALL_TIMEOUT)
                .unwrap_or_else(|e| panic!("list offsets {name}/{p}: {e}"))
                .offset
        })
        .collect()
}

/// The round trip of tests/cpp/roundtrip.cpp built with `compiler`, on its own topics and
/// groups; then what it wrote and committed, seen from the Rust client.
fn round_trip(compiler: &'static str) {
    let exe = build(compiler, "tests/cpp/roundtrip.cpp");
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(LIMIT, move || {
        let b = k.bootstrap.as_str();
        let tag = compiler.trim_end_matches("++");
        let topic = format!("cpp-roundtrip-{tag}");
        let group = format!("cpp-roundtrip-{tag}");
        create_topic(b, &topic, 3);
        create_topic(b, &format!("{topic}-extra"), 1);
        let mut cmd = Command::new(&exe);
        cmd.args([b, &topic, &group, &RECORDS.to_string()]);
        let out = common::run_sanitized(cmd, RUN_LIMIT);
        assert_summary(&out, 3 * RECORDS);
        for line in [
            format!("produced {RECORDS} records, reports checked"),
            format!("consumed {RECORDS} records once each, exact contents"),
            "delivery lambda threw, flush rethrew it".to_string(),
            format!(
                "rebalance lambda threw, poll rethrew it, {} records once each",
                RECORDS + 1
            ),
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
        }

        // The log holds the records and the one the throwing lambda got; the group
        // committed the end of each partition as it was before that one.
        let ends = end_offsets(b, &topic, 3);
        assert_eq!(ends.iter().sum::<i64>(), RECORDS as i64 + 1, "{ends:?}");
        let committed: BTreeMap<i32, i64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("committed "))
            .map(|l| {
                let (p, o) = l.split_once(' ').unwrap();
                (p.parse().unwrap(), o.parse().unwrap())
            })
            .collect();
        let want: BTreeMap<i32, i64> = ends
            .iter()
            .enumerate()
            .map(|(p, &end)| (p as i32, if p == 0 { end - 1 } else { end }))
            .collect();
        assert_eq!(committed, want, "{out}");
        assert_eq!(end_offsets(b, &format!("{topic}-extra"), 1), vec![2]);
    })
}

#[test]
fn round_trip_against_kafka_built_with_gcc() {
    round_trip("g++");
}

#[test]
fn round_trip_against_kafka_built_with_clang() {
    round_trip("clang++");
}

#[test]
fn example_says_hello_against_kafka() {
    let exe = build("g++", "examples-cpp/hello.cpp");
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(LIMIT, move || {
        let b = k.bootstrap.as_str();
        create_topic(b, "cpp-hello", 1);
        let mut cmd = Command::new(&exe);
        cmd.args([b, "cpp-hello", "cpp-hello"]);
        let out = common::run_sanitized(cmd, RUN_LIMIT);
        assert_eq!(
            out,
            "delivered to partition 0 at offset 0\n\
             delivered to partition 0 at offset 1\n\
             delivered to partition 0 at offset 2\n\
             consumed world: hello, world\n\
             consumed Kafka: hello, Kafka\n\
             consumed C++: hello, C++\n"
        );
    })
}

/// tests/cpp/txn.cpp built with each compiler, on its own topics, group and
/// transactional ids: commit, abort, fencing, a retriable timeout and calls in the wrong
/// state; then the group's committed offset seen from the Rust client.
#[test]
fn transactions_against_kafka_with_gcc_and_clang() {
    let programs = build_both("tests/cpp/txn.cpp");
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(2 * LIMIT, move || {
        let b = k.bootstrap.as_str();
        for (compiler, exe) in programs {
            let tag = compiler.trim_end_matches("++");
            let topic = format!("cpp-txn-{tag}");
            let group = format!("cpp-txn-{tag}");
            create_topic(b, &topic, 1);
            create_topic(b, &format!("{topic}-in"), 1);
            let mut cmd = Command::new(&exe);
            cmd.args([b, &topic, &group, &format!("cpp-txn-{tag}")]);
            let out = common::run_sanitized(cmd, RUN_LIMIT);
            eprintln!("{compiler}:\n{out}");
            assert_summary(&out, 36);
            for line in [
                "wrong state: KC_ERR__STATE, no class",
                "retriable init continued",
                "committed after the commit: 10",
                "read_committed: 12 records, read_uncommitted: 17 records",
                "fencing: fatal",
            ] {
                assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
            }
            // The group's offset is the committed transaction's, not the aborted one's.
            let conf = common::client::config_with(b, &[("group.id", &group)]);
            let c = Consumer::new(&conf).unwrap();
            let tp = TopicPartition::new(format!("{topic}-in"), 0);
            let got = c
                .committed(std::slice::from_ref(&tp), CALL_TIMEOUT)
                .unwrap();
            assert_eq!(got, vec![(tp, 10)]);
            c.close(CALL_TIMEOUT).unwrap();
        }
    })
}

/// A single-node cluster with a `SASL_PLAINTEXT` listener taking OAUTHBEARER with
/// unsecured JWTs (Kafka's default validator), started on first use.
fn oauth_cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| KafkaCluster::start_with_oauthbearer(1, &[]))
}

/// tests/cpp/oauth.cpp built with each compiler, against the SASL_PLAINTEXT listener:
/// the refresh callback serves a producer (inside its polls) and a consumer (on its
/// background thread) through a round trip; a throwing callback and a refused token
/// come back as exceptions from poll and the program goes on; the calls' errors.
#[test]
fn oauthbearer_refresh_callback_against_kafka_with_gcc_and_clang() {
    let programs = build_both("tests/cpp/oauth.cpp");
    let k = with_timeout(START_LIMIT, oauth_cluster);
    with_timeout(2 * LIMIT, move || {
        let b = k.nodes[0].listener_addr("SASL_PLAINTEXT");
        for (compiler, exe) in programs {
            let tag = compiler.trim_end_matches("++");
            let topic = format!("cpp-oauth-{tag}");
            create_topic(&k.bootstrap, &topic, 1);
            create_topic(&k.bootstrap, &format!("{topic}-failures"), 1);
            let mut cmd = Command::new(&exe);
            cmd.args([&b, &topic]);
            let out = common::run_sanitized(cmd, RUN_LIMIT);
            eprintln!("{compiler}:\n{out}");
            assert_summary(&out, 57);
            for line in [
                "errors checked",
                "producer: 20 delivered, refresh calls on the polling thread: 1",
                "throwing callback: poll rethrew it, then delivered 1",
                "refused token: poll threw KC_ERR__INVALID_ARG",
            ] {
                assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
            }
            let bg = out
                .lines()
                .find_map(|l| {
                    l.strip_prefix("consumer: 20 read, refresh calls on the background thread: ")
                })
                .unwrap_or_else(|| panic!("no consumer line in:\n{out}"));
            assert!(bg.parse::<usize>().unwrap() >= 1, "{out}");
            assert_eq!(end_offsets(&k.bootstrap, &topic, 1), vec![20]);
            assert_eq!(
                end_offsets(&k.bootstrap, &format!("{topic}-failures"), 1),
                vec![1]
            );
        }
    })
}

/// Records each mode of the throughput comparison sends.
const THROUGHPUT_RECORDS: usize = 100_000;

/// tests/cpp/throughput.cpp, built with `-O2` (no sanitizers: they would be what is
/// measured): the C API, the C++ producer with its lambda, and a lambda per message, in
/// one process against the shared broker, two rounds each. Every record must be delivered; the rates are
/// printed (`--nocapture`) for comparison, not asserted, as the machine's load varies.
#[test]
fn throughput_of_the_cpp_producer_next_to_the_c_api() {
    clib::require_tool("g++", &["--version"]);
    let dir = clib::bin_dir().join("cpp");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("throughput-g++");
    let out = exe.clone();
    with_timeout(BUILD_LIMIT, move || {
        clib::compile(
            "g++",
            &clib::manifest_dir().join("tests/cpp/throughput.cpp"),
            &[
                "-std=c++17",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-pthread",
            ],
            Some(Link::Static),
            &out,
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let k = with_timeout(START_LIMIT, kafka::shared);
    with_timeout(LIMIT, move || {
        let b = k.bootstrap.as_str();
        create_topic(b, "cpp-throughput", 1);
        let mut cmd = Command::new(&exe);
        cmd.args([b, "cpp-throughput", &THROUGHPUT_RECORDS.to_string()]);
        let done = common::run_bounded(cmd, None, RUN_LIMIT).unwrap();
        let out = String::from_utf8_lossy(&done.stdout).into_owned();
        assert!(
            done.status.is_some_and(|s| s.success()),
            "{:?}\n{out}{}",
            done.status,
            done.stderr_text()
        );
        assert_summary(&out, 5);
        for mode in ["c-api", "cpp", "cpp-lambda-per-message"] {
            let lines: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with(&format!("{mode} {THROUGHPUT_RECORDS} records ")))
                .collect();
            assert_eq!(lines.len(), 2, "{mode} figures in:\n{out}");
            eprintln!("{}", lines.join("\n"));
        }
        assert_eq!(
            end_offsets(b, "cpp-throughput", 1),
            vec![6 * THROUGHPUT_RECORDS as i64]
        );
    })
}

// ---------------------------------------------------------------------------------------
// The header and the wrapper agree
// ---------------------------------------------------------------------------------------

/// Macros of kafkac.h the wrapper must mirror, by prefix (every macro of the family) or
/// by full name.
const MIRRORED_FAMILIES: &[&str] = &["KC_TIMESTAMP_", "KC_PERSISTED", "KC_PURGE_F_"];
const MIRRORED: &[&str] = &[
    "KC_PARTITION_UA",
    "KC_OFFSET_BEGINNING",
    "KC_OFFSET_END",
    "KC_OFFSET_STORED",
    "KC_OFFSET_INVALID",
    "KC_ERR__ASSIGN_PARTITIONS",
    "KC_ERR__REVOKE_PARTITIONS",
    "KC_ERR__ASSIGNMENT_LOST",
];

/// `#define KC_<NAME> <integer>` of kafkac.h.
fn header_macros() -> BTreeMap<String, i64> {
    let h = std::fs::read_to_string(clib::manifest_dir().join("include/kafkac.h")).unwrap();
    h.lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("#define ")?.split_whitespace();
            let name = w.next()?;
            let value = w.next()?.parse().ok()?;
            name.starts_with("KC_").then(|| (name.to_string(), value))
        })
        .collect()
}

/// The wrapper's integer constants and enumerators: (qualified C++ name, initializer).
fn wrapper_constants() -> Vec<(String, String)> {
    let hpp = std::fs::read_to_string(clib::manifest_dir().join("include/kafkac.hpp")).unwrap();
    let mut out = Vec::new();
    let mut in_enum: Option<String> = None;
    for line in hpp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("enum class ") {
            in_enum = Some(rest.split([' ', ':']).next().unwrap().to_string());
            continue;
        }
        if let Some(e) = &in_enum {
            if line.starts_with("};") {
                in_enum = None;
            } else if let Some((name, init)) = line.trim_end_matches(',').split_once(" = ") {
                out.push((format!("kafkac::{e}::{name}"), init.to_string()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("inline constexpr ") {
            let mut w = rest.split_whitespace();
            let ty = w.next().unwrap();
            let integer = ty == "int" || ty.starts_with("int") && ty.ends_with("_t");
            if let (true, Some(name), Some("="), Some(init)) =
                (integer, w.next(), w.next(), w.next())
            {
                out.push((
                    format!("kafkac::{name}"),
                    init.trim_end_matches(';').to_string(),
                ));
            }
        }
    }
    out
}

/// A C++ file that includes kafkac.hpp and checks each mirrored value against the number
/// kafkac.h gives it; `off_by` is added to every expected number.
fn agreement_source(
    constants: &[(String, String)],
    macros: &BTreeMap<String, i64>,
    off_by: i64,
) -> String {
    let mut s = String::from("#include <kafkac.hpp>\n\n");
    for (name, init) in constants {
        let value = macros[init] + off_by;
        s += &format!(
            "static_assert(static_cast<long long>({name}) == {value}LL, \"{name} is not {init} ({value})\");\n"
        );
    }
    s
}

#[test]
fn wrapper_constants_are_the_header_macros_with_their_values() {
    clib::require_tool("g++", &["--version"]);
    with_timeout(LIMIT, || {
        let macros = header_macros();
        let constants = wrapper_constants();
        assert!(constants.len() >= 15, "{constants:?}");
        // Each one is defined from a macro of kafkac.h, never from a number of its own.
        for (name, init) in &constants {
            assert!(
                macros.contains_key(init),
                "{name} is defined as {init}, not as a macro of kafkac.h"
            );
        }
        // Every macro of the mirrored families has its mirror.
        let mirrored: Vec<&String> = constants.iter().map(|(_, init)| init).collect();
        for m in macros.keys() {
            let wanted = MIRRORED.contains(&m.as_str())
                || MIRRORED_FAMILIES.iter().any(|f| m.starts_with(f));
            assert!(
                !wanted || mirrored.contains(&m),
                "kafkac.h defines {m} and kafkac.hpp does not mirror it"
            );
        }
        // And the compiler agrees on the values; the same check with every value off by
        // one must fail, naming a constant.
        let dir = clib::bin_dir().join("cpp");
        std::fs::create_dir_all(&dir).unwrap();
        for (off_by, should_pass) in [(0, true), (1, false)] {
            let src = dir.join(format!("agreement-{off_by}.cpp"));
            std::fs::write(&src, agreement_source(&constants, &macros, off_by)).unwrap();
            let res = clib::compile(
                "g++",
                &src,
                &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-c"],
                None,
                &dir.join(format!("agreement-{off_by}.o")),
            );
            match (res, should_pass) {
                (Ok(()), true) => {}
                (Err(e), false) => assert!(e.contains("is not KC_"), "{e}"),
                (Err(e), true) => panic!("kafkac.hpp and kafkac.h disagree:\n{e}"),
                (Ok(()), false) => panic!("values off by one were not caught"),
            }
        }
    })
}

/// The two programs kafkac.hpp's top comment shows (the first program, and the consumer
/// loop as the body of a function) compile without warnings.
#[test]
fn the_programs_in_the_header_comment_compile() {
    clib::require_tool("g++", &["--version"]);
    with_timeout(LIMIT, || {
        let hpp = std::fs::read_to_string(clib::manifest_dir().join("include/kafkac.hpp")).unwrap();
        let mut blocks: Vec<Vec<&str>> = Vec::new();
        let mut in_block = false;
        for line in hpp.lines().take_while(|l| !l.starts_with(" */")) {
            match line.strip_prefix(" *     ") {
                Some(code) => {
                    if !in_block {
                        blocks.push(Vec::new());
                    }
                    blocks.last_mut().unwrap().push(code);
                    in_block = true;
                }
                None => in_block = in_block && line == " *",
            }
        }
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        assert!(
            blocks[0][0].starts_with("#include <kafkac.hpp>"),
            "{blocks:?}"
        );
        let src = format!(
            "{}\n\nvoid consumer_loop() {{\n{}\n}}\n",
            blocks[0].join("\n"),
            blocks[1].join("\n")
        );
        compile_strict(&src, "header_comment");
    })
}

/// Compiles `src` (an object file, `name`.o, under the test's build directory) with g++
/// and every warning an error; panics with the compiler's output and the source.
fn compile_strict(src: &str, name: &str) {
    let dir = clib::bin_dir().join("cpp");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.cpp"));
    std::fs::write(&file, src).unwrap();
    clib::compile(
        "g++",
        &file,
        &[
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-c",
        ],
        None,
        &dir.join(format!("{name}.o")),
    )
    .unwrap_or_else(|e| panic!("{e}\n{src}"));
}

/// The C++ blocks of the README's "Using it from C++" section (the producer program, the
/// consumer loop, transactions, the OAUTHBEARER callback) compile together, each of the
/// last three as a function body, with what they leave to the reader declared.
#[test]
fn the_readme_cpp_blocks_compile() {
    clib::require_tool("g++", &["--version"]);
    with_timeout(LIMIT, || {
        let readme = std::fs::read_to_string(clib::manifest_dir().join("README.md")).unwrap();
        let section = readme
            .split("\n## Using it from C++\n")
            .nth(1)
            .expect("no C++ section in README.md")
            .split("\n## ")
            .next()
            .unwrap();
        let blocks: Vec<&str> = section
            .split("```cpp\n")
            .skip(1)
            .map(|b| b.split("\n```").next().unwrap())
            .collect();
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        assert!(blocks[0].starts_with("#include <kafkac.hpp>"), "{blocks:?}");
        for (block, call) in [
            (blocks[2], "send_offsets_to_transaction"),
            (blocks[3], "set_oauthbearer_token_refresh_cb"),
        ] {
            assert!(block.contains(call), "{block}");
        }
        let src = format!(
            "{}\n\nstatic long long next_offset = 0;\n\
             static std::string fetch_jwt(const std::string& config) {{ return config; }}\n\
             void consumer_loop() {{\n{}\n}}\n\
             void transactions() {{\n{}\n}}\n\
             void oauthbearer() {{\n{}\n}}\n",
            blocks[0], blocks[1], blocks[2], blocks[3]
        );
        compile_strict(&src, "readme_blocks");
    })
}
