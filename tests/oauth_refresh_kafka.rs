//! The OAUTHBEARER token refresh callback (`kc_conf_set_oauthbearer_token_refresh_cb`)
//! against Apache Kafka 4.3, and its configuration errors offline.
//!
//! One single-node cluster with a `SASL_PLAINTEXT` listener taking OAUTHBEARER with
//! unsecured JWTs (Kafka's default validator) and `connections.max.reauth.ms=3000`, so
//! that connections re-authenticate (KIP-368) with each new token. The C program
//! tests/c/oauth_refresh.c, built with -Wall -Wextra -Werror and run under ASan/UBSan,
//! serves the callback inside the producer's and the consumer's polls and on a
//! low-level client's background thread.

mod clib;
mod common;

use common::kafka::KafkaCluster;
use common::with_timeout;
use kafkac::ffi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Limit for one test (includes starting the shared cluster, building the C program
/// and runs of 20–40 s on a loaded machine).
const LIMIT: Duration = Duration::from_secs(400);

fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        KafkaCluster::start_with_oauthbearer(1, &[("connections.max.reauth.ms", "3000")])
    })
}

/// The C program, built once per test binary.
fn program() -> std::path::PathBuf {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        clib::library();
        let dir = clib::bin_dir().join("oauth-refresh");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("oauth_refresh");
        clib::compile(
            &clib::cc(),
            &clib::manifest_dir().join("tests/c/oauth_refresh.c"),
            common::SANITIZE_FLAGS,
            Some(clib::Link::Static),
            &out,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        out
    })
    .clone()
}

fn run(args: &[&str], limit: Duration) -> String {
    let t = Instant::now();
    let bin = program();
    eprintln!("oauth_refresh built in {:?}", t.elapsed());
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let out = common::run_sanitized(cmd, limit);
    assert!(out.ends_with("ok\n"), "{out}");
    out
}

/// The number after `prefix` on the line that starts with it.
fn number_after(out: &str, prefix: &str) -> usize {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{prefix}' in:\n{out}"))
}

/// A producer whose callback runs inside its polls gets short-lived tokens (10 s)
/// refreshed at 80 % of their lifetime during a 20 s produce run, its connections
/// re-authenticating every ~3 s with the newest one, and loses nothing; a consumer's
/// callback runs inside its polls and reads every message back.
#[test]
fn refresh_callback_served_by_poll_during_a_produce_run() {
    with_timeout(LIMIT, || {
        let b = cluster().nodes[0].listener_addr("SASL_PLAINTEXT");
        let topic = "oauth-refresh-poll";
        common::client::create_topic(
            &common::client::client(&cluster().bootstrap),
            topic,
            1,
            1,
            &[],
            Duration::from_secs(30),
        );
        let t = Instant::now();
        let out = run(
            &[&b, topic, "produce", "1000", "20"],
            Duration::from_secs(120),
        );
        println!("{out}");
        assert!(t.elapsed() >= Duration::from_secs(20));
        assert_eq!(number_after(&out, "delivered: "), 1000, "{out}");
        // At start, then at 8 s and 16 s: at least two refreshes.
        let calls = number_after(&out, "refresh calls: ");
        assert!((3..=4).contains(&calls), "{out}");
        let out = run(&[&b, topic, "consume", "1000"], Duration::from_secs(90));
        println!("{out}");
        assert_eq!(number_after(&out, "consumed: "), 1000, "{out}");
        assert!(number_after(&out, "refresh calls: ") >= 1, "{out}");
    });
}

/// A low-level client that never polls, with background callbacks: the callback's first
/// call reports a failure, which the client's calls return (`KC_ERR__AUTHENTICATION`
/// with the callback's words); it is called again 10 s later on the background thread
/// and sets a token; tokens living 6 s are then refreshed in the background; freeing
/// the client joins the thread at once.
#[test]
fn refresh_callback_on_a_background_thread_retries_after_a_failure() {
    with_timeout(LIMIT, || {
        let t = Instant::now();
        let b = cluster().nodes[0].listener_addr("SASL_PLAINTEXT");
        eprintln!("cluster ready in {:?}", t.elapsed());
        let out = run(&[&b, "unused", "background"], Duration::from_secs(120));
        println!("{out}");
        assert!(
            out.contains("metadata after the failure: -169")
                && out.contains("identity provider unavailable (c test)"),
            "{out}"
        );
        assert!(number_after(&out, "refresh calls: ") >= 4, "{out}");
    });
}

