# frozen_string_literal: true

require_relative "test_helper"

class TestAggregate < TSDBTest
  NAN = Float::NAN
  INF = Float::INFINITY

  # What ts_aggregate must give for `points` (scanned, ascending): the NaN rule of tsdb.h
  # folded in Ruby, non-empty buckets only.
  def fold(points, from, to, bucket)
    inside = points.select { |ts, _| ts >= from && ts < to }
    inside.chunk_while { |(a, _), (b, _)| (a - from) / bucket == (b - from) / bucket }.map do |run|
      numbers = run.map(&:last).reject(&:nan?)
      TSDB::Bucket.new(from + ((run[0][0] - from) / bucket * bucket), run.size,
                       numbers.min || NAN, numbers.max || NAN, numbers.empty? ? NAN : numbers.sum,
                       run[0][1], run[-1][1], run[0][0], run[-1][0])
    end
  end

  # Buckets as arrays of their fields, NaN as :nan (NaN != NaN), to compare in one go.
  def plain(buckets)
    buckets.map { |b| b.to_a.map { |v| v.is_a?(Float) && v.nan? ? :nan : v } }
  end

  def assert_buckets(expected, actual, label)
    assert(actual.all? { |b| b.is_a?(TSDB::Bucket) && b.frozen? }, "#{label}: frozen TSDB::Bucket structs")
    assert_equal plain(expected), plain(actual), label
  end

  # 5,000 points every 3 units over many sealed partitions, some rewritten (the last write
  # wins), NaNs here and there, a run of NaNs only, and infinities of both signs. Values are
  # multiples of 0.25 of moderate size, so every order of summing gives the same sum.
  def load(db)
    id = db.create_metric("agg")
    ts = Array.new(5000) { |i| i * 3 }
    values = ts.each_with_index.map do |_, i|
      if (2000...2034).cover?(i) then NAN # ts 6000..6099: a bucket of 100 with NaNs only
      elsif (i % 97).zero? then NAN
      else ((i * 37) % 1001 - 500) * 0.25
      end
    end
    ts.zip(values).each_slice(250) { |chunk| db.insert_batch(id, chunk.map(&:first), chunk.map(&:last)) }
    db.insert_batch(id, [300, 303, 9000], [1000.0, NAN, -1000.0]) # rewrites
    db.insert_batch(id, [12_000, 12_003], [INF, -INF]) # a bucket holding both infinities
    id
  end

  def check_against_scan(db, id, label)
    db.snapshot do |txn|
      points = txn.scan(id).to_a
      assert_equal 5000, points.size
      [[0, 15_000, 100], [5, 14_000, 7], [-1_000_000, 1_000_000, 1000], [1, 15_001, 1],
       [6000, 6100, 100], [299, 304, 2], [0, 15_000, 10**12]].each do |from, to, bucket|
        expected = fold(points, from, to, bucket)
        refute_empty expected
        assert_buckets expected, txn.aggregate(id, from, to, bucket).to_a, "#{label} #{[from, to, bucket]}"
        assert_buckets expected, txn.aggregate(id, from, to, bucket, batch_size: 3).to_a,
                       "#{label} #{[from, to, bucket]} in batches of 3"
      end
      all_nan = txn.aggregate(id, 6000, 6100, 100).to_a
      assert_equal 1, all_nan.size
      assert_equal 34, all_nan[0].count, "NaNs are counted"
      assert(%i[min max sum first last].all? { |f| all_nan[0][f].nan? }, all_nan[0].inspect)
      infinities = txn.aggregate(id, 12_000, 12_006, 6).first
      assert_equal [2, INF, -INF, -INF], [infinities.count, infinities.first, infinities.last, infinities.min]
      assert_equal INF, infinities.max
      assert infinities.sum.nan?, "+inf + -inf is NaN"
    end
  end

  def test_buckets_match_a_fold_over_the_scanned_points
    open_db(partition_points: 64) do |db|
      id = load(db)
      check_against_scan(db, id, "in memory")
      db.checkpoint
      check_against_scan(db, id, "after a checkpoint")
    end
    open_db(partition_points: 64) { |db| check_against_scan(db, db.snapshot { |t| t.lookup("agg") }, "reopened") }
  end

  def test_forms_and_paging
    open_db do |db|
      id = db.create_metric("cpu")
      db.insert_batch(id, (0...100).to_a, (0...100).map(&:to_f))
      db.snapshot do |txn|
        by_name = txn.aggregate("cpu", 0, 100, 10)
        assert_instance_of TSDB::Aggregation, by_name
        assert_equal [id, 0, 100, 10], [by_name.metric_id, by_name.from, by_name.to, by_name.bucket]
        assert_equal((0...10).map { |k| k * 10 }, by_name.map(&:start))
        assert_equal by_name.to_a, txn.aggregate(id, 0...100, 10).to_a
        assert_equal by_name.to_a, txn.aggregate(id, 0..99, 10).to_a
        assert_equal by_name.to_a, txn.aggregate(id, 0.., 10).to_a, "an endless range"
        assert_equal by_name.to_a, by_name.to_a, "iterated again, the same answer"
        seen = []
        assert_same by_name, by_name.each { |b| seen << b.count }
        assert_equal [10] * 10, seen
        yielded = []
        assert_instance_of TSDB::Aggregation, txn.aggregate(id, 0, 100, 50) { |b| yielded << b.sum }
        assert_equal [(0...50).sum.to_f, (50...100).sum.to_f], yielded
        assert_equal [0, 10], by_name.first(2).map(&:start)
        assert_equal 10, txn.aggregate(id, 0, 100, 10, batch_size: 1).count, "one bucket per call"
        assert_equal 10, txn.aggregate(id, 0, 100, 10, batch_size: 10).count, "exactly one full batch"
        # The last bucket is clipped to the range's end; empty buckets are left out.
        assert_equal [[95, 5]], txn.aggregate(id, 95, 200, 10).map { |b| [b.start, b.count] }
        assert_equal [], txn.aggregate(id, 50, 50, 10).to_a, "from == to"
        assert_equal [], txn.aggregate(id, 1000, 2000, 10).to_a, "no points"
      end
    end
  end

  def test_paging_stops_at_the_end_of_the_timestamps
    open_db do |db|
      id = db.create_metric("edges")
      db.insert_batch(id, [TSDB::MIN_TIMESTAMP, 0, TSDB::MAX_TIMESTAMP], [1.0, 2.0, 3.0])
      db.snapshot do |txn|
        # Buckets of 2**62 from 0: the one holding MAX_TIMESTAMP is the last that fits, and
        # the next one would start past INT64_MAX.
        all = txn.aggregate(id, 0.., 2**62, batch_size: 1).map { |b| [b.start, b.count, b.last] }
        assert_equal [[0, 1, 2.0], [2**62, 1, 3.0]], all
        whole = txn.aggregate(id, nil, nil, 2**63 - 1, batch_size: 1).map { |b| [b.start, b.count] }
        assert_equal [[TSDB::MIN_TIMESTAMP, 1], [-1, 1], [TSDB::MAX_TIMESTAMP, 1]], whole
      end
    end
  end

  def test_a_snapshot_aggregates_what_it_sees
    open_db(partition_points: 16) do |db|
      id = db.create_metric("iso")
      db.insert_batch(id, (0...200).to_a, Array.new(200, 1.0))
      db.snapshot do |txn|
        before = txn.aggregate(id, 0, 400, 100).to_a
        db.insert_batch(id, (0...400).to_a, Array.new(400, 2.0))
        db.delete_range(id, 0, 50)
        assert_equal before, txn.aggregate(id, 0, 400, 100).to_a
        assert_equal [[100, 100.0], [100, 100.0]], before.map { |b| [b.count, b.sum] }
      end
      now = db.snapshot { |txn| txn.aggregate(id, 0, 400, 100).map { |b| [b.count, b.sum] } }
      assert_equal [[50, 100.0], [100, 200.0], [100, 200.0], [100, 200.0]], now
    end
  end

  def test_errors
    open_db do |db|
      id = db.create_metric("e")
      db.insert(id, 1, 1.0)
      db.snapshot do |txn|
        err = assert_raises(TSDB::InvalidArgument) { txn.aggregate(id, 0, 10, 0) }
        assert_match(/\Ats_aggregate: /, err.message)
        assert_raises(TSDB::InvalidArgument) { txn.aggregate(id, 0, 10, -5) }
        assert_raises(TSDB::InvalidArgument) { txn.aggregate(id, 10, 0, 5) }
        assert_raises(TSDB::NotFound) { txn.aggregate(id + 1, 0, 10, 5) }
        assert_raises(TSDB::NotFound) { txn.aggregate("missing", 0, 10, 5) }
        assert_raises(TypeError) { txn.aggregate(id, 0, 10, 2.5) }
        assert_raises(TypeError) { txn.aggregate(id, 0, 10.0, 5) }
        assert_raises(TypeError) { txn.aggregate(id, 10, 5) } # two arguments: a Range and a bucket
        assert_raises(ArgumentError) { txn.aggregate(id, 0...10) }
        assert_raises(ArgumentError) { txn.aggregate(id, 0...10, 5, 5) }
        assert_raises(RangeError) { txn.aggregate(id, 0, 10, 2**63) }
        assert_raises(RangeError) { txn.aggregate(id, 0, 10, 5, batch_size: 0) }
      end
    end
  end

  def test_an_aggregation_needs_its_snapshot
    open_db do |db|
      id = db.create_metric("r")
      db.insert(id, 1, 1.0)
      txn = db.snapshot
      aggregation = txn.aggregate(id, 0, 10, 5)
      assert_equal 1, aggregation.count
      txn.release
      err = assert_raises(TSDB::Closed) { aggregation.to_a }
      assert_equal "snapshot is released", err.message
      assert_raises(TSDB::Closed) { txn.aggregate(id, 0, 10, 5) }
    end
  end

  def test_many_threads_share_one_snapshot
    open_db(partition_points: 64) do |db|
      id = db.create_metric("t")
      db.insert_batch(id, (0...20_000).to_a, (0...20_000).map(&:to_f))
      db.snapshot do |txn|
        expected = txn.aggregate(id, 0, 20_000, 7).to_a
        results = Array.new(4) { Thread.new { 3.times.map { txn.aggregate(id, 0, 20_000, 7, batch_size: 100).to_a } } }
        results.flat_map(&:value).each { |r| assert_equal expected, r }
        assert_equal (0...20_000).sum.to_f, expected.sum(&:sum)
      end
    end
  end
end
