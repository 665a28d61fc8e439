//! Support for kafkac's integration tests: real brokers on loopback.
//!
//! Nothing here mocks the network. Two kinds of broker are available:
//!
//! * [`Tansu`]: a real Kafka-compatible broker (Tansu 0.6.0), one process per
//!   instance, in-memory or SQLite storage, listening on `127.0.0.1:<free port>`.
//! * [`MockCluster`]: librdkafka's mock cluster (N brokers in one process),
//!   driven by `tests/mock/mock_cluster.c` for fault injection.
//!
//! Every process started here is killed and reaped when its handle is
//! dropped (also while a test panics), and is spawned with
//! `PR_SET_PDEATHSIG = SIGKILL` from a process-lifetime thread, so it also dies
//! when the test binary dies. Broker output goes to files under
//! `target/test-logs/`, never to the terminal.
//!
//! Use [`with_timeout`] to bound a test's running time.
//!
//! This module and [`kafka`] use std only (plus the `libc` crate, a regular
//! dependency of kafkac) and no kafkac API, so they can test kafkac itself.
//! The helpers for tests of the client use kafkac: [`client`] (clients and
//! topics), [`records`] (record sets, reading back, comparing) and [`batches`]
//! (record batch headers on the wire). [`sim`] holds what the deterministic simulators
//! share (random numbers, coverage, the seed runner).
#![allow(dead_code)]

pub mod batches;
pub mod client;
pub mod ffi;
pub mod kafka;
pub mod records;
pub mod sim;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a broker may take to start answering requests.
pub const BROKER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the mock cluster may take to answer one command.
pub const MOCK_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for [`run_python`].
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Paths, ports, timeouts
// ---------------------------------------------------------------------------

/// The crate's root directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

/// `target/test-logs/`, created on first use: where broker output goes.
pub fn log_dir() -> PathBuf {
    let dir = target_dir().join("test-logs");
    fs::create_dir_all(&dir).expect("create target/test-logs");
    dir
}

/// A fresh scratch directory under `target/tmp/`, unique to this call.
/// It is left behind for inspection (cargo clean removes it); names start
/// with `prefix`.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        unique()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
///
/// Never returns the same port twice in one test binary, so tests running in
/// parallel can't be handed the same port before either of them binds it.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        if !seen.contains(&port) {
            seen.push(port);
            return port;
        }
    }
}

/// Runs `f` on its own thread and returns its result, or panics if it takes
/// longer than `limit`. A panic in `f` is passed on unchanged.
///
/// On a timeout the thread running `f` is left behind (threads can't be
/// killed); processes it started die with the test binary at the latest.
pub fn with_timeout<T, F>(limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let name = thread::current().name().unwrap_or("test").to_string();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn test thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => panic::resume_unwind(p),
        Err(RecvTimeoutError::Timeout) => panic!("{name}: timed out after {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{name}: test thread vanished"),
    }
}

/// Polls `cond` every 20 ms until it returns true; panics with `what` after
/// `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Spawning children that can't outlive the test binary
// ---------------------------------------------------------------------------

type SpawnJob = (Command, Sender<io::Result<Child>>);

/// Spawns `cmd` so that the child gets SIGKILL when the test binary exits.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, so
/// all spawns go through one thread that lives as long as the process;
/// otherwise a child would die with the test thread that happened to start it.
pub fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("kafkac-test-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn spawner thread");
        Mutex::new(tx)
    });
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, tx))
        .expect("spawner thread alive");
    rx.recv().expect("spawner thread answered")
}

