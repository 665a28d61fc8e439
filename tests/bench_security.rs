//! `bench/security.py` (kafkac and librdkafka over PLAINTEXT, SSL and SASL_SSL with
//! SCRAM-SHA-512, on one Apache Kafka node it starts with a CA it makes) runs here,
//! shortened to 20,000 records and one run, to check it still works end to end: every
//! client run delivers or receives every record (the script fails otherwise) and the table
//! has the kafkac / librdkafka row of each role and protocol. Its figures are printed, not
//! judged.
//!
//! The script stops its broker on SIGTERM; past the bound the test sends it one, and only
//! then kills it.

mod clib;
mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on the shortened benchmark (the library's build, the broker's start, 14 runs).
const LIMIT: Duration = Duration::from_secs(600);
/// How long the script gets to stop its broker after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn security_bench_short() {
    clib::require_tool("python3", &["--version"]);
    clib::require_tool("openssl", &["version"]);
    clib::require_tool("cc", &["--version"]);
    let dir = common::scratch_dir("bench-security");
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new("python3")
        .arg(common::manifest_dir().join("bench/security.py"))
        .args(["--count", "20000", "--repeats", "1", "--json"])
        .arg(dir.join("results.json"))
        .current_dir(common::manifest_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn bench/security.py");
    let started = Instant::now();
    let mut termed: Option<Instant> = None;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for bench/security.py") {
            break s;
        }
        match termed {
            None if started.elapsed() > LIMIT => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                termed = Some(Instant::now());
            }
            Some(t) if t.elapsed() > STOP_LIMIT => {
                let _ = child.kill();
                break child.wait().expect("reap bench/security.py");
            }
            _ => thread::sleep(Duration::from_millis(100)),
        }
    };
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        termed.is_none(),
        "bench/security.py did not finish within {LIMIT:?}\n{out}{err}"
    );
    assert!(
        status.success(),
        "bench/security.py failed ({status})\n{out}{err}"
    );
    for role in ["produce", "consume"] {
        for proto in ["plaintext", "ssl", "sasl_ssl"] {
            let row = format!("| {role} | {proto} | **kafkac / librdkafka** |");
            assert!(out.contains(&row), "no `{row}` in the output:\n{out}{err}");
        }
    }
    let raw = fs::read_to_string(dir.join("results.json")).expect("the raw results");
    assert_eq!(raw.matches("\"role\"").count(), 12, "{raw}");
    println!("{out}");
    let _ = fs::remove_dir_all(&dir);
}
