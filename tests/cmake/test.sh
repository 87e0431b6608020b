#!/usr/bin/env bash
# The packaging tests on their own, from the repository root of a fresh clone:
#   bash tests/cmake/test.sh
# Builds libtsdb with CMake into build-pkg/ (its own cargo target directory, so no lock is
# shared with a running `cargo test`), then runs the ctest tests install_layout,
# consumer_find_package, consumer_pkg_config and consumer_add_subdirectory. Between them
# they check that Cargo.toml's version, ts_version(), the TS_VERSION_* macros, the SONAME,
# tsdb.pc and tsdbConfigVersion.cmake agree; so does tests/version.rs, which `cargo test`
# runs (not repeated here: building the dev-dependencies takes minutes). `./run test` runs
# the same ctest tests in its build-asan stage.
#
# These tests check what `cmake --install` lays out, so they always build the library from
# this checkout: TSDB_LIB_DIR / TSDB_INCLUDE_DIR (a prebuilt library) are not used here.
# Needs cmake, a C/C++ compiler, pkg-config and readelf; installed with apt-get when
# missing and running as root, otherwise this says what to install.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $2 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "error: '$1' is required; install it (Debian/Ubuntu: sudo apt-get install $2)" >&2
    exit 1
  fi
}
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is required: install a Rust toolchain (https://rustup.rs)" >&2
  exit 1
fi
need cmake cmake
need cc gcc
need c++ g++
need pkg-config pkgconf
need readelf binutils

if [ -n "${TSDB_LIB_DIR:-}${TSDB_INCLUDE_DIR:-}" ]; then
  echo "== note: TSDB_LIB_DIR/TSDB_INCLUDE_DIR are ignored: the packaging tests install what CMake builds"
fi

dir=${TSDB_PKG_BUILD_DIR:-build-pkg}
echo "== cmake build in $dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j "$(nproc)"
echo "== packaging tests (install layout; find_package, pkg-config and add_subdirectory consumers)"
tests='^(install_layout|consumer_find_package|consumer_pkg_config|consumer_add_subdirectory)$'
registered=$(ctest --test-dir "$dir" -N -R "$tests" | grep -c 'Test *#' || true)
if [ "$registered" != 4 ]; then
  echo "error: $registered of the 4 packaging tests are registered in $dir (is TSDB_INSTALL off?)" >&2
  exit 1
fi
ctest --test-dir "$dir" --output-on-failure -R "$tests"
echo "== packaging tests passed"