/// Waits up to `limit` for `child` to exit.
fn wait_timeout(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// What a child process run by [`run_bounded`] did.
pub struct Finished {
    /// `None` when it was killed at the time limit.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub took: Duration,
}

impl Finished {
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The compiler flags of the C programs run under the sanitizers.
pub const SANITIZE_FLAGS: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-pthread",
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-g",
];

/// Runs a program built with [`SANITIZE_FLAGS`] within `limit`, with LeakSanitizer on and
/// every sanitizer stopping at its first report; fails the test on a hang, a report, a
/// panic or a failed exit, and returns its standard output.
pub fn run_sanitized(mut cmd: Command, limit: Duration) -> String {
    cmd.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    let what = format!("{cmd:?}");
    let done = run_bounded(cmd, None, limit).unwrap_or_else(|e| panic!("run {what}: {e}"));
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    let err = done.stderr_text();
    let status = done
        .status
        .unwrap_or_else(|| panic!("{what}: still running after {limit:?}:\n{out}{err}"));
    for report in [
        "AddressSanitizer",
        "LeakSanitizer",
        "UndefinedBehaviorSanitizer",
        "runtime error:",
        "panicked at",
    ] {
        assert!(!err.contains(report), "{report} ({status}):\n{out}{err}");
    }
    assert!(status.success(), "{status}:\n{out}{err}");
    out
}

/// Runs program `bin` with `args` and `stdin` (a minute at most): its exit code (None if
/// killed), stdout and stderr.
pub fn run_example(bin: &Path, args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let done = run_bounded(cmd, Some(stdin.to_vec()), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("spawn {bin:?}: {e}"));
    (
        done.status.and_then(|s| s.code()),
        String::from_utf8_lossy(&done.stdout).into_owned(),
        done.stderr_text(),
    )
}

/// Runs `cmd` (through [`spawn_guarded`]) with `stdin` written to it (or stdin closed
/// when `None`), collects stdout and stderr, and kills it if it outlives `limit`.
pub fn run_bounded(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
) -> io::Result<Finished> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = spawn_guarded(cmd)?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut input)) => Some(thread::spawn(move || {
            let _ = input.write_all(&data);
        })),
        _ => None,
    };
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_timeout(&mut child, limit)?;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let took = started.elapsed();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(Finished {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        took,
    })
}

/// Sends `sig` to `child` unless it has already been reaped.
fn signal(child: &mut Child, sig: libc::c_int) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: plain kill(2) on our own, not yet reaped, child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, sig);
        }
    }
}

/// SIGTERM, up to `grace` to exit, then SIGKILL; always reaps.
fn terminate(child: &mut Child, grace: Duration) {
    signal(child, libc::SIGTERM);
    if let Ok(Some(_)) = wait_timeout(child, grace) {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether process `pid` has a socket listening on 127.0.0.1:`port` (or on
/// all addresses), from /proc/net/tcp and /proc/<pid>/fd.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let want = [
        format!("0100007F:{port:04X}"),
        format!("00000000:{port:04X}"),
    ];
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            (f.len() > 9 && want.iter().any(|w| w == f[1]) && f[3] == "0A")
                .then(|| f[9].to_string())
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .map(|t| {
                let t = t.to_string_lossy();
                inodes.iter().any(|i| t == format!("socket:[{i}]"))
            })
            .unwrap_or(false)
    })
}

fn read_tail(path: &Path, max: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let start = buf.len().saturating_sub(max);
        s = String::from_utf8_lossy(&buf[start..]).into_owned();
    }
    s
}

// ---------------------------------------------------------------------------
// Raw Kafka requests, encoded by hand
// ---------------------------------------------------------------------------

/// Sends one request with a v1 header (`size, api_key, api_version,
/// correlation_id, client_id`) followed by `body`, and returns the response
/// frame without its size prefix: it starts with the correlation id.
pub fn raw_request(
    addr: &str,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let sa: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;

    let mut req = Vec::with_capacity(14 + client_id.len() + body.len());
    req.extend_from_slice(&api_key.to_be_bytes());
    req.extend_from_slice(&api_version.to_be_bytes());
    req.extend_from_slice(&correlation_id.to_be_bytes());
    req.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    req.extend_from_slice(client_id.as_bytes());
    req.extend_from_slice(body);
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);
    s.write_all(&frame)?;

    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(4..=64 << 20).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad response size {size}"),
        ));
    }
    let mut resp = vec![0u8; size as usize];
    s.read_exact(&mut resp)?;
    Ok(resp)
}

/// A decoded ApiVersions v0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersions {
    pub correlation_id: i32,
    pub error_code: i16,
    /// `(api_key, min_version, max_version)` in the broker's order.
    pub apis: Vec<(i16, i16, i16)>,
}

impl ApiVersions {
    /// `(min, max)` for `api_key`, if advertised.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.apis
            .iter()
            .find(|a| a.0 == api_key)
            .map(|a| (a.1, a.2))
    }
}

