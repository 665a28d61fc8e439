//! The Python binding (`bindings/python/`, ctypes over libkafkac.so): its pytest tests,
//! run with `python3 -m pytest` against the shared library this test binary's profile
//! builds, and, for the tests that need one, a single-node Apache Kafka.
//!
//! pytest runs with `-W error::pytest.PytestUnraisableExceptionWarning`, so an exception
//! escaping a Python callback into C (which ctypes would print and swallow) fails the run.
//! Each run writes a JUnit report; the test checks that every expected test case ran
//! and passed, none failed, errored or was skipped.
//!
//! The cluster has, besides its plaintext listener, a `SASL_PLAINTEXT` listener taking
//! OAUTHBEARER with unsecured JWTs (Kafka's default validator), for the tests of the
//! binding's `oauth_cb` and token calls.
//!
//! `bench/python_bench.py` (kafkac's Python binding against confluent-kafka, produce and
//! consume) also runs here, shortened to 20,000 records, to check it still works; its
//! figures are printed, not judged.

mod clib;
mod common;

use common::kafka::{KafkaCluster, KAFKA_START_TIMEOUT};
use common::{run_bounded, scratch_dir, with_timeout};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Bound on building the library (`cargo build --lib`).
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Bound on starting the cluster.
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// Bound on one pytest run.
const PYTEST_LIMIT: Duration = Duration::from_secs(240);
/// Bound on the shortened benchmark.
const BENCH_LIMIT: Duration = Duration::from_secs(180);

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn binding_dir() -> PathBuf {
    common::manifest_dir().join("bindings/python")
}

/// Fails unless python3 and the modules the tests import are there (a missing tool is
/// a failure, not a skip).
fn require_python_modules() {
    clib::require_tool(&python(), &["--version"]);
    let out = Command::new(python())
        .args(["-c", "import pytest, confluent_kafka"])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pytest and confluent-kafka are needed by this test ({}); install them with scripts/install-deps.sh",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The shared library, built once per test binary.
fn shared_lib() -> PathBuf {
    with_timeout(BUILD_LIMIT, || clib::library().shared_lib.clone())
}

/// What one pytest run did, from its JUnit report.
struct Report {
    xml: String,
    output: String,
}

impl Report {
    /// The value of `attr` in the report's `<testsuite ...>` element.
    fn suite_count(&self, attr: &str) -> usize {
        let suite = self
            .xml
            .find("<testsuite ")
            .map(|i| &self.xml[i..])
            .unwrap_or_else(|| panic!("no <testsuite> in the report:\n{}", self.output));
        let key = format!(" {attr}=\"");
        let start = suite
            .find(&key)
            .unwrap_or_else(|| panic!("no {attr} in the report"))
            + key.len();
        let end = start + suite[start..].find('"').expect("closing quote");
        suite[start..end].parse().expect("a count")
    }

    /// Asserts that every test in `names` ran and that the run had no failure, error or
    /// skip.
    #[track_caller]
    fn assert_all_passed(&self, names: &[&str]) {
        for attr in ["failures", "errors", "skipped"] {
            assert_eq!(self.suite_count(attr), 0, "{attr}:\n{}", self.output);
        }
        for name in names {
            assert!(
                self.xml.contains(&format!("name=\"{name}\"")),
                "test {name} did not run:\n{}",
                self.output
            );
        }
        assert!(self.suite_count("tests") >= names.len(), "{}", self.output);
    }
}

/// Runs pytest on `files` (under bindings/python/tests) with `env`, bounded in time;
/// fails the test when pytest fails, showing its output.
fn pytest(files: &[&str], env: &[(&str, &str)]) -> Report {
    let dir = scratch_dir("python-binding");
    let junit = dir.join("junit.xml");
    let lib = shared_lib();
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(["-W", "error::pytest.PytestUnraisableExceptionWarning"])
        .arg(format!("--junitxml={}", junit.display()))
        .args(files.iter().map(|f| format!("tests/{f}")))
        .current_dir(binding_dir())
        .env("KAFKAC_LIB", &lib)
        .env(
            "KAFKAC_HEADER",
            common::manifest_dir().join("include/kafkac.h"),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("KAFKAC_BOOTSTRAP")
        .env_remove("KAFKAC_OAUTH_BOOTSTRAP");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let done = run_bounded(cmd, None, PYTEST_LIMIT).expect("spawn python3 -m pytest");
    let output = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&done.stdout),
        done.stderr_text()
    );
    let status = done
        .status
        .unwrap_or_else(|| panic!("pytest timed out after {PYTEST_LIMIT:?}\n{output}"));
    assert!(status.success(), "pytest failed ({status})\n{output}");
    let xml = std::fs::read_to_string(&junit)
        .unwrap_or_else(|e| panic!("read {}: {e}\n{output}", junit.display()));
    Report { xml, output }
}

/// One node, with a `SASL_PLAINTEXT` listener for OAUTHBEARER next to the plaintext one.
fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    with_timeout(START_LIMIT, || {
        CLUSTER.get_or_init(|| KafkaCluster::start_with_oauthbearer(1, &[]))
    })
}

