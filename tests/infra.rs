//! Checks of the integration-test support in tests/common: real brokers start,
//! answer hand-encoded requests, take fault commands and are cleaned up.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const KEYS: [(i16, &str); 7] = [
    (0, "Produce"),
    (1, "Fetch"),
    (2, "ListOffsets"),
    (3, "Metadata"),
    (18, "ApiVersions"),
    (19, "CreateTopics"),
    (20, "DeleteTopics"),
];

fn print_ranges(who: &str, v: &ApiVersions) {
    for (key, name) in KEYS {
        match v.range(key) {
            Some((min, max)) => println!("{who}: {key:>2} {name:<12} v{min}..=v{max}"),
            None => println!("{who}: {key:>2} {name:<12} not advertised"),
        }
    }
}

/// Sends ApiVersions v0 by hand and checks the response frame byte by byte.
fn check_api_versions(addr: &str, correlation_id: i32) -> ApiVersions {
    let resp = raw_request(
        addr,
        18,
        0,
        correlation_id,
        "kafkac-infra",
        &[],
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("ApiVersions to {addr}: {e}"));
    assert_eq!(&resp[..4], &correlation_id.to_be_bytes(), "correlation id");
    let v = decode_api_versions_v0(&resp).expect("decode ApiVersions v0");
    assert_eq!(v.correlation_id, correlation_id);
    assert_eq!(v.error_code, 0, "ApiVersions error code");
    assert_eq!(
        resp.len(),
        10 + 6 * v.apis.len(),
        "v0 has no trailing fields"
    );
    let (min, _) = v.range(18).expect("ApiVersions advertises itself");
    assert_eq!(min, 0);
    v
}

fn process_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Fails the test unless `python3` (or `$PYTHON`) runs: the reference clients need it.
fn require_python() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if let Err(e) = std::process::Command::new(&python)
        .arg("--version")
        .output()
    {
        panic!("{python} is needed by this test but can't be run ({e}); install it with scripts/install-deps.sh");
    }
}

#[test]
fn tansu_answers_api_versions_and_is_cleaned_up() {
    with_timeout(Duration::from_secs(60), || {
        let mut t = Tansu::start();
        assert!(t.bootstrap.starts_with("127.0.0.1:"));
        let v = check_api_versions(&t.bootstrap, 0x1234_5678);
        print_ranges("tansu", &v);
        for (key, name) in KEYS {
            assert!(v.range(key).is_some(), "tansu lacks {name}");
        }
        // A second request on a new connection, another correlation id.
        check_api_versions(&t.bootstrap, -7);

        let pid = t.pid().expect("running");
        assert!(t.is_running());
        assert!(listens_on(pid, t.port));
        assert!(!listens_on(std::process::id(), t.port));
        drop(t);
        assert!(process_gone(pid), "tansu {pid} still exists after drop");
    });
}

#[test]
fn tansu_serves_a_reference_client() {
    with_timeout(Duration::from_secs(90), || {
        require_python();
        let t = Tansu::start();
        let out = run_python("infra_smoke.py", &[&t.bootstrap, "smoke", "confluent"]);
        let kv = parse_kv(&out);
        assert_eq!(kv.get("consumed").map(String::as_str), Some("5"), "{out}");
        assert_eq!(
            kv.get("values").map(String::as_str),
            Some("v0,v1,v2,v3,v4"),
            "{out}"
        );
        let out = run_python(
            "infra_smoke.py",
            &[&t.bootstrap, "smoke-kp", "kafka-python"],
        );
        let kv = parse_kv(&out);
        assert_eq!(kv.get("consumed").map(String::as_str), Some("5"), "{out}");
        assert_eq!(
            kv.get("values").map(String::as_str),
            Some("v0,v1,v2,v3,v4"),
            "{out}"
        );
    });
}

#[test]
fn tansu_sqlite_keeps_data_across_restart() {
    with_timeout(Duration::from_secs(90), || {
        require_python();
        let dir = scratch_dir("tansu-sqlite");
        let mut t = Tansu::start_sqlite(dir.join("kafkac.db"));
        run_python(
            "infra_smoke.py",
            &[&t.bootstrap, "durable", "confluent", "create,produce"],
        );
        let port = t.port;
        t.kill(); // a crash, not a clean shutdown
        assert!(!t.is_running());
        t.restart();
        assert_eq!(t.port, port);
        check_api_versions(&t.bootstrap, 99);
        let out = run_python(
            "infra_smoke.py",
            &[&t.bootstrap, "durable", "confluent", "consume"],
        );
        assert_eq!(
            parse_kv(&out).get("values").map(String::as_str),
            Some("v0,v1,v2,v3,v4"),
            "{out}"
        );
        assert!(dir.join("kafkac.db").is_file());
    });
}

