# frozen_string_literal: true

# Throughput of the Ruby binding: points/s for insert_batch (1,000 points a call) against
# single inserts, plus the atomic multi-metric batch and both ways of scanning. Figures are
# printed, not checked. Usage: ruby bindings/ruby/bench.rb [--quick]
# (the library is found as by the gem: TSDB_LIB, TSDB_LIB_DIR, target/release, system path).

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

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

# Best of ROUNDS runs of the block, each given a fresh open database; returns points/s.
def measure(label, points)
  best = ROUNDS.times.map do
    Dir.mktmpdir("tsdb-bench-") do |dir|
      TSDB.open(File.join(dir, "db")) do |db|
        setup = yield(db)
        start = now
        setup.call
        now - start
      end
    end
  end.min
  printf("%-44s %14s points/s  (%s points, best of %d: %.3f s)\n",
         label, group(points / best), group(points), ROUNDS, best)
  points / best
end

def group(number)
  number.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
end

puts "libtsdb #{TSDB.library_version} (#{TSDB.library_path}), ruby #{RUBY_VERSION}, ffi #{FFI::VERSION}" \
     "#{', quick run' if QUICK}"

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

Dir.mktmpdir("tsdb-bench-") do |dir|
  TSDB.open(File.join(dir, "db")) do |db|
    id = db.create_metric("scan")
    chunks.each { |ts, values| db.insert_batch(id, ts, values) }
    db.snapshot do |txn|
      [["scan: each { |ts, value| }", ->(c) { c.each { |_ts, _v| nil } }],
       ["scan: each_batch { |timestamps, values| }", ->(c) { c.each_batch { |_ts, _v| nil } }]].each do |label, read|
        best = ROUNDS.times.map do
          start = now
          txn.scan(id) { |cursor| read.call(cursor) }
          now - start
        end.min
        printf("%-44s %14s points/s  (%s points, best of %d: %.3f s)\n",
               label, group(BATCH_POINTS / best), group(BATCH_POINTS), ROUNDS, best)
      end
    end
  end
end

printf("insert_batch is %.1fx single inserts\n", batched / single)
