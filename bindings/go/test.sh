#!/usr/bin/env bash
# Tests of the Go binding: gofmt, go vet, go test (and again under the race detector), a
# static-link and a pkg-config build, and a short benchmark run printing the Go/C ratios.
#
# Usage, from anywhere (a fresh clone works):  bash bindings/go/test.sh
# The library: TSDB_LIB_DIR (holding libtsdb.so and libtsdb.a) and TSDB_INCLUDE_DIR
# (holding tsdb.h); when unset, `cargo build --release --lib` runs at the repo root and
# target/release and include/ are used. Needs Go >= 1.19 with cgo and gcc: installed with
# apt-get (golang-go, gcc) when missing and running as root; otherwise this says what to
# install. Only the standard library is used: nothing is downloaded (GOPROXY=off).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

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
need go golang-go
need gcc gcc
need pkg-config pkg-config

go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if ! [ "$go_minor" -ge 19 ] 2>/dev/null; then
  echo "error: Go >= 1.19 is required, found $(go env GOVERSION)" >&2
  exit 1
fi

if [ -z "${TSDB_LIB_DIR:-}" ] || [ -z "${TSDB_INCLUDE_DIR:-}" ]; then
  echo "== TSDB_LIB_DIR/TSDB_INCLUDE_DIR unset: cargo build --release --lib"
  (cd "$root" && cargo build --release --lib)
  TSDB_LIB_DIR=$root/target/release
  TSDB_INCLUDE_DIR=$root/include
fi
TSDB_LIB_DIR=$(cd "$TSDB_LIB_DIR" && pwd)
TSDB_INCLUDE_DIR=$(cd "$TSDB_INCLUDE_DIR" && pwd)
for f in "$TSDB_LIB_DIR/libtsdb.so" "$TSDB_LIB_DIR/libtsdb.a" "$TSDB_INCLUDE_DIR/tsdb.h"; do
  [ -f "$f" ] || { echo "error: $f is missing" >&2; exit 1; }
done
echo "== library: $TSDB_LIB_DIR, header: $TSDB_INCLUDE_DIR, $(go env GOVERSION)"

# Nothing may be fetched: the standard library only.
export GOTOOLCHAIN=local GOPROXY=off GO111MODULE=on GOFLAGS= CGO_ENABLED=1
export CGO_CFLAGS="-I$TSDB_INCLUDE_DIR"
export CGO_LDFLAGS="-L$TSDB_LIB_DIR -Wl,-rpath,$TSDB_LIB_DIR" # -ltsdb comes from the package
cd "$here"

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "error: gofmt -l lists: $unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test (shared library)"
go test -count=1 ./...

echo "== go test -race"
case "$(go env GOOS)/$(go env GOARCH)" in
  linux/amd64 | linux/arm64 | linux/ppc64le | darwin/amd64 | darwin/arm64)
    go test -race -count=1 ./...
    ;;
  *)
    echo "error: the race detector does not support $(go env GOOS)/$(go env GOARCH)" >&2
    exit 1
    ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== static link (-tags tsdb_static: libtsdb.a)"
go test -c -tags tsdb_static -o "$tmp/static.test" .
if ldd "$tmp/static.test" | grep -q libtsdb; then
  echo "error: the tsdb_static build still needs libtsdb.so:" >&2
  ldd "$tmp/static.test" >&2
  exit 1
fi
(cd "$tmp" && cp "$here/README.md" "$here/example_test.go" "$here/example_query_test.go" . &&
  ./static.test -test.count=1 -test.run 'Example|TestOpenInsertScan|TestBatch$|TestBatchAddMany|TestErrors|TestReadmeExample|TestAggregate$|TestMetrics$|TestStats|TestRetention')

echo "== pkg-config (-tags tsdb_pkgconfig, from a generated tsdb.pc)"
cat >"$tmp/tsdb.pc" <<EOF
libdir=$TSDB_LIB_DIR
includedir=$TSDB_INCLUDE_DIR
Name: tsdb
Description: libtsdb, an embeddable time-series storage engine
Version: 0.1.0
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -ltsdb
EOF
PKG_CONFIG_PATH=$tmp CGO_CFLAGS= CGO_LDFLAGS= go test -count=1 -tags tsdb_pkgconfig -run 'Example|TestOpenInsertScan' .

echo "== benchmarks (short; figures are printed, not checked)"
go test -run '^$' -bench . -benchtime "${TSDB_GO_BENCHTIME:-300ms}" . | tee "$tmp/bench.txt"
awk '
  /points\/s/ { for (i = 1; i < NF; i++) if ($(i + 1) == "points/s") { name = $1; sub(/-[0-9]+$/, "", name); v[name] = $i } }
  END {
    ng = split("InsertBatch1000 Insert Scan BatchCommit1000 Aggregate/Buckets1000 Aggregate/Buckets100000", groups, " ")
    for (g = 1; g <= ng; g++) {
      b = "Benchmark" groups[g]
      c = v[b "/C"]
      for (k in v) if (index(k, b "/Go") == 1 && c > 0)
        printf "Go/C %-42s %6.2f  (%.3gM vs %.3gM points/s)\n", k, v[k] / c, v[k] / 1e6, c / 1e6
    }
  }' "$tmp/bench.txt" | sort

echo "== all Go binding tests passed"
