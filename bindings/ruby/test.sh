#!/usr/bin/env bash
# Test the Ruby binding: bash bindings/ruby/test.sh (from the repository root, or anywhere).
# Needs ruby >= 3.0, the ffi gem and minitest: installed with apt-get (ruby, ruby-ffi,
# ruby-minitest) when missing and running as root; otherwise this says what to install and fails.
# Uses TSDB_LIB_DIR (holding libtsdb.so) and TSDB_INCLUDE_DIR (holding tsdb.h) when set;
# otherwise builds the library with cargo and uses target/release and include/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

have() { command -v ruby >/dev/null 2>&1 && ruby -e "require '$1'" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $* (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}
have ffi || apt_install ruby ruby-ffi
have minitest || apt_install ruby-minitest # bundled with Debian's ruby; packaged apart elsewhere
if ! have ffi || ! have minitest || ! ruby -e 'exit Gem::Version.new(RUBY_VERSION) >= Gem::Version.new("3.0")'; then
  echo "error: the Ruby binding's tests need ruby (>= 3.0), the ffi gem and minitest;" >&2
  echo "       Debian/Ubuntu: sudo apt-get install ruby ruby-ffi ruby-minitest" >&2
  exit 1
fi

if [ -z "${TSDB_LIB_DIR:-}" ]; then
  echo "== cargo build --release --lib (set TSDB_LIB_DIR to use a built library)"
  cargo build --release --lib
  export TSDB_LIB_DIR="$root/target/release"
fi
export TSDB_INCLUDE_DIR="${TSDB_INCLUDE_DIR:-$root/include}"
unset TSDB_LIB # the tests pick the library through TSDB_LIB_DIR
for f in "$TSDB_LIB_DIR/libtsdb.so" "$TSDB_INCLUDE_DIR/tsdb.h"; do
  [ -f "$f" ] || { echo "error: $f not found" >&2; exit 1; }
done
echo "== ruby $(ruby -e 'print RUBY_VERSION'), ffi $(ruby -rffi -e 'print FFI::VERSION'), library $TSDB_LIB_DIR"

echo "== gemspec"
(cd "$here" && ruby -rrubygems/user_interaction -e '
  spec = Gem::Specification.load("tsdb.gemspec") or abort "tsdb.gemspec does not load"
  missing = spec.files.reject { |f| File.file?(f) }
  abort "gemspec lists missing files: #{missing.join(", ")}" unless missing.empty?
  abort "gemspec lists no lib files" if spec.files.grep(%r{\Alib/}).empty?
  begin
    Gem::DefaultUserInteraction.use_ui(Gem::SilentUI.new) { spec.validate }
  rescue Gem::InvalidSpecificationException => e
    abort "gemspec invalid: #{e.message}"
  end
  puts "#{spec.name} #{spec.version}: #{spec.files.size} files"')

echo "== minitest (bindings/ruby/test)"
ruby -w -I "$here/lib" -I "$here/test" -e 'Dir[File.join(ARGV[0], "test_*.rb")].sort.each { |f| require f }' "$here/test"

echo "== benchmark smoke run (figures are printed, not checked)"
ruby "$here/bench.rb" --quick
echo "== ruby binding: all tests passed"