#[test]
fn mock_cluster_brokers_answer_and_take_fault_commands() {
    with_timeout(Duration::from_secs(60), || {
        let mut mc = MockCluster::start(3);
        assert_eq!(mc.brokers.len(), 3);
        assert_eq!(mc.bootstrap.split(',').count(), 3);
        for (i, addr) in mc.brokers.clone().iter().enumerate() {
            assert!(addr.starts_with("127.0.0.1:"), "{addr}");
            let v = check_api_versions(addr, 1000 + i as i32);
            if i == 0 {
                print_ranges("mock", &v);
            }
        }

        mc.create_topic("t1", 3, 3);
        mc.set_leader("t1", 0, 2);
        mc.set_leader("t1", 1, -1);
        mc.set_rtt(3, 1);
        mc.set_rtt(-1, 0);
        mc.push_broker_errors(1, 0, &[6, 6]);
        mc.push_errors(3, &[5, -195]);
        mc.clear_errors(3);

        // Unknown commands, brokers and error names are reported, not fatal.
        assert!(mc.cmd("no_such_command").is_err());
        assert!(mc.cmd("down 9").is_err());
        assert!(mc.cmd("errors 0 1 NO_SUCH_ERROR").is_err());
        assert_eq!(
            mc.cmd("errors 0 2 NOT_LEADER_FOR_PARTITION _TRANSPORT"),
            Ok(())
        );

        // An error pushed for ApiVersions comes back in its response.
        mc.push_errors(18, &[35]);
        let resp = raw_request(
            &mc.brokers[0],
            18,
            0,
            5,
            "kafkac-infra",
            &[],
            Duration::from_secs(5),
        )
        .expect("ApiVersions");
        assert_eq!(decode_api_versions_v0(&resp).unwrap().error_code, 35);

        // A broker that is down refuses connections; up again, it answers.
        let b2 = mc.broker(2).to_string();
        mc.broker_down(2);
        assert!(
            api_versions_v0(&b2, Duration::from_secs(2)).is_err(),
            "broker 2 answered while down"
        );
        mc.broker_up(2);
        check_api_versions(&b2, 77);

        let bin = mock_cluster_binary();
        assert!(bin.starts_with(target_dir().join("testbin")));
        drop(mc);
        assert!(api_versions_v0(&b2, Duration::from_secs(2)).is_err());
    });
}

#[test]
fn mock_clusters_start_in_parallel() {
    with_timeout(Duration::from_secs(60), || {
        let handles: Vec<_> = (1..=3)
            .map(|n| {
                std::thread::spawn(move || {
                    let mc = MockCluster::start(n);
                    check_api_versions(&mc.brokers[n - 1], n as i32);
                    mc.brokers.len()
                })
            })
            .collect();
        let counts: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(counts, vec![1, 2, 3]);
    });
}

#[test]
fn free_ports_are_distinct() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len(), "{ports:?}");
    assert!(!ports.contains(&0));
}

#[test]
#[should_panic(expected = "timed out")]
fn with_timeout_bounds_a_test() {
    with_timeout(Duration::from_millis(100), || {
        std::thread::sleep(Duration::from_secs(3));
    });
}

#[test]
#[should_panic(expected = "inner failure")]
fn with_timeout_passes_panics_on() {
    with_timeout(Duration::from_secs(5), || panic!("inner failure"));
}

#[test]
fn brokers_are_cleaned_up_when_a_test_panics() {
    with_timeout(Duration::from_secs(60), || {
        let pids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = pids.clone();
        let r = std::panic::catch_unwind(move || {
            let t = Tansu::start();
            let mc = MockCluster::start(1);
            seen.lock().unwrap().push(t.pid().unwrap());
            seen.lock().unwrap().push(mc.pid());
            panic!("test failure while brokers run");
        });
        let p = r.expect_err("the closure panics");
        let msg = p
            .downcast_ref::<&str>()
            .map(|m| m.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        assert_eq!(
            msg, "test failure while brokers run",
            "the brokers did not start"
        );
        let pids = pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(pids.len(), 2, "{pids:?}");
        for pid in pids {
            assert!(process_gone(pid), "process {pid} survived the panic");
        }
    });
}
