//! include/kafkac.h: committed, generated from the code, and usable from C and C++.

mod clib;

use std::fs;
use std::path::PathBuf;

/// The header build.rs generated into OUT_DIR for this build.
const GENERATED: &str = env!("KAFKAC_GENERATED_HEADER");

fn committed() -> PathBuf {
    clib::manifest_dir().join("include/kafkac.h")
}

#[test]
fn committed_header_matches_the_generated_one() {
    let generated = fs::read(GENERATED).unwrap_or_else(|e| panic!("read {GENERATED}: {e}"));
    let committed_path = committed();
    let committed = fs::read(&committed_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", committed_path.display()));
    if generated == committed {
        return;
    }
    let g = String::from_utf8_lossy(&generated);
    let c = String::from_utf8_lossy(&committed);
    let first_diff = g
        .lines()
        .zip(c.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| g.lines().count().min(c.lines().count()));
    let line = |s: &str| {
        s.lines()
            .nth(first_diff)
            .unwrap_or("<end of file>")
            .to_string()
    };
    panic!(
        "include/kafkac.h is stale: it differs from the header generated from src/ffi/ \
         ({GENERATED}) from line {}:\n  generated: {}\n  committed: {}\n\
         Regenerate it with `KAFKAC_UPDATE_HEADER=1 cargo build` and commit it.",
        first_diff + 1,
        line(&g),
        line(&c),
    );
}

/// A translation unit that includes the header twice (the include guard must hold) and
/// uses its types, macros and functions, so that unused-declaration warnings and type
/// errors show up.
const PROBE: &str = r#"#include "kafkac.h"
#include "kafkac.h"

int kc_probe(void);

int kc_probe(void) {
    kc_record_t rec;
    kc_header_t hdr;
    kc_record_view_t view;
    kc_header_view_t hview;
    kc_broker_t broker;
    kc_topic_t topic;
    kc_partition_t partition;
    kc_topic_partition_t tp;
    kc_rebalance_cb_t rebalance = NULL;
    kc_compression_t codec = KC_COMPRESSION_ZSTD;
    kc_err_t err = KC_ERR__NULL_ARG;
    const char *(*version)(void) = kc_version;
    kc_err_t (*produce)(kc_client_t *, const char *, int32_t, const kc_record_t *, size_t,
                        int32_t, kc_compression_t, int32_t, int64_t *) = kc_client_produce;
    hdr.key = "k";
    hdr.key_len = 1;
    hdr.value = NULL;
    hdr.value_len = 0;
    rec.key = NULL;
    rec.key_len = 0;
    rec.value = NULL;
    rec.value_len = 0;
    rec.headers = &hdr;
    rec.header_cnt = 1;
    rec.timestamp = 0;
    view.offset = KC_OFFSET_EARLIEST;
    hview.key_len = 0;
    broker.id = -1;
    topic.err = KC_ERR_TOPIC_ALREADY_EXISTS;
    partition.leader = -1;
    tp.topic = "t";
    tp.partition = 0;
    tp.offset = KC_OFFSET_STORED;
    tp.leader_epoch = -1;
    tp.err = KC_OK;
    return (int)(rec.header_cnt + (size_t)view.offset + hview.key_len) + broker.id +
           topic.err + partition.leader + codec + err + KC_ACKS_DEFAULT +
           (int)KC_VERSION_MAJOR + (version != NULL) + (produce != NULL) +
           (rebalance == NULL) + (int)(tp.offset == KC_OFFSET_INVALID);
}
"#;

/// The default compiler, and clang when that is not already clang: the two disagree on
/// some pedantic warnings. Both must be installed (scripts/install-deps.sh installs
/// clang).
fn compilers() -> Vec<String> {
    let cc = clib::cc();
    clib::require_tool(&cc, &["--version"]);
    let mut v = vec![cc];
    if !v[0].contains("clang") {
        clib::require_tool("clang", &["--version"]);
        v.push("clang".into());
    }
    v
}

#[test]
fn header_compiles_as_c99_c11_cxx11_and_cxx17_without_warnings() {
    let dir = clib::bin_dir().join("header");
    fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    fs::write(&src, PROBE).unwrap();
    let mut failures = Vec::new();
    for compiler in compilers() {
        for (lang, std) in [
            ("c", "c99"),
            ("c", "c11"),
            ("c++", "c++11"),
            ("c++", "c++17"),
        ] {
            let std_flag = format!("-std={std}");
            let flags = [
                "-x",
                lang,
                &std_flag,
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-c",
            ];
            let out = dir.join(format!(
                "probe-{}-{std}.o",
                compiler.replace(['/', '+'], "_")
            ));
            if let Err(e) = clib::compile(&compiler, &src, &flags, None, &out) {
                failures.push(format!("{compiler} {std}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
