//! Generates the C header from `src/ffi/` with cbindgen, adding the Kafka error-code
//! macros from the error table in `src/protocol/error_codes.rs` (the one place they are
//! listed). The header is written to OUT_DIR; with `KAFKAC_UPDATE_HEADER=1` it is also
//! written to `include/kafkac.h`. tests/header.rs compares the two (the path is exported
//! as `KAFKAC_GENERATED_HEADER`) so a stale header fails.
//!
//! It also gives the shared library its SONAME, `libkafkac.so.<major>`: programs record
//! that name, so they load any later release of the same major version and never one
//! of another (the versioning policy is in README.md).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/protocol/error_codes.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=KAFKAC_UPDATE_HEADER");
    soname();
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(kafka_error_macros(&root));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen failed on src/ffi");
    let mut out = Vec::new();
    bindings.write(&mut out);
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let generated = out_dir.join("kafkac.h");
    fs::write(&generated, &out).expect("write OUT_DIR/kafkac.h");
    // tests/header.rs compares this file with include/kafkac.h.
    println!(
        "cargo:rustc-env=KAFKAC_GENERATED_HEADER={}",
        generated.display()
    );
    if env::var_os("KAFKAC_UPDATE_HEADER").is_some() {
        fs::write(root.join("include/kafkac.h"), &out).expect("write include/kafkac.h");
    }
}

/// `-Wl,-soname,libkafkac.so.<major>` for the cdylib on ELF targets, from Cargo.toml's
/// version. Cargo still writes the library as `target/<profile>/libkafkac.so`; a program
/// linked against it records `libkafkac.so.<major>` and finds it where
/// `scripts/install.sh` puts that name (or a symlink of that name next to the file).
fn soname() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let family = env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    // ELF platforms; Mach-O (install_name) and Windows (no SONAME) are not set up.
    let elf = family.split(',').any(|f| f == "unix") && !matches!(os.as_str(), "macos" | "ios");
    if elf {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkafkac.so.{major}");
    }
}

/// `#define KC_ERR_<NAME> <code>` for every entry `e(code, "NAME", ...)` of the table.
fn kafka_error_macros(root: &std::path::Path) -> String {
    let src = fs::read_to_string(root.join("src/protocol/error_codes.rs")).expect("error table");
    let mut s = String::from("\n/* Kafka error codes at their wire numbers (broker errors). */\n");
    let mut n = 0;
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("e(") else {
            continue;
        };
        let mut parts = rest.splitn(3, ',');
        let (Some(code), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let code: i32 = code.trim().parse().expect("error code number");
        let name = name.trim().trim_matches('"');
        if code == 0 {
            continue;
        }
        writeln!(s, "#define KC_ERR_{name} {code}").unwrap();
        n += 1;
    }
    assert!(n > 100, "error table parse found only {n} codes");
    s
}
