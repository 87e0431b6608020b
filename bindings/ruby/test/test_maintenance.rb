# frozen_string_literal: true

require_relative "test_helper"

# Database#delete_range, #stats, retention and #check.
class TestMaintenance < TSDBTest
  # Points 0...n of metric `id`, value = timestamp, written 50 at a time so that partitions
  # of a small partition_points seal as they go.
  def fill(db, id, range)
    range.each_slice(50) { |ts| db.insert_batch(id, ts, ts.map(&:to_f)) }
  end

  def timestamps(db, id)
    db.snapshot { |txn| txn.scan(id).map(&:first) }
  end

  def test_delete_is_seen_by_new_snapshots_not_by_older_ones
    open_db(partition_points: 16) do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      fill(db, a, 0...1000)
      fill(db, b, 0...1000)
      db.checkpoint # the partitions are on disk too
      before = db.snapshot
      assert_nil db.delete_range(a, 100, 900)
      assert_equal (0...100).to_a + (900...1000).to_a, timestamps(db, a)
      assert_equal (0...1000).to_a, before.scan(a).map(&:first), "a snapshot begun before still reads them"
      assert_equal 1000, before.aggregate(a, 0, 1000, 1000).first.count
      assert_equal (0...1000).to_a, timestamps(db, b), "other metrics are untouched"
      stats = db.stats
      assert_equal 1200, stats.points
      assert_operator stats.old_snapshot_bytes, :>, 0, "the old snapshot keeps the deleted partitions: #{stats}"
      before.release
      assert_equal 0, db.stats.old_snapshot_bytes

      db.delete_range(a, 950..960) # inclusive end
      db.delete_range(a, 990..)    # to the end of time
      db.delete_range(a, ...10)    # from the beginning of time
      db.delete_range(a, 50, 50)   # from == to: nothing
      expected = (10...100).to_a + (900...950).to_a + (961...990).to_a
      assert_equal expected, timestamps(db, a)
      db.insert(a, 500, 5.0) # written after the delete: kept
      assert_equal [[500, 5.0]], db.snapshot { |txn| txn.scan(a, 400, 600).to_a }
    end
    open_db(partition_points: 16) do |db| # the deletes are durable
      assert_equal (10...100).to_a + [500] + (900...950).to_a + (961...990).to_a, timestamps(db, 1)
      assert_equal 1000, db.snapshot { |txn| txn.scan(2).count }
    end
  end

  def test_delete_range_errors
    open_db do |db|
      a = db.create_metric("a")
      db.insert_batch(a, [1, 2, 3], [1.0, 2.0, 3.0])
      err = assert_raises(TSDB::InvalidArgument) { db.delete_range(a, 20, 10) }
      assert_match(/\Ats_delete_range: /, err.message)
      assert_raises(TSDB::NotFound) { db.delete_range(a + 1, 0, 10) }
      assert_raises(ArgumentError) { db.delete_range(a, 0) } # both bounds, or a Range
      assert_raises(ArgumentError) { db.delete_range(a, 0..1, 5) }
      assert_raises(TypeError) { db.delete_range(a, 0, 1.5) }
      assert_raises(RangeError) { db.delete_range(-1, 0, 1) }
      assert_equal [1, 2, 3], timestamps(db, a), "nothing was deleted"
      db.delete_range(a, nil, nil) # explicit extremes: everything
      assert_equal [], timestamps(db, a)
    end
  end

  def test_stats
    open_db(partition_points: 16) do |db|
      empty = db.stats
      assert_instance_of TSDB::Stats, empty
      assert empty.frozen?
      assert_equal %i[metrics points partitions disk_bytes wal_bytes live_snapshots oldest_snapshot_age_ms
                      old_snapshot_bytes background_errors failure], TSDB::Stats.members
      assert_equal [0, 0, 0, 0, 0, 0, 0, 0],
                   empty.to_h.values_at(:metrics, :points, :partitions, :live_snapshots, :oldest_snapshot_age_ms,
                                        :old_snapshot_bytes, :background_errors, :failure)
      assert(empty.to_a.all? { |v| v.is_a?(Integer) && v >= 0 })

      ids = Array.new(3) { |i| db.create_metric("m#{i}") }
      ids.each { |id| fill(db, id, 0...1000) }
      full = db.stats
      assert_equal 3, full.metrics
      assert_equal 3000, full.points
      # Partitions of 16 to 32 points, joined by tier (four of one tier into one of the next):
      # a few per metric.
      assert_includes 3..(3000 / 16), full.partitions, "sealed partitions, joined by tier"
      assert_operator full.wal_bytes, :>=, 3000 * 8, "every point went through the log"
      assert_operator full.disk_bytes, :>, 0
      db.checkpoint
      assert_operator db.stats.wal_bytes, :<, full.wal_bytes, "a checkpoint empties the log"

      txn = db.snapshot
      assert_equal 1, db.stats.live_snapshots
      other = db.snapshot
      cursor = other.scan(ids[0])
      assert_equal 2, db.stats.live_snapshots
      other.release
      assert_equal 2, db.stats.live_snapshots, "a cursor keeps its snapshot live"
      cursor.close
      assert_equal 1, db.stats.live_snapshots
      assert_kind_of Integer, db.stats.oldest_snapshot_age_ms
      txn.release
      done = db.stats
      assert_equal [0, 0], [done.live_snapshots, done.oldest_snapshot_age_ms]
      db.drop_metric(ids[2])
      assert_equal 2, db.stats.metrics
    end
  end

  def first_timestamp(db, id)
    db.snapshot { |txn| txn.scan(id).first&.first }
  end

  # After retention of `span` over points 0...n (partitions of 16 to 32 points): the points
  # left are the newest ones, and some reach back past the horizon (whole partitions go).
  # Partitions written before the span was set may have been joined by tier (up to 1,024
  # points here): `slack` is how far back the one across the horizon may then reach.
  def assert_retained(db, id, n, span, label, slack: 6 * 16)
    left = timestamps(db, id)
    first = left.first
    assert left == (first...n).to_a, "#{label}: the newest points are kept: #{left.first(3)}..#{left.last(3)}"
    assert_operator first, :<=, n - 1 - span, "#{label}: nothing newer than the horizon goes"
    assert_operator first, :>, n - 1 - span - slack, "#{label}: the partitions past the horizon go"
  end

  def test_per_metric_retention_enforced_now
    open_db(partition_points: 16) do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      fill(db, a, 0...1000)
      fill(db, b, 0...1000)
      partitions = db.stats.partitions
      before = db.snapshot # begun while retention is off (the default): it sees everything
      assert_nil db.set_retention(a, 100)
      dropped = db.enforce_retention
      assert_kind_of Integer, dropped
      assert_retained(db, a, 1000, 100, "a", slack: 1024)
      assert_equal (0...1000).to_a, timestamps(db, b), "b keeps the database's default: everything"
      gone = partitions - db.stats.partitions
      assert_operator gone, :>=, 1, "old partitions are gone"
      # The background work may have dropped some first (set_retention wakes it); the
      # partitions gone are those dropped by the one or the other.
      assert_includes 0..gone, dropped
      assert_equal 0, db.enforce_retention, "nothing is left to drop"
      assert_equal (0...1000).to_a, before.scan(a).map(&:first), "an older snapshot still reads them"
      before.release
    end
  end

  def test_retention_option_and_per_metric_overrides
    open_db(partition_points: 16, retention: 200) do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      c = db.create_metric("c")
      db.set_retention(b, :forever)
      db.set_retention(c, 50)
      [a, b, c].each { |id| fill(db, id, 0...2000) }
      db.enforce_retention
      assert_retained(db, a, 2000, 200, "a (the database's default)")
      assert_equal (0...2000).to_a, timestamps(db, b), "b keeps everything"
      assert_retained(db, c, 2000, 50, "c (its own span)")
    end
    open_db(partition_points: 16) do |db| # no default now; the metrics' own settings are durable
      a, b, c = 1, 2, 3
      a_first = first_timestamp(db, a)
      [a, b, c].each { |id| fill(db, id, 2000...3000) }
      db.enforce_retention
      assert_equal a_first, first_timestamp(db, a), "a follows the database's default: keep everything"
      assert_equal 0, first_timestamp(db, b)
      assert_retained(db, c, 3000, 50, "c after reopening")
      db.set_retention(b, 100)
      db.set_retention(c, :default) # back to the database's default: keep everything
      c_first = first_timestamp(db, c)
      fill(db, c, 3000...4000)
      db.enforce_retention
      assert_retained(db, b, 3000, 100, "b with a span set later", slack: 1024)
      assert timestamps(db, c) == (c_first...4000).to_a, "c keeps everything again"
      db.set_retention(c, -1) # a negative span keeps everything too
    end
  end

  def test_retention_errors
    err = assert_raises(TSDB::InvalidArgument) { open_db(retention: -1) }
    assert_match(/retention/, err.message)
    assert_raises(TypeError) { open_db(retention: 1.5) }
    assert_raises(RangeError) { open_db(retention: 2**63) }
    open_db do |db|
      a = db.create_metric("a")
      assert_raises(TSDB::NotFound) { db.set_retention(a + 1, 10) }
      assert_raises(ArgumentError) { db.set_retention(a, :never) }
      assert_raises(TypeError) { db.set_retention(a, "10") }
      assert_raises(TypeError) { db.set_retention(a, nil) }
      assert_equal 0, db.enforce_retention
    end
  end

  def test_check_reports_what_it_verified
    open_db(partition_points: 16) do |db|
      a = db.create_metric("a")
      fill(db, a, 0...1000)
      db.checkpoint
      report = db.check
      assert_instance_of TSDB::CheckReport, report
      assert report.frozen?
      assert_equal 1, report.metrics
      assert_operator report.partitions, :>, 0
      assert_equal 1000, report.points, "every stored point was decoded"
      assert_operator report.segments, :>=, 1
    end
    # Damage one data segment: check names it and raises TSDB::Corruption.
    segment = Dir[File.join(@dir, "data", "*")].max_by { |f| File.size(f) }
    refute_nil segment
    File.open(segment, "r+b") do |f|
      f.seek(File.size(segment) / 2)
      byte = f.read(1).ord
      f.seek(-1, IO::SEEK_CUR)
      f.write((byte ^ 0xff).chr)
    end
    open_db do |db|
      err = assert_raises(TSDB::Corruption) { db.check }
      assert_match(/\Ats_check: \d+ problems? found: data/, err.message)
    end
  end
end
