#!/usr/bin/env bash
# Runs each libFuzzer target under fuzz/ for a bounded time, starting from the committed
# seeds (fuzz/seeds/<target>) and the local corpus (fuzz/corpus/<target>, not committed,
# grows from run to run). Fails on any crash, leak, timeout or out-of-memory; libFuzzer
# saves the input under fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS     seconds per target (default 30)
#   FUZZ_TARGETS     targets to run (default: every target under fuzz/fuzz_targets)
#   FUZZ_TARGET_DIR  cargo's target directory for the instrumented build (default
#                    ~/.cache/kafkac/fuzz-target, or under KAFKAC_CACHE): kept between
#                    runs, so a fresh clone rebuilds kafkac and the targets, not every
#                    dependency with the sanitizer
#
# Needs cargo-fuzz (scripts/install-deps.sh installs it) and runs on the default toolchain,
# stable included: cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address), which
# RUSTC_BOOTSTRAP=1 lets a stable compiler accept. No nightly toolchain is needed.
# Reproduce a crash with: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir \
#   ~/.cache/kafkac/fuzz-target <target> <artifact>
# Regenerate the seeds with: cargo run --example fuzz_seeds -- fuzz/seeds
set -euo pipefail

cd "$(dirname "$0")/../fuzz"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-${KAFKAC_CACHE:-$HOME/.cache/kafkac}/fuzz-target}"
mkdir -p "$FUZZ_TARGET_DIR"
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    targets=()
    for f in fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is not installed (run scripts/install-deps.sh)" >&2
    exit 1
fi

log() { printf '==> %s\n' "$*"; }

# cargo-fuzz on whatever toolchain is the default; RUSTC_BOOTSTRAP=1 unlocks the -Z flags
# it passes to rustc on stable and changes nothing on nightly.
fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }

log "cargo fuzz build ($(rustc --version)) into $FUZZ_TARGET_DIR"
fuzz build --target-dir "$FUZZ_TARGET_DIR"

failed=()
start=$SECONDS
for t in "${targets[@]}"; do
    seeds="seeds/$t"
    corpus="corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    args=("$corpus")
    [ -d "$seeds" ] && args+=("$seeds")
    log "fuzz $t for ${FUZZ_SECONDS}s"
    out="artifacts/$t/smoke.log"
    t0=$SECONDS
    if fuzz run --target-dir "$FUZZ_TARGET_DIR" "$t" "${args[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -max_len=65536 -timeout=20 \
        -print_final_stats=1 >"$out" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$out" | sed 's/^/    /'
        grep -E '^#[0-9]+[[:space:]]+DONE' "$out" | tail -n 1 | sed 's/^/    /'
        echo "    $t passed in $((SECONDS - t0))s"
    else
        tail -n 60 "$out" >&2
        echo "fuzz-smoke: $t failed (log: fuzz/$out; artifacts: fuzz/artifacts/$t/)" >&2
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: failing targets: ${failed[*]}" >&2
    exit 1
fi
log "fuzz smoke passed: ${targets[*]} in $((SECONDS - start))s"
