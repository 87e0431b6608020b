# frozen_string_literal: true

# Throughput of the Ruby binding: points/s for insert_batch (1,000 points a call) against
# single inserts, plus the atomic multi-metric batch (add and add_many), both ways of
# scanning, aggregates, and metrics/s for listing metrics. Figures are printed, not checked.
# Usage: ruby bindings/ruby/bench.rb [--quick]
# (the library is found as by the gem: TSDB_LIB, TSDB_LIB_DIR, target/release, system path).
#
# Each figure is the best of a few runs, by wall-clock time and by the calling thread's CPU
# time: on a shared machine the second is the steadier one (libtsdb does the writes on the
# calling thread; only the periodic fsync runs in the background).

$LOAD_PATH.unshift File.expand_path("lib", __dir__)
require "tsdb"
require "tmpdir"

QUICK = ARGV.include?("--quick")
BATCH = 1_000
SINGLE_POINTS = QUICK ? 50_000 : 1_000_000
BATCH_POINTS = QUICK ? 200_000 : 10_000_000
MULTI_POINTS = QUICK ? 50_000 : 1_000_000
MULTI_METRICS = 10
ROUNDS = QUICK ? 1 : 3

def clocks
  [Process.clock_gettime(Process::CLOCK_MONOTONIC), Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)]
end

# Time the block; [wall seconds, CPU seconds].
def timed
  wall, cpu = clocks
  yield
  wall2, cpu2 = clocks
  [wall2 - wall, cpu2 - cpu]
end

def group(number)
  number.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
end

def report(label, points, runs, unit: "points")
  wall = runs.map(&:first).min
  cpu = runs.map(&:last).min
  printf("%-46s %14s %14s   %s #{unit}, best of %d\n", label, group(points / wall), group(points / cpu),
         group(points), runs.size)
  points / wall
end

# Best of ROUNDS runs of the lambda the block returns, each on a fresh database.
def measure(label, points)
  runs = Array.new(ROUNDS) do
    Dir.mktmpdir("tsdb-bench-") do |dir|
      TSDB.open(File.join(dir, "db")) do |db|
        run = yield(db)
        timed(&run)
      end
    end
  end
  report(label, points, runs)
end

puts "libtsdb #{TSDB.library_version} (#{TSDB.library_path}), ruby #{RUBY_VERSION}, ffi #{FFI::VERSION}, " \
     "#{QUICK ? 'quick run' : 'full run'}"
printf("%-46s %14s %14s\n", "points/s", "wall", "thread CPU")

single = measure("insert (one point a call)", SINGLE_POINTS) do |db|
  id = db.create_metric("single")
  -> { SINGLE_POINTS.times { |i| db.insert(id, i, i * 0.5) } }
end

chunks = (0...BATCH_POINTS).each_slice(BATCH).map { |ts| [ts, ts.map { |t| t * 0.5 }] }
batched = measure("insert_batch (#{group(BATCH)} points a call)", BATCH_POINTS) do |db|
  id = db.create_metric("batched")
  -> { chunks.each { |ts, values| db.insert_batch(id, ts, values) } }
end

measure("batch { add } (#{group(BATCH)} points, #{MULTI_METRICS} metrics)", MULTI_POINTS) do |db|
  ids = Array.new(MULTI_METRICS) { |m| db.create_metric("m#{m}") }
  lambda do
    (MULTI_POINTS / BATCH).times do |b|
      db.batch { |batch| BATCH.times { |i| batch.add(ids[i % MULTI_METRICS], (b * BATCH) + i, 1.0) } }
    end
  end
end

per_metric = BATCH / MULTI_METRICS
measure("batch { add_many } (#{group(BATCH)} points, #{MULTI_METRICS} metrics)", MULTI_POINTS) do |db|
  ids = Array.new(MULTI_METRICS) { |m| db.create_metric("m#{m}") }
  values = Array.new(per_metric, 1.0)
  lambda do
    (MULTI_POINTS / BATCH).times do |b|
      db.batch do |batch|
        ids.each_with_index do |id, m|
          base = (b * BATCH) + (m * per_metric)
          batch.add_many(id, Array.new(per_metric) { |i| base + i }, values)
        end
      end
    end
  end
end

Dir.mktmpdir("tsdb-bench-") do |dir|
  TSDB.open(File.join(dir, "db")) do |db|
    id = db.create_metric("scan")
    chunks.each { |ts, values| db.insert_batch(id, ts, values) }
    db.snapshot do |txn|
      { "scan: each { |ts, value| }" => ->(c) { c.each { |_ts, _v| nil } },
        "scan: each_batch { |timestamps, values| }" => ->(c) { c.each_batch { |_ts, _v| nil } } }.each do |label, read|
        runs = Array.new(ROUNDS) { timed { txn.scan(id) { |cursor| read.call(cursor) } } }
        report(label, BATCH_POINTS, runs)
      end
      # Points aggregated per second: wide buckets answer whole blocks from their stored
      # summaries; narrow ones cost a Ruby struct per bucket.
      [100_000, 100].each do |width|
        runs = Array.new(ROUNDS) { timed { txn.aggregate(id, 0, BATCH_POINTS, width).each { |_b| nil } } }
        report("aggregate: buckets of #{group(width)} points", BATCH_POINTS, runs)
      end
    end
  end
end

LIST_METRICS = QUICK ? 5_000 : 100_000
Dir.mktmpdir("tsdb-bench-") do |dir|
  TSDB.open(File.join(dir, "db")) do |db|
    LIST_METRICS.times { |i| db.create_metric("host#{i % 100}.metric#{i}") }
    db.snapshot do |txn|
      runs = Array.new(ROUNDS) { timed { txn.metrics.each { |_id, _name| nil } } }
      report("metrics: every metric (metrics/s)", LIST_METRICS, runs, unit: "metrics")
      runs = Array.new(ROUNDS) { timed { txn.metrics(prefix: "host7.").each { |_id, _name| nil } } }
      report("metrics(prefix:), 1 in 100 (metrics walked/s)", LIST_METRICS, runs, unit: "metrics")
    end
  end
end

printf("insert_batch is %.1fx single inserts (wall)\n", batched / single)