// ---------------------------------------------------------------------------------------
// Offline: configuration errors and the calls' argument errors
// ---------------------------------------------------------------------------------------

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    let mut buf = vec![0 as c_char; 1024];
    // SAFETY: `buf` has `len` writable bytes.
    unsafe { kc_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: NUL-terminated by kc_last_error.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[track_caller]
fn assert_err(got: kc_err_t, want: kc_err_t, words: &[&str]) {
    let msg = last_error();
    assert_eq!(got, want, "{msg}");
    for w in words {
        assert!(msg.contains(w), "'{w}' not in '{msg}'");
    }
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_calls(
    _ob: *mut kc_oauthbearer_t,
    _config: *const c_char,
    _opaque: *mut c_void,
) {
    CALLS.fetch_add(1, Ordering::SeqCst);
}

/// A configuration for an address where nothing listens.
fn conf(settings: &[(&str, &str)]) -> *mut kc_conf_t {
    let c = kc_conf_new();
    let port = common::free_port();
    let mut all = vec![("bootstrap.servers", format!("127.0.0.1:{port}"))];
    all.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    for (k, v) in all {
        // SAFETY: live conf, NUL-terminated strings.
        let e = unsafe { kc_conf_set(c, cs(k).as_ptr(), cs(&v).as_ptr()) };
        assert_eq!(e, 0, "{k}={v}: {}", last_error());
    }
    c
}

const OAUTH: &[(&str, &str)] = &[
    ("security.protocol", "sasl_plaintext"),
    ("sasl.mechanism", "OAUTHBEARER"),
];

#[test]
fn a_refresh_callback_with_the_unsecured_jwt_is_a_configuration_error() {
    with_timeout(LIMIT, || unsafe {
        assert_err(
            kc_conf_set_oauthbearer_token_refresh_cb(ptr::null_mut(), Some(count_calls)),
            KC_ERR__NULL_ARG,
            &["conf"],
        );
        let mut settings = OAUTH.to_vec();
        settings.push(("enable.sasl.oauthbearer.unsecure.jwt", "true"));
        settings.push(("sasl.oauthbearer.config", "principal=alice"));
        let c = conf(&settings);
        assert_eq!(
            kc_conf_set_oauthbearer_token_refresh_cb(c, Some(count_calls)),
            0
        );
        let words = [
            "enable.sasl.oauthbearer.unsecure.jwt",
            "kc_conf_set_oauthbearer_token_refresh_cb",
            "mutually exclusive",
        ];
        let mut client = ptr::null_mut();
        assert_err(
            kc_client_new(c, &mut client),
            KC_ERR__INVALID_CONFIG,
            &words,
        );
        assert!(client.is_null());
        // The copy keeps the callback.
        let d = kc_conf_dup(c);
        let mut client = ptr::null_mut();
        assert_err(
            kc_client_new(d, &mut client),
            KC_ERR__INVALID_CONFIG,
            &words,
        );
        // NULL removes it.
        assert_eq!(kc_conf_set_oauthbearer_token_refresh_cb(c, None), 0);
        assert_eq!(kc_client_new(c, &mut client), 0, "{}", last_error());
        kc_client_free(client);
        kc_conf_free(c);
        kc_conf_free(d);
    });
}

#[test]
fn background_callbacks_need_a_refresh_callback_and_stop_with_the_client() {
    with_timeout(LIMIT, || unsafe {
        assert_err(
            kc_client_sasl_background_callbacks_enable(ptr::null()),
            KC_ERR__NULL_ARG,
            &["client"],
        );
        // No callback, or one that a PLAIN client never calls: nothing to run.
        for (settings, cb) in [
            (OAUTH.to_vec(), None),
            (
                vec![
                    ("security.protocol", "sasl_plaintext"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.username", "u"),
                ],
                Some(count_calls as unsafe extern "C" fn(_, _, _)),
            ),
        ] {
            let c = conf(&settings);
            assert_eq!(kc_conf_set_oauthbearer_token_refresh_cb(c, cb), 0);
            let mut client = ptr::null_mut();
            assert_eq!(kc_client_new(c, &mut client), 0, "{}", last_error());
            assert_err(
                kc_client_sasl_background_callbacks_enable(client),
                KC_ERR__STATE,
                &["no OAUTHBEARER token refresh callback"],
            );
            kc_client_free(client);
            kc_conf_free(c);
        }
        // With one: called at once on the background thread; a client that polls
        // instead calls it in kc_client_event_poll.
        let c = conf(OAUTH);
        assert_eq!(
            kc_conf_set_oauthbearer_token_refresh_cb(c, Some(count_calls)),
            0
        );
        let before = CALLS.load(Ordering::SeqCst);
        let mut client = ptr::null_mut();
        assert_eq!(kc_client_new(c, &mut client), 0);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(CALLS.load(Ordering::SeqCst), before, "not before a poll");
        assert_eq!(kc_client_sasl_background_callbacks_enable(client), 0);
        let t = Instant::now();
        while CALLS.load(Ordering::SeqCst) == before {
            assert!(t.elapsed() < Duration::from_secs(5), "never called");
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = Instant::now();
        kc_client_free(client);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let mut polling = ptr::null_mut();
        assert_eq!(kc_client_new(c, &mut polling), 0);
        let before = CALLS.load(Ordering::SeqCst);
        let (mut sev, mut code) = (0, 0);
        assert_err(
            kc_client_event_poll(polling, &mut sev, &mut code, ptr::null_mut(), 0),
            KC_ERR__NOENT,
            &[],
        );
        assert_eq!(CALLS.load(Ordering::SeqCst), before + 1);
        // Not due again until 10 s later (it set nothing).
        let _ = kc_client_event_poll(polling, &mut sev, &mut code, ptr::null_mut(), 0);
        assert_eq!(CALLS.load(Ordering::SeqCst), before + 1);
        kc_client_free(polling);
        kc_conf_free(c);
    });
}