/// Decodes an ApiVersions v0 response frame as returned by [`raw_request`].
pub fn decode_api_versions_v0(resp: &[u8]) -> io::Result<ApiVersions> {
    fn bad(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, what.to_string())
    }
    let i16_at = |p: usize| -> io::Result<i16> {
        resp.get(p..p + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("ApiVersions response truncated"))
    };
    let i32_at = |p: usize| -> io::Result<i32> {
        resp.get(p..p + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("ApiVersions response truncated"))
    };
    let correlation_id = i32_at(0)?;
    let error_code = i16_at(4)?;
    let n = i32_at(6)?;
    if n < 0 || n as usize > (resp.len() - 10) / 6 {
        return Err(bad("ApiVersions array length out of range"));
    }
    let mut apis = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let p = 10 + 6 * i;
        apis.push((i16_at(p)?, i16_at(p + 2)?, i16_at(p + 4)?));
    }
    Ok(ApiVersions {
        correlation_id,
        error_code,
        apis,
    })
}

/// Sends ApiVersions v0 (key 18) to `addr` and decodes the answer. Fails if
/// the response's correlation id isn't the one sent.
pub fn api_versions_v0(addr: &str, timeout: Duration) -> io::Result<ApiVersions> {
    let correlation_id = 0x4b61_0000 | (unique() as i32 & 0xffff);
    let resp = raw_request(addr, 18, 0, correlation_id, "kafkac-test", &[], timeout)?;
    let v = decode_api_versions_v0(&resp)?;
    if v.correlation_id != correlation_id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "correlation id {} in response, sent {correlation_id}",
                v.correlation_id
            ),
        ));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------
// Tansu
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Storage {
    Memory,
    /// SQLite database file (absolute path).
    Sqlite(PathBuf),
}

/// A running Tansu broker on `127.0.0.1:<port>`; killed when dropped.
///
/// Tansu 0.6.0 does not create topics automatically: create them first
/// (CreateTopics, e.g. with `run_python`), or the client will wait.
pub struct Tansu {
    /// `127.0.0.1:<port>`, also the advertised listener.
    pub bootstrap: String,
    pub port: u16,
    /// Broker stdout/stderr; appended to across restarts.
    pub log_path: PathBuf,
    pub cluster_id: String,
    storage: Storage,
    child: Option<Child>,
}

impl Tansu {
    /// The Tansu binary: `$KAFKAC_TANSU`, else
    /// `$KAFKAC_CACHE/tansu-0.6.0/bin/tansu`, else
    /// `$HOME/.cache/kafkac/tansu-0.6.0/bin/tansu`. Panics if missing.
    pub fn binary() -> PathBuf {
        let candidates: Vec<PathBuf> = [
            std::env::var_os("KAFKAC_TANSU").map(PathBuf::from),
            std::env::var_os("KAFKAC_CACHE")
                .map(|c| PathBuf::from(c).join("tansu-0.6.0/bin/tansu")),
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/kafkac/tansu-0.6.0/bin/tansu")),
        ]
        .into_iter()
        .flatten()
        .collect();
        for c in &candidates {
            if c.is_file() {
                return c.clone();
            }
        }
        panic!(
            "Tansu binary not found (looked at {candidates:?}); run scripts/install-deps.sh \
             or set KAFKAC_TANSU"
        );
    }

    /// Starts a broker with in-memory storage on a free port.
    pub fn start() -> Tansu {
        Self::launch(Storage::Memory)
    }

