//! Building C programs against libkafkac for the tests that check the C side
//! (`tests/header.rs`, `tests/symbols.rs`, `tests/c_examples.rs`).
//!
//! `cargo test` compiles the library's cdylib and staticlib (the lib target lists all three
//! crate types) but leaves them in `target/<profile>/deps/`, an unstable location; only
//! `cargo build` copies them to `target/<profile>/`. So [`library`] runs
//! `cargo build --lib` for the profile this test binary was built with, once per test
//! binary. With `--release` that build is up to date right after `cargo test` compiled
//! the library and takes a fraction of a second; in the dev profile cargo builds the
//! library once more the first time (a few seconds).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The crate's root directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The C compiler: `$CC`, else `cc`.
pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// Fails the calling test unless `tool` can be started (`tool args...`, e.g.
/// `--version`), with a message that names the tool and scripts/install-deps.sh. A
/// missing tool is a failure, never a skip.
#[track_caller]
pub fn require_tool(tool: &str, args: &[&str]) {
    if let Err(e) = Command::new(tool).args(args).output() {
        panic!("{tool} is needed by this test but can't be run ({e}); install it with scripts/install-deps.sh");
    }
}

/// Where the built libraries are.
pub struct Library {
    /// `target/<profile>/`
    pub dir: PathBuf,
    /// `target/<profile>/libkafkac.a`
    pub static_lib: PathBuf,
    /// `target/<profile>/libkafkac.so`
    pub shared_lib: PathBuf,
}

/// How a C program links libkafkac.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `libkafkac.a -lpthread -ldl -lm`: what examples-c/README.md documents.
    Static,
    /// `-L<dir> -lkafkac -Wl,-rpath,<dir>`.
    Shared,
}

/// `target/<profile>/` of this test binary (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()))
        .to_path_buf()
}

/// Builds the library (`cargo build --lib` for this binary's profile) once and returns
/// where it is. Panics with cargo's output if the build fails.
pub fn library() -> &'static Library {
    static LIB: OnceLock<Result<Library, String>> = OnceLock::new();
    LIB.get_or_init(build_library)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_library() -> Result<Library, String> {
    let dir = profile_dir();
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("profile directory has no name")?
        .to_string();
    let target_dir = dir.parent().ok_or("no target directory")?;
    let mut cmd = Command::new(env!("CARGO"));
    // The variables cargo sets for a test binary describe this package. A build script
    // that reads one (ring's reads CARGO_PKG_NAME, CARGO_MANIFEST_DIR, …) declares it with
    // rerun-if-env-changed, and cargo compares the value in its own environment: with
    // them inherited, this build and `cargo test` would each find the other's build out
    // of date and rebuild those crates. Cargo sets them again for the build scripts.
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if k == "OUT_DIR"
            || k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_BIN_")
            || matches!(
                k,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            )
        {
            cmd.env_remove(k);
        }
    }
    cmd.arg("build")
        .arg("--lib")
        .arg("--manifest-path")
        .arg(manifest_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", env!("CARGO")))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lib = Library {
        static_lib: dir.join("libkafkac.a"),
        shared_lib: dir.join("libkafkac.so"),
        dir,
    };
    for p in [&lib.static_lib, &lib.shared_lib] {
        if !p.is_file() {
            return Err(format!("{cmd:?} succeeded but {} is missing", p.display()));
        }
    }
    Ok(lib)
}

/// A directory for compiled test programs: `target/testbin/c/`.
pub fn bin_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("testbin").join("c");
    fs::create_dir_all(&dir).expect("create target/testbin/c");
    dir
}

/// Compiles `src` (one C file) with `flags` into `out`, linked against libkafkac as
/// `link` says (or not linked at all when `link` is `None`: then `flags` should hold
/// `-c` or `-fsyntax-only`). The output is written under a private name and renamed into
/// place, so test binaries running at the same time never see a half-written file.
/// Returns the compiler's diagnostics on failure.
pub fn compile(
    compiler: &str,
    src: &Path,
    flags: &[&str],
    link: Option<Link>,
    out: &Path,
) -> Result<(), String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let tmp = out.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut cmd = Command::new(compiler);
    cmd.args(flags)
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg("-o")
        .arg(&tmp)
        .arg(src);
    match link {
        None => {}
        Some(Link::Static) => {
            cmd.arg(&library().static_lib)
                .args(["-lpthread", "-ldl", "-lm"]);
        }
        Some(Link::Shared) => {
            let dir = &library().dir;
            cmd.arg(format!("-L{}", dir.display()))
                .arg("-lkafkac")
                .arg(format!("-Wl,-rpath,{}", dir.display()));
        }
    }
    let res = cmd.output().map_err(|e| {
        format!("running {compiler}: {e} (install it with scripts/install-deps.sh)")
    })?;
    if !res.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            res.status,
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    fs::rename(&tmp, out).map_err(|e| format!("rename to {}: {e}", out.display()))
}

/// Builds `examples-c/<name>.c` (C99, `-Wall -Wextra -Werror`) against the static
/// library into `target/testbin/c/<dir>/`.
pub fn example(name: &str, dir: &str) -> PathBuf {
    let dir = bin_dir().join(dir);
    fs::create_dir_all(&dir).unwrap();
    library();
    let src = manifest_dir().join(format!("examples-c/{name}.c"));
    let out = dir.join(name);
    compile(
        &cc(),
        &src,
        &["-std=c99", "-Wall", "-Wextra", "-Werror", "-g"],
        Some(Link::Static),
        &out,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    out
}
