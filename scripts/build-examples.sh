#!/usr/bin/env bash
# Builds the C examples in examples-c/ against the static libkafkac into target/examples-c/.
# Run `cargo build --release --lib` first.
set -euo pipefail
cd "$(dirname "$0")/.."
CC="${CC:-cc}"
OUT=target/examples-c
mkdir -p "$OUT"
for src in examples-c/*.c; do
    name=$(basename "$src" .c)
    "$CC" -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -Iinclude -o "$OUT/$name" "$src" \
        target/release/libkafkac.a -lpthread -ldl -lm
done
echo "built: $(ls "$OUT" | tr '\n' ' ')"
