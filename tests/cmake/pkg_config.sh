#!/bin/sh
# The consumer_pkg_config test: builds consumer.c with nothing but a C compiler and
# pkg-config, exactly as the README tells users to, against the install in $PREFIX:
#   cc app.c $(pkg-config --cflags --libs tsdb)                 (shared)
#   cc app.c ... $(pkg-config --static --libs tsdb), libtsdb.a  (static)
# and runs both. Environment (set by tests/cmake/CMakeLists.txt): PKG_CONFIG, CC, PREFIX,
# LIBDIR, VERSION, SONAME, READELF, CMAKE, SRC (this directory), WORK (a scratch directory).
set -eu

if [ -z "${PKG_CONFIG:-}" ] || ! command -v "$PKG_CONFIG" >/dev/null 2>&1; then
    echo "pkg-config not found: install it (Debian/Ubuntu: apt-get install pkgconf) and reconfigure" >&2
    exit 1
fi
rm -rf "$WORK"
mkdir -p "$WORK"
# Only the install under test: no system or user .pc directories.
PKG_CONFIG_PATH="$PREFIX/$LIBDIR/pkgconfig"
PKG_CONFIG_LIBDIR="$PREFIX/$LIBDIR/pkgconfig"
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

got=$("$PKG_CONFIG" --modversion tsdb)
if [ "$got" != "$VERSION" ]; then
    echo "pkg-config --modversion tsdb: $got, want $VERSION" >&2
    exit 1
fi
libdir=$("$PKG_CONFIG" --variable=libdir tsdb)
if [ "$libdir" != "$PREFIX/$LIBDIR" ]; then
    echo "pkg-config --variable=libdir tsdb: $libdir, want $PREFIX/$LIBDIR" >&2
    exit 1
fi
echo "pkg-config --cflags --libs tsdb: $("$PKG_CONFIG" --cflags --libs tsdb)"
echo "pkg-config --static --libs tsdb: $("$PKG_CONFIG" --static --libs tsdb)"

warnings="-std=c11 -Wall -Wextra -Werror"

# Shared: -ltsdb finds libtsdb.so -> libtsdb.so.X -> libtsdb.so.X.Y.Z; the program records
# libtsdb.so.X, which the rpath lets the loader find.
# shellcheck disable=SC2046 # word splitting of pkg-config's output is intended
"$CC" $warnings -o "$WORK/app_shared" "$SRC/consumer.c" \
    $("$PKG_CONFIG" --cflags --libs tsdb) -Wl,-rpath,"$libdir"
"$CMAKE" -DREADELF="$READELF" -DPROGRAM="$WORK/app_shared" -DSONAME="$SONAME" -DEXPECT=shared \
    -P "$SRC/check_needed.cmake"
TMPDIR="$WORK" "$WORK/app_shared" "$VERSION"

# Static: the archive itself, plus Libs.private for the system libraries it needs.
static_libs=$("$PKG_CONFIG" --static --libs tsdb | sed 's/\(^\| \)-ltsdb\( \|$\)/\1-l:libtsdb.a\2/')
case "$static_libs" in
    *-l:libtsdb.a*) ;;
    *) echo "no -ltsdb in pkg-config --static --libs tsdb" >&2; exit 1 ;;
esac
# shellcheck disable=SC2046
"$CC" $warnings -o "$WORK/app_static" "$SRC/consumer.c" \
    $("$PKG_CONFIG" --cflags tsdb) $static_libs
"$CMAKE" -DREADELF="$READELF" -DPROGRAM="$WORK/app_static" -DSONAME="$SONAME" -DEXPECT=static \
    -P "$SRC/check_needed.cmake"
TMPDIR="$WORK" "$WORK/app_static" "$VERSION"
echo "pkg-config consumers ok"
