#!/usr/bin/env bash
# bindings/python/test.sh -- run the Python binding's tests (bindings/python/tests/).
#
# From the repository root: bash bindings/python/test.sh [extra pytest args]
# Finds the library through TSDB_LIB_DIR (directory of libtsdb.so) and TSDB_INCLUDE_DIR
# (directory of tsdb.h, for the benchmark's C side); when TSDB_LIB_DIR is unset it runs
# `cargo build --release --lib` and uses target/release and include/. Installs pytest
# (pip, else apt-get) and gcc (apt-get) when missing, or says what to install. Exits
# non-zero on any failure. Set PYTHON to test another interpreter (default python3).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
py=${PYTHON:-python3}

as_root_apt() { # as_root_apt PACKAGE: install a Debian package when running as root
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $1 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    return 1
  fi
}

if ! command -v "$py" >/dev/null 2>&1; then
  as_root_apt python3 || { echo "error: $py not found; install Python 3.8+ (Debian: apt-get install python3)" >&2; exit 1; }
fi
if ! command -v "${CC:-gcc}" >/dev/null 2>&1; then
  as_root_apt gcc || { echo "error: gcc not found (needed by the benchmark test); install it (Debian: apt-get install gcc)" >&2; exit 1; }
fi

if [ -z "${TSDB_LIB_DIR:-}" ]; then
  echo "== cargo build --release --lib (TSDB_LIB_DIR is unset)"
  cargo build --release --lib
  export TSDB_LIB_DIR="$root/target/release"
fi
export TSDB_INCLUDE_DIR="${TSDB_INCLUDE_DIR:-$root/include}"
for f in "$TSDB_LIB_DIR/libtsdb.so" "$TSDB_INCLUDE_DIR/tsdb.h"; do
  [ -f "$f" ] || { echo "error: $f not found (check TSDB_LIB_DIR / TSDB_INCLUDE_DIR)" >&2; exit 1; }
done

# numpy is optional for users, but its input path must be tested: install it when missing.
if ! "$py" -c "import numpy" >/dev/null 2>&1; then
  echo "== installing numpy (to test the numpy input path)"
  "$py" -m pip install -q numpy || as_root_apt python3-numpy || true
  "$py" -c "import numpy" >/dev/null 2>&1 || {
    echo "error: numpy could not be installed: run '$py -m pip install numpy'" >&2; exit 1; }
fi
if ! "$py" -c "import pytest" >/dev/null 2>&1; then
  echo "== installing pytest"
  "$py" -m pip install -q pytest || as_root_apt python3-pytest || true
  "$py" -c "import pytest" >/dev/null 2>&1 || {
    echo "error: pytest is missing and could not be installed: run '$py -m pip install pytest'" \
         "(Debian: apt-get install python3-pytest)" >&2; exit 1; }
fi

echo "== Python binding tests ($("$py" --version 2>&1), library $TSDB_LIB_DIR)"
# No bytecode or pytest cache in the checkout; -ra lists every skip with its reason; the
# timeout only stops a hang (the suite takes seconds), faulthandler then shows where.
export PYTHONDONTWRITEBYTECODE=1
exec timeout 600 "$py" -m pytest -ra -p no:cacheprovider -o faulthandler_timeout=300 \
  "$here/tests" "$@"
