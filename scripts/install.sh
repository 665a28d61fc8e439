#!/usr/bin/env bash
# Installs libkafkac (shared and static), include/kafkac.h (and the C++ interface,
# include/kafkac.hpp) and a pkg-config file under
# PREFIX (default /usr/local), so that `cc app.c $(pkg-config --cflags --libs kafkac)`
# works. Builds with the `dist` profile unless KAFKAC_PROFILE names another, or takes the
# libraries already built in KAFKAC_LIB_DIR.
#
# The shared library is installed under its full version with the usual links:
#   libkafkac.so.0.1.0          the file
#   libkafkac.so.0 -> ...0.1.0  its SONAME: what linked programs load at run time
#   libkafkac.so   -> .so.0     what `-lkafkac` finds at link time
#
#   scripts/install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
PROFILE="${KAFKAC_PROFILE:-dist}"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR="${VERSION%%.*}"

LIBDIR="${KAFKAC_LIB_DIR:-}"
if [ -z "$LIBDIR" ]; then
    cargo build --profile "$PROFILE" --lib
    LIBDIR="target/$PROFILE"
    [ "$PROFILE" = dev ] && LIBDIR=target/debug
fi
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include"
install -m 0755 "$LIBDIR/libkafkac.so" "$PREFIX/lib/libkafkac.so.$VERSION"
ln -sfn "libkafkac.so.$VERSION" "$PREFIX/lib/libkafkac.so.$MAJOR"
ln -sfn "libkafkac.so.$MAJOR" "$PREFIX/lib/libkafkac.so"
install -m 0644 "$LIBDIR/libkafkac.a" "$PREFIX/lib/libkafkac.a"
install -m 0644 include/kafkac.h "$PREFIX/include/kafkac.h"
install -m 0644 include/kafkac.hpp "$PREFIX/include/kafkac.hpp"
cat >"$PREFIX/lib/pkgconfig/kafkac.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: kafkac
Description: Apache Kafka client library with a C API
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lkafkac
Libs.private: -lpthread -ldl -lm
PC
echo "installed kafkac $VERSION under $PREFIX"
