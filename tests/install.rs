//! `scripts/install.sh` installs the library, the header and a pkg-config file, and a C
//! program builds from `pkg-config --cflags --libs kafkac` alone.

mod clib;

use std::process::Command;

/// (major << 16) | (minor << 8) | patch, from Cargo.toml's version.
fn version_num() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap();
    (part(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (part(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | part(env!("CARGO_PKG_VERSION_PATCH"))
}

#[test]
fn installed_library_builds_with_pkg_config() {
    for (tool, args) in [
        ("bash", &["--version"][..]),
        ("pkg-config", &["--version"][..]),
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
        "lib/libkafkac.so",
        "lib/libkafkac.a",
        "lib/pkgconfig/kafkac.pc",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
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
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <string.h>\n#include <kafkac.h>\n\
         int main(void) { printf(\"%s %u\\n\", kc_version(), kc_version_num());\n\
         return strcmp(kc_err_name(KC_ERR__TIMED_OUT), \"_TIMED_OUT\") != 0; }\n",
    )
    .unwrap();
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
    let run = Command::new(&exe)
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
    let _ = std::fs::remove_dir_all(&prefix);
}
