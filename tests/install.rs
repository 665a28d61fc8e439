//! `scripts/install.sh` installs the library, the header and a pkg-config file, and a C
//! program builds from `pkg-config --cflags --libs kafkac` alone. The shared library
//! carries the SONAME `libkafkac.so.<major>`, is installed as `libkafkac.so.<version>`
//! with the `libkafkac.so.<major>` and `libkafkac.so` links, and a program linked against
//! it records the SONAME and runs with only that name present (as on a system with the
//! runtime package and not the development one).

mod clib;

use std::path::Path;
use std::process::Command;

/// (major << 16) | (minor << 8) | patch, from Cargo.toml's version.
fn version_num() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap();
    (part(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (part(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// The program built against the installed library: prints the version, checks that the
/// library loaded is of the major version it was compiled for, and runs a client (its
/// I/O thread started and joined) against an address nothing listens on (argv[1]).
const PROGRAM: &str = r#"#include <stdio.h>
#include <string.h>
#include <kafkac.h>

int main(int argc, char **argv) {
    kc_conf_t *conf;
    kc_client_t *client;
    kc_metadata_t *md = NULL;
    kc_err_t err;
    printf("%s %u\n", kc_version(), kc_version_num());
    if ((kc_version_num() >> 16) != KC_VERSION_MAJOR) {
        fprintf(stderr, "loaded major %u, compiled for %u\n", kc_version_num() >> 16,
                (unsigned)KC_VERSION_MAJOR);
        return 1;
    }
    if (strcmp(kc_err_name(KC_ERR__TIMED_OUT), "_TIMED_OUT") != 0 || argc != 2)
        return 2;
    conf = kc_conf_new();
    if (kc_conf_set(conf, "bootstrap.servers", argv[1]) != KC_OK ||
        kc_client_new(conf, &client) != KC_OK)
        return 3;
    kc_conf_free(conf);
    err = kc_client_metadata(client, NULL, 0, 300, &md);
    kc_client_free(client);
    if (err != KC_ERR__ALL_BROKERS_DOWN && err != KC_ERR__TIMED_OUT) {
        fprintf(stderr, "metadata from %s: %s\n", argv[1], kc_err_name(err));
        return 4;
    }
    return md != NULL;
}
"#;

/// `libkafkac.so.<major>`, from Cargo.toml's version.
fn soname() -> String {
    format!("libkafkac.so.{}", env!("CARGO_PKG_VERSION_MAJOR"))
}

/// The entries of `tag` (`SONAME`, `NEEDED`) in the dynamic section of an ELF file, as
/// `readelf -d` prints them: `0x... (NEEDED)  Shared library: [libc.so.6]`.
fn dynamic_entries(file: &Path, tag: &str) -> Vec<String> {
    clib::require_tool("readelf", &["--version"]);
    let out = Command::new("readelf")
        .arg("-d")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("readelf -d {}: {e}", file.display()));
    assert!(
        out.status.success(),
        "readelf -d {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| l.contains(&format!("({tag})")))
        .filter_map(|l| {
            let (_, rest) = l.split_once('[')?;
            Some(rest.split_once(']')?.0.to_string())
        })
        .collect()
}

/// The library cargo builds carries the SONAME (build.rs passes it to the linker).
#[test]
fn built_shared_library_has_the_soname_of_its_major_version() {
    let lib = &clib::library().shared_lib;
    assert_eq!(
        dynamic_entries(lib, "SONAME"),
        [soname()],
        "SONAME of {}",
        lib.display()
    );
}

#[test]
fn installed_library_builds_with_pkg_config() {
    for (tool, args) in [
        ("bash", &["--version"][..]),
        ("pkg-config", &["--version"][..]),
        ("readelf", &["--version"][..]),
        (&clib::cc(), &["--version"][..]),
    ] {
        clib::require_tool(tool, args);
    }
    let lib = clib::library();
    let prefix = std::env::temp_dir().join(format!("kafkac-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    let out = Command::new("bash")
        .arg(clib::manifest_dir().join("scripts/install.sh"))
        .arg(&prefix)
        .env("KAFKAC_LIB_DIR", &lib.dir)
        .output()
        .unwrap_or_else(|e| panic!("bash scripts/install.sh: {e}"));
    assert!(
        out.status.success(),
        "install.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "include/kafkac.h",
        "include/kafkac.hpp",
        "lib/libkafkac.so",
        "lib/libkafkac.a",
        "lib/pkgconfig/kafkac.pc",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
    // The file under its full version, its SONAME and the development name as links.
    let libdir = prefix.join("lib");
    let real = format!("libkafkac.so.{}", env!("CARGO_PKG_VERSION"));
    let meta = std::fs::symlink_metadata(libdir.join(&real))
        .unwrap_or_else(|e| panic!("{real} not installed: {e}"));
    assert!(
        meta.file_type().is_file(),
        "{real} should be the file itself"
    );
    for (link, target) in [(soname(), real.clone()), ("libkafkac.so".into(), soname())] {
        let got = std::fs::read_link(libdir.join(&link))
            .unwrap_or_else(|e| panic!("{link} should be a symlink: {e}"));
        assert_eq!(got, Path::new(&target), "{link} -> {}", got.display());
    }
    assert_eq!(
        dynamic_entries(&libdir.join(&real), "SONAME"),
        [soname()],
        "SONAME of the installed {real}"
    );
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "kafkac"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .unwrap_or_else(|e| panic!("pkg-config: {e}"));
    assert!(
        pc.status.success(),
        "pkg-config: {}",
        String::from_utf8_lossy(&pc.stderr)
    );
    let flags = String::from_utf8(pc.stdout).unwrap();
    assert!(flags.contains("-lkafkac"), "{flags}");
    let exe = prefix.join("version");
    let src = prefix.join("version.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let cc = Command::new(clib::cc())
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-o",
        ])
        .arg(&exe)
        .arg(&src)
        .args(flags.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", clib::cc()));
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    // The program records the SONAME, not the name it was linked with.
    let needed = dynamic_entries(&exe, "NEEDED");
    assert!(
        needed.contains(&soname()) && !needed.iter().any(|n| n == "libkafkac.so"),
        "{} needs {needed:?}, expected {}",
        exe.display(),
        soname()
    );
    // A port nothing listens on.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let run_version = || {
        let run = Command::new(&exe)
            .arg(&nowhere)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        assert!(
            run.status.success(),
            "{} failed ({}): {}",
            exe.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            String::from_utf8(run.stdout).unwrap(),
            format!("{} {}\n", env!("CARGO_PKG_VERSION"), version_num())
        );
    };
    run_version();
    // Without the development link it still runs: it loads the library by its SONAME.
    std::fs::remove_file(libdir.join("libkafkac.so")).unwrap();
    run_version();
    let _ = std::fs::remove_dir_all(&prefix);
}