/// The constants against include/kafkac.h and the library, and the errors a user hits
/// without a broker (bad configuration, closed handles, queue full).
#[test]
fn python_binding_without_broker() {
    require_python_modules();
    let r = pytest(&["test_constants.py", "test_errors.py"], &[]);
    r.assert_all_passed(&[
        "test_header_macros_match_the_module",
        "test_generated_file_is_current",
        "test_library_names_every_error_code",
        "test_unknown_property",
        "test_invalid_value",
        "test_context_manager_closes",
        "test_handles_are_freed_when_collected",
        "test_queue_full_is_a_buffer_error",
        "test_message_too_large",
        "test_library_not_found_is_an_import_error",
        "test_transaction_calls_without_a_broker",
        "test_group_metadata_needs_a_group_id",
        "test_oauth_cb_configuration_errors",
        "test_oauthbearer_token_calls_errors",
    ]);
}

/// Producer and consumer against Apache Kafka, and interop with confluent-kafka.
#[test]
fn python_binding_against_kafka() {
    require_python_modules();
    let k = cluster();
    let r = pytest(
        &["test_kafka.py", "test_interop.py"],
        &[("KAFKAC_BOOTSTRAP", &k.bootstrap)],
    );
    r.assert_all_passed(&[
        "test_produce_reports_offsets_and_consume_back_exactly",
        "test_null_and_empty_are_told_apart",
        "test_commit_and_committed",
        "test_async_commit_reports_to_on_commit",
        "test_delivery_callback_raising",
        "test_default_delivery_callback_raising_in_poll",
        "test_rebalance_callback_raising_keeps_the_message",
        "test_confluent_reads_what_kafkac_wrote",
        "test_kafkac_reads_what_confluent_wrote",
        "test_producing_from_several_threads",
        "test_store_offsets_commits_only_what_was_stored",
        "test_on_assign_may_choose_offsets_with_assign",
        "test_on_assign_taking_over_pauses_what_it_leaves_out",
    ]);
}

/// Transactions against Apache Kafka: read_committed and read_uncommitted readers,
/// offsets committed with a transaction, fencing, and each error's class.
#[test]
fn python_binding_transactions() {
    require_python_modules();
    let k = cluster();
    let r = pytest(&["test_txn.py"], &[("KAFKAC_BOOTSTRAP", &k.bootstrap)]);
    r.assert_all_passed(&[
        "test_transaction_commits_records_and_offsets",
        "test_aborted_transaction_is_seen_only_by_read_uncommitted",
        "test_abort_drops_what_is_queued_with_a_report",
        "test_second_producer_fences_the_first",
        "test_init_transactions_timeout_is_retriable",
        "test_calls_in_the_wrong_state",
        "test_transactional_calls_on_a_non_transactional_producer",
        "test_readme_transaction_example",
        "test_failed_record_makes_the_transaction_abortable",
    ]);
}

/// The OAUTHBEARER refresh callback (`oauth_cb`) and the token calls, over the
/// cluster's SASL_PLAINTEXT listener: tokens served in polls and on a background
/// thread, and callbacks that raise or answer wrongly.
#[test]
fn python_binding_oauthbearer() {
    require_python_modules();
    let k = cluster();
    let oauth = k.nodes[0].listener_addr("SASL_PLAINTEXT");
    let r = pytest(
        &["test_oauth.py"],
        &[
            ("KAFKAC_BOOTSTRAP", &k.bootstrap),
            ("KAFKAC_OAUTH_BOOTSTRAP", &oauth),
        ],
    );
    r.assert_all_passed(&[
        "test_oauth_cb_gives_producer_and_consumer_their_token",
        "test_oauth_cb_raising_fails_connections_and_is_called_again",
        "test_oauth_cb_failure_reaches_the_delivery_report",
        "test_oauth_cb_raising_in_a_consumer",
        "test_oauth_cb_bad_answers",
        "test_token_set_by_the_application",
        "test_background_callbacks",
        "test_process_exits_cleanly_with_background_callbacks",
        "test_readme_oauthbearer_example",
    ]);
}

/// The benchmark script, shortened: both clients produce and consume every record.
#[test]
fn python_bench_short() {
    require_python_modules();
    let k = cluster();
    let lib = shared_lib();
    let mut cmd = Command::new(python());
    cmd.arg(common::manifest_dir().join("bench/python_bench.py"))
        .args([
            "--bootstrap",
            &k.bootstrap,
            "--count",
            "20000",
            "--size",
            "100",
        ])
        .current_dir(common::manifest_dir())
        .env("KAFKAC_LIB", &lib)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let done = run_bounded(cmd, None, BENCH_LIMIT).expect("spawn bench/python_bench.py");
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    let err = done.stderr_text();
    let status = done
        .status
        .unwrap_or_else(|| panic!("python_bench.py timed out after {BENCH_LIMIT:?}\n{out}{err}"));
    assert!(
        status.success(),
        "python_bench.py failed ({status})\n{out}{err}"
    );
    println!("{out}");
    // One result line per client and direction, each with every record.
    for client in ["kafkac", "confluent-kafka"] {
        for role in ["produce", "consume"] {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("result client={client} role={role} ")))
                .unwrap_or_else(|| panic!("no {client} {role} result:\n{out}{err}"));
            assert!(line.contains(" msgs=20000 "), "{line}");
        }
    }
}