    /// Starts a broker whose data lives in the SQLite file `path` (created if
    /// missing), so that it survives [`Tansu::restart`] and a fresh
    /// `start_sqlite` with the same path.
    pub fn start_sqlite(path: impl AsRef<Path>) -> Tansu {
        let path = path.as_ref();
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().expect("cwd").join(path)
        };
        Self::launch(Storage::Sqlite(abs))
    }

    fn launch(storage: Storage) -> Tansu {
        // A free port can be taken by someone else before Tansu binds it:
        // retry with another one when the broker exits during startup.
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut t = Tansu {
                bootstrap: format!("127.0.0.1:{port}"),
                port,
                log_path: log_dir().join(format!(
                    "tansu-{}-{}-{port}.log",
                    std::process::id(),
                    unique()
                )),
                cluster_id: "kafkac-test".to_string(),
                storage: storage.clone(),
                child: None,
            };
            match t.spawn_and_wait() {
                Ok(()) => return t,
                Err(e) => last_err = e,
            }
        }
        panic!("{last_err}");
    }

    /// The broker's pid, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The command line used to start the broker (for logs and reports).
    pub fn command_line(&self) -> Vec<String> {
        let (url, _) = self.storage_url();
        vec![
            Self::binary().display().to_string(),
            "broker".into(),
            "--listener-url".into(),
            format!("tcp://{}", self.bootstrap),
            "--advertised-listener-url".into(),
            format!("tcp://{}", self.bootstrap),
            "--storage-engine".into(),
            url,
            "--cluster-id".into(),
            self.cluster_id.clone(),
            "--silent".into(),
        ]
    }

    /// Storage URL and the working directory to run in. Tansu resolves a
    /// `sqlite://` URL's path relative to its working directory (a leading
    /// `/` is stripped), so it runs in the database's directory.
    fn storage_url(&self) -> (String, Option<PathBuf>) {
        match &self.storage {
            Storage::Memory => ("memory://tansu/".to_string(), None),
            Storage::Sqlite(p) => {
                let dir = p.parent().expect("sqlite path has a directory");
                let name = p.file_name().expect("sqlite path has a file name");
                (
                    format!("sqlite:///{}", name.to_string_lossy()),
                    Some(dir.to_path_buf()),
                )
            }
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let argv = self.command_line();
        let (_, cwd) = self.storage_url();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open tansu log");
        let _ = writeln!(log, "# {}", argv.join(" "));
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        for var in [
            "CLUSTER_ID",
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "STORAGE_ENGINE",
            "SCHEMA_REGISTRY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("KAFKAC_TANSU_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env("NO_COLOR", "1");
        if let Some(dir) = cwd {
            fs::create_dir_all(&dir).expect("create sqlite directory");
            cmd.current_dir(dir);
        }
        let child = spawn_guarded(cmd).map_err(|e| format!("spawn {:?}: {e}", argv[0]))?;
        self.child = Some(child);

        let deadline = Instant::now() + BROKER_START_TIMEOUT;
        loop {
            let child = self.child.as_mut().unwrap();
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return Err(format!(
                    "tansu exited during startup ({st}); log {}:\n{}",
                    self.log_path.display(),
                    read_tail(&self.log_path, 8192)
                ));
            }
            // The port was free a moment ago, but someone else may have
            // taken it since: make sure the listener is this child's before
            // trusting an answer.
            let ours = listens_on(child.id(), self.port);
            match api_versions_v0(&self.bootstrap, Duration::from_secs(2)) {
                Ok(v) if ours && v.error_code == 0 && !v.apis.is_empty() => return Ok(()),
                _ if Instant::now() >= deadline => {
                    self.kill();
                    panic!(
                        "tansu did not answer on {} within {BROKER_START_TIMEOUT:?}; log {}:\n{}",
                        self.bootstrap,
                        self.log_path.display(),
                        read_tail(&self.log_path, 8192)
                    );
                }
                _ => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the broker gracefully (SIGTERM, SIGKILL after 5 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(5));
        }
    }

    /// Kills the broker at once (SIGKILL), like a crash, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker again on the same port with the same storage
    /// (stopping it first if it runs). In-memory storage starts out empty.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("restart: {e}");
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// librdkafka mock cluster
// ---------------------------------------------------------------------------

/// Builds `tests/mock/mock_cluster.c` into `target/testbin/mock_cluster`
/// (once per test binary; rebuilt when the source is newer) and returns its
/// path. Panics with the compiler's output on failure.
pub fn mock_cluster_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(build_mock_cluster)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The compiler and linker flags of the system librdkafka (`pkg-config rdkafka`).
pub fn rdkafka_flags() -> Result<Vec<String>, String> {
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "rdkafka"])
        .output()
        .map_err(|e| format!("pkg-config: {e} (run scripts/install-deps.sh)"))?;
    if !pc.status.success() {
        return Err(format!(
            "pkg-config rdkafka failed (run scripts/install-deps.sh): {}",
            String::from_utf8_lossy(&pc.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&pc.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

fn build_mock_cluster() -> Result<PathBuf, String> {
    let src = manifest_dir().join("tests/mock/mock_cluster.c");
    let dir = target_dir().join("testbin");
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let bin = dir.join("mock_cluster");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(b), Some(s)) = (mtime(&bin), mtime(&src)) {
        if b >= s {
            return Ok(bin);
        }
    }
    let flags = rdkafka_flags()?.join(" ");
    // Other test binaries (nextest runs them in parallel) may build the same
    // file: compile to a private name, then rename into place atomically.
    let tmp = dir.join(format!(
        "mock_cluster.{}.{}.tmp",
        std::process::id(),
        unique()
    ));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(flags.split_whitespace())
        .output()
        .map_err(|e| format!("{cc}: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "compiling {} failed:\n{}{}",
            src.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::rename(&tmp, &bin).map_err(|e| format!("rename to {}: {e}", bin.display()))?;
    Ok(bin)
}

/// A librdkafka mock cluster (brokers 1..=n on 127.0.0.1) in a child
/// process, driven by text commands; shut down when dropped.
///
/// The mock supports no CreateTopics; create topics with
/// [`MockCluster::create_topic`]. It auto-creates topics on Metadata
/// requests that ask for them.
pub struct MockCluster {
    /// Comma-separated `127.0.0.1:<port>` list of all brokers.
    pub bootstrap: String,
    /// Broker addresses; `brokers[i]` is broker id `i + 1`.
    pub brokers: Vec<String>,
    pub log_path: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl MockCluster {
    /// Starts a mock cluster with `n` brokers (ids 1..=n).
    pub fn start(n: usize) -> MockCluster {
        let bin = mock_cluster_binary();
        let log_path = log_dir().join(format!(
            "mock-cluster-{}-{}.log",
            std::process::id(),
            unique()
        ));
        let log = File::create(&log_path).expect("create mock cluster log");
        let mut cmd = Command::new(&bin);
        cmd.arg(n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = spawn_guarded(cmd).unwrap_or_else(|e| panic!("spawn {bin:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("mock stdout");
        let (tx, lines) = mpsc::channel();
        thread::Builder::new()
            .name("mock-cluster-reader".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(l) => {
                            if tx.send(l).is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
            })
            .expect("spawn reader thread");
        let mut mc = MockCluster {
            bootstrap: String::new(),
            brokers: Vec::new(),
            log_path,
            child,
            stdin,
            lines,
        };
        let first = mc.read_line(BROKER_START_TIMEOUT);
        let servers = first
            .strip_prefix("bootstrap ")
            .unwrap_or_else(|| panic!("mock cluster said {first:?}, expected a bootstrap line"))
            .to_string();
        mc.brokers = servers.split(',').map(str::to_string).collect();
        mc.bootstrap = servers;
        assert_eq!(mc.brokers.len(), n, "mock cluster broker count");
        mc
    }

    fn read_line(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(l) => l,
            Err(e) => {
                let st = self.child.try_wait();
                panic!(
                    "mock cluster gave no answer ({e:?}, process {st:?}); log {}:\n{}",
                    self.log_path.display(),
                    read_tail(&self.log_path, 8192)
                );
            }
        }
    }

    /// Sends one command line (see tests/mock/mock_cluster.c) and returns
    /// `Ok` for `ok`, `Err(text)` for `error <text>`. Panics if the mock
    /// cluster doesn't answer within [`MOCK_COMMAND_TIMEOUT`].
    pub fn cmd(&mut self, line: &str) -> Result<(), String> {
        assert!(!line.contains('\n'), "one command per call");
        let stdin = self.stdin.as_mut().expect("mock cluster is shut down");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|_| stdin.flush()) {
            panic!(
                "mock cluster stdin: {e}; log {}:\n{}",
                self.log_path.display(),
                read_tail(&self.log_path, 8192)
            );
        }
        let reply = self.read_line(MOCK_COMMAND_TIMEOUT);
        if reply == "ok" {
            Ok(())
        } else if let Some(e) = reply.strip_prefix("error ") {
            Err(e.to_string())
        } else {
            panic!("mock cluster: unexpected reply {reply:?} to {line:?}");
        }
    }

    fn must(&mut self, line: &str) {
        if let Err(e) = self.cmd(line) {
            panic!("mock cluster command {line:?}: {e}");
        }
    }

    /// The mock cluster process's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Address of broker `id` (1-based).
    pub fn broker(&self, id: i32) -> &str {
        &self.brokers[(id - 1) as usize]
    }

    /// Creates a topic (the mock has no CreateTopics API).
    pub fn create_topic(&mut self, name: &str, partitions: i32, replication: i32) {
        self.must(&format!("topic {name} {partitions} {replication}"));
    }

    /// Makes `broker_id` the partition's leader (-1: no leader).
    pub fn set_leader(&mut self, topic: &str, partition: i32, broker_id: i32) {
        self.must(&format!("leader {topic} {partition} {broker_id}"));
    }

    /// Disconnects the broker and refuses new connections (-1: all).
    pub fn broker_down(&mut self, broker_id: i32) {
        self.must(&format!("down {broker_id}"));
    }

    /// Accepts connections on the broker again (-1: all).
    pub fn broker_up(&mut self, broker_id: i32) {
        self.must(&format!("up {broker_id}"));
    }

    /// The next `errors.len()` requests with `api_key`, on any broker, fail
    /// with these error codes in order (-195, librdkafka's `_TRANSPORT`,
    /// closes the connection instead).
    pub fn push_errors(&mut self, api_key: i16, errors: &[i16]) {
        assert!(!errors.is_empty());
        let list: Vec<String> = errors.iter().map(i16::to_string).collect();
        self.must(&format!(
            "errors {api_key} {} {}",
            errors.len(),
            list.join(" ")
        ));
    }

    /// Like [`push_errors`](Self::push_errors), for one broker only; these
    /// take precedence over the cluster-wide ones.
    pub fn push_broker_errors(&mut self, broker_id: i32, api_key: i16, errors: &[i16]) {
        assert!(!errors.is_empty());
        let list: Vec<String> = errors.iter().map(i16::to_string).collect();
        self.must(&format!(
            "broker_errors {broker_id} {api_key} {} {}",
            errors.len(),
            list.join(" ")
        ));
    }

    /// Clears the cluster-wide error stack for `api_key`.
    pub fn clear_errors(&mut self, api_key: i16) {
        self.must(&format!("clear_errors {api_key}"));
    }

    /// Delays every response of the broker by `ms` (-1: all brokers).
    pub fn set_rtt(&mut self, broker_id: i32, ms: u32) {
        self.must(&format!("rtt {broker_id} {ms}"));
    }

    /// Shuts the mock cluster down (also done on drop).
    pub fn shutdown(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
            let _ = stdin.flush();
            // Dropping stdin closes it: EOF also makes the program exit.
        }
        if let Ok(Some(_)) = wait_timeout(&mut self.child, Duration::from_secs(5)) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------------------
// Python interop scripts
// ---------------------------------------------------------------------------

/// Runs `python3 tests/interop/<script> <args...>` from the crate root,
/// bounded by [`PYTHON_TIMEOUT`], and returns its stdout. Panics with its
/// stderr if it fails or times out.
pub fn run_python(script: &str, args: &[&str]) -> String {
    run_python_timeout(script, args, PYTHON_TIMEOUT)
}

/// [`run_python`] with an explicit time limit.
pub fn run_python_timeout(script: &str, args: &[&str], limit: Duration) -> String {
    let path = manifest_dir().join("tests/interop").join(script);
    assert!(path.is_file(), "no such script {}", path.display());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(&path)
        .args(args)
        .current_dir(manifest_dir())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let run = run_bounded(cmd, None, limit).unwrap_or_else(|e| panic!("spawn {python}: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = run.stderr_text();
    let timed_out = run.status.is_none();
    let status = run.status.unwrap_or_default();
    if timed_out || !status.success() {
        panic!(
            "{script} {args:?} {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            if timed_out {
                format!("timed out after {limit:?}")
            } else {
                format!("failed: {status}")
            }
        );
    }
    stdout
}

/// Parses `key=value` lines (as the interop scripts print) into a map.
pub fn parse_kv(output: &str) -> HashMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
