//! The Go binding (bindings/go/kafkac): `go vet`, then its `go test` tests against
//! Apache Kafka (a single-node cluster this test binary starts), once plainly and once
//! under the race detector with `GOEXPERIMENT=cgocheck2` (every pointer passed to C is
//! checked). The package links the static libkafkac built for this test binary's
//! profile; a third run links the shared one (build tag `kafkac_dynamic`). Each run must
//! pass every test the package has: none may fail or be skipped.
//!
//! The cluster has a second listener, SASL_PLAINTEXT taking OAUTHBEARER with unsecured
//! JWTs (Kafka's default validator), for the tests of the token refresh callback; its
//! address is in `KAFKAC_OAUTH_BOOTSTRAP`.

mod clib;
mod common;

use common::kafka::{KafkaCluster, KAFKA_START_TIMEOUT};
use common::{run_bounded, with_timeout};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Bound on building the library (`cargo build --lib`).
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Bound on starting the cluster (formatting, then the node).
const START_LIMIT: Duration = Duration::from_secs(2 * KAFKA_START_TIMEOUT.as_secs());
/// Bound on one go command, compilation included: the first race build compiles the
/// standard library with instrumentation, minutes on a small machine.
const GO_LIMIT: Duration = Duration::from_secs(900);
/// `go test -timeout`: Go's own bound on the tests' run, which prints every
/// goroutine's stack when it fires.
const GO_TEST_TIMEOUT: &str = "300s";

/// The go commands run one at a time: each compiles, and two at once only compete for
/// the same cores.
static GO: Mutex<()> = Mutex::new(());

/// One single-node cluster for the test binary: PLAINTEXT, and SASL_PLAINTEXT with
/// OAUTHBEARER; the transaction coordinator looks for timed-out transactions often.
fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        KafkaCluster::start_with_oauthbearer(
            1,
            &[(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                "500",
            )],
        )
    })
}

fn package_dir() -> PathBuf {
    clib::manifest_dir().join("bindings/go/kafkac")
}

/// The names of the package's tests (`func TestX(t *testing.T)` in its _test.go files).
fn package_tests() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(package_dir()).expect("read bindings/go/kafkac") {
        let path = entry.expect("dir entry").path();
        if !path.to_string_lossy().ends_with("_test.go") {
            continue;
        }
        let src = fs::read_to_string(&path).expect("read test file");
        for line in src.lines() {
            if let Some(rest) = line.strip_prefix("func Test") {
                if let Some(name) = rest.split('(').next() {
                    names.insert(format!("Test{name}"));
                }
            }
        }
    }
    names
}

