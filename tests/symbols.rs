//! Every function of the C API is exported: tests/c/symbols.c takes the address of each
//! one and is linked against the shared and the static library (as librdkafka's
//! tests/0006-symbols.c does), and the list in it must name every `kc_` function the
//! header declares, so a new function that is not added there fails here.

mod clib;

use clib::Link;
use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

/// The names of the functions include/kafkac.h declares. cbindgen writes each
/// declaration on one line (`[fn] args = "horizontal"`), at the start of the line:
/// `<return type> kc_name(<args>);`.
fn header_functions() -> BTreeSet<String> {
    let header = fs::read_to_string(clib::manifest_dir().join("include/kafkac.h"))
        .expect("read include/kafkac.h");
    let mut names = BTreeSet::new();
    for line in header.lines() {
        let l = line.trim_end();
        if l.starts_with(char::is_whitespace)
            || l.starts_with("//")
            || l.starts_with('#')
            || l.starts_with("typedef")
            || !l.ends_with(");")
        {
            continue;
        }
        let Some(paren) = l.find('(') else { continue };
        let name: String = l[..paren]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if name.starts_with("kc_") {
            names.insert(name);
        }
    }
    names
}

/// The names listed as `SYM(kc_name)` in tests/c/symbols.c.
fn listed_functions() -> BTreeSet<String> {
    let src =
        fs::read_to_string(clib::manifest_dir().join("tests/c/symbols.c")).expect("symbols.c");
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("SYM("))
        .filter_map(|l| l.split_once(')'))
        .map(|(name, _)| name.to_string())
        .filter(|n| n.starts_with("kc_"))
        .collect()
}

#[test]
fn symbols_c_lists_every_function_the_header_declares() {
    let declared = header_functions();
    assert!(
        declared.len() >= 30 && declared.contains("kc_client_produce"),
        "header parse found only {declared:?}"
    );
    let listed = listed_functions();
    let missing: Vec<_> = declared.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "tests/c/symbols.c does not reference {missing:?}: add a SYM(...) line for each"
    );
    assert!(
        extra.is_empty(),
        "tests/c/symbols.c references {extra:?}, which include/kafkac.h does not declare"
    );
}

/// A directory holding `libkafkac.so.<major>` as a link to the library cargo built. A
/// program linked with `-lkafkac` records the library's SONAME, `libkafkac.so.<major>`
/// (build.rs), and loads that name at run time; cargo writes only `libkafkac.so`, so the
/// name is provided here (scripts/install.sh installs it).
fn soname_dir() -> std::path::PathBuf {
    let dir = clib::bin_dir().join("soname");
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join(format!("libkafkac.so.{}", env!("CARGO_PKG_VERSION_MAJOR")));
    // Made under a private name and renamed into place: test binaries running at the
    // same time never see it missing.
    let tmp = link.with_extension(format!("{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&clib::library().shared_lib, &tmp)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", tmp.display()));
    fs::rename(&tmp, &link).unwrap_or_else(|e| panic!("rename to {}: {e}", link.display()));
    dir
}

#[test]
fn every_symbol_links_and_resolves_with_the_shared_and_the_static_library() {
    let src = clib::manifest_dir().join("tests/c/symbols.c");
    let n = listed_functions().len();
    for link in [Link::Shared, Link::Static] {
        let out = clib::bin_dir().join(format!("symbols-{link:?}").to_lowercase());
        clib::compile(
            &clib::cc(),
            &src,
            &[
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-g",
            ],
            Some(link),
            &out,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(&out);
        if link == Link::Shared {
            cmd.env("LD_LIBRARY_PATH", soname_dir());
        }
        let run = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", out.display()));
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{link:?}: {} failed ({}):\n{stdout}{}",
            out.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            stdout.trim(),
            format!("{n} symbols, version {}", env!("CARGO_PKG_VERSION")),
            "{link:?}"
        );
    }
}

/// The shared library exports exactly the functions the header declares: no `kc_`
/// function without a declaration (a `#[no_mangle]` function cbindgen did not see).
#[test]
fn shared_library_exports_exactly_the_declared_functions() {
    let lib = &clib::library().shared_lib;
    clib::require_tool("nm", &["--version"]);
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(lib)
        .output()
        .unwrap_or_else(|e| panic!("nm: {e}"));
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, kind) = (f.next()?, f.next()?);
            (kind == "T" && name.starts_with("kc_")).then(|| name.to_string())
        })
        .collect();
    let declared = header_functions();
    assert_eq!(
        exported,
        declared,
        "exported kc_ functions of {} differ from the header's declarations",
        lib.display()
    );
}
