# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "tsdb"
require "minitest/autorun"
require "tmpdir"
require "fileutils"
require "rbconfig"

# A fresh database directory per test, removed afterwards.
class TSDBTest < Minitest::Test
  def setup
    @tmp = Dir.mktmpdir("tsdb-ruby-")
    @dir = File.join(@tmp, "db")
  end

  def teardown
    FileUtils.rm_rf(@tmp)
  end

  # Every test must run: a skip fails instead.
  def skip(message = nil, _backtrace = caller)
    flunk "tests may not skip: #{message}"
  end

  def open_db(**options, &block)
    TSDB.open(@dir, **options, &block)
  end

  def points(db, metric, from = nil, to = nil)
    db.snapshot { |txn| txn.scan(metric, from, to).to_a }
  end

  # Run the block in a thread of its own and return nothing from it: objects it makes and
  # drops leave no reference behind in this thread's stack, where Ruby's conservative GC
  # could still see them.
  def in_fresh_thread(&block)
    Thread.new do
      block.call
      nil
    end.join
    nil
  end

  # Collect garbage until `probe` stops raising TSDB::Busy (forgotten handles are freed by
  # finalizers, which Ruby runs soon after a collection). Bounded by attempts, not time.
  def after_gc(attempts: 20)
    last = nil
    attempts.times do
      GC.start(full_mark: true, immediate_sweep: true)
      Thread.pass
      begin
        return yield
      rescue TSDB::Busy => e
        last = e
      end
    end
    flunk "still busy after #{attempts} garbage collections: #{last&.message}"
  end

  def bits(float)
    [float].pack("D").unpack1("Q")
  end

  def float_from_bits(bits)
    [bits].pack("Q").unpack1("D")
  end

  # Run Ruby code in a child process with this gem on the load path; [stdout+stderr, status].
  def run_ruby(code, env: {})
    lib = File.expand_path("../lib", __dir__)
    IO.popen(env, [RbConfig.ruby, "-I", lib, "-e", code], err: %i[child out], &:read)
      .then { |out| [out, $?] }
  end
end