/// Runs `go args...` in the package's directory with the library and the broker's
/// address in its environment; fails the test unless it exits with 0. Returns stdout
/// and stderr together.
fn go(args: &[&str], env: &[(&str, &str)]) -> String {
    clib::require_tool("go", &["version"]);
    let lib = with_timeout(BUILD_LIMIT, clib::library);
    let mut cmd = Command::new("go");
    cmd.args(args)
        .current_dir(package_dir())
        .env("CGO_ENABLED", "1")
        // The library of this profile first (the package's own -L names
        // target/release).
        .env("CGO_LDFLAGS", format!("-L{}", lib.dir.display()))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        // The package and its tests need no module from the network.
        .env("GOPROXY", "off");
    if std::env::var_os("GOCACHE").is_none()
        && std::env::var_os("HOME").is_none()
        && std::env::var_os("XDG_CACHE_HOME").is_none()
    {
        cmd.env("GOCACHE", common::target_dir().join("go-build"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let what = format!("go {}", args.join(" "));
    let _one = GO.lock().unwrap_or_else(|e| e.into_inner());
    let done = run_bounded(cmd, None, GO_LIMIT).unwrap_or_else(|e| panic!("run {what}: {e}"));
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        done.stderr_text()
    );
    match done.status {
        None => panic!("{what}: still running after {GO_LIMIT:?}:\n{out}"),
        Some(s) if !s.success() => panic!("{what} failed ({s}):\n{out}"),
        Some(_) => out,
    }
}

/// Runs the package's tests with `extra` flags and environment against the shared
/// broker, and checks that every test ran and passed.
fn go_test(extra_flags: &[&str], env: &[(&str, &str)]) {
    let (bootstrap, oauth) = with_timeout(START_LIMIT, || {
        let c = cluster();
        (
            c.bootstrap.clone(),
            c.nodes[0].listener_addr("SASL_PLAINTEXT"),
        )
    });
    let mut args = vec!["test", "-count=1", "-v", "-timeout", GO_TEST_TIMEOUT];
    args.extend_from_slice(extra_flags);
    args.push("./...");
    let mut env = env.to_vec();
    env.push(("KAFKAC_BOOTSTRAP", &bootstrap));
    env.push(("KAFKAC_OAUTH_BOOTSTRAP", &oauth));
    let out = go(&args, &env);

    let expected = package_tests();
    assert!(
        expected.len() >= 15,
        "only {} tests found in bindings/go/kafkac: {expected:?}",
        expected.len()
    );
    let passed: BTreeSet<String> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--- PASS: "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    for bad in ["--- FAIL", "--- SKIP", "DATA RACE", "panic:"] {
        assert!(!out.contains(bad), "{bad} in go test's output:\n{out}");
    }
    assert_eq!(
        passed, expected,
        "the tests that passed are not the package's tests:\n{out}"
    );
    assert!(
        out.contains("ok  \tkafkac.dev/kafkac"),
        "no ok line for the package:\n{out}"
    );
}

#[test]
fn go_vet_finds_nothing() {
    let out = go(&["vet", "./..."], &[]);
    assert!(out.trim().is_empty(), "go vet printed:\n{out}");
    let out = go(&["vet", "-tags", "kafkac_dynamic", "./..."], &[]);
    assert!(
        out.trim().is_empty(),
        "go vet -tags kafkac_dynamic printed:\n{out}"
    );
}

/// gofmt leaves every file as it is.
#[test]
fn go_sources_are_gofmt_clean() {
    let files: Vec<PathBuf> = fs::read_dir(package_dir())
        .expect("read bindings/go/kafkac")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "go"))
        .collect();
    clib::require_tool("gofmt", &["-l", "/dev/null"]);
    let res = Command::new("gofmt")
        .arg("-l")
        .args(&files)
        .output()
        .expect("run gofmt");
    assert!(res.status.success(), "gofmt failed: {res:?}");
    let listed = String::from_utf8_lossy(&res.stdout);
    assert!(listed.trim().is_empty(), "not gofmt-formatted:\n{listed}");
}

#[test]
fn go_test_passes_against_kafka() {
    go_test(&[], &[]);
}

/// With `-tags kafkac_dynamic` the package links `-lkafkac`: the shared library, found
/// at run time by its SONAME (`libkafkac.so.0`), linked to the build's file in a
/// directory of its own.
#[test]
fn go_test_passes_linked_with_the_shared_library() {
    let lib = with_timeout(BUILD_LIMIT, clib::library);
    let dir = clib::bin_dir().join(format!("go-shared-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create the shared library's directory");
    for name in ["libkafkac.so", "libkafkac.so.0"] {
        let link = dir.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib.shared_lib, &link).expect("link libkafkac.so");
    }
    let flags = go(
        &[
            "list",
            "-tags",
            "kafkac_dynamic",
            "-f",
            "{{join .CgoLDFLAGS \" \"}}",
            ".",
        ],
        &[],
    );
    assert!(
        flags.contains("-lkafkac") && !flags.contains("libkafkac.a"),
        "kafkac_dynamic links {flags}"
    );
    let dir = dir.display().to_string();
    let ldflags = format!("-L{dir}");
    go_test(
        &["-tags", "kafkac_dynamic"],
        &[("CGO_LDFLAGS", &ldflags), ("LD_LIBRARY_PATH", &dir)],
    );
}

#[test]
fn go_test_passes_under_the_race_detector_with_cgocheck2() {
    go_test(&["-race"], &[("GOEXPERIMENT", "cgocheck2")]);
}
