# frozen_string_literal: true

require_relative "test_helper"

class TestRoundTrip < TSDBTest
  def test_single_inserts_read_back_in_ascending_order_last_write_wins
    open_db do |db|
      cpu = db.create_metric("cpu.user")
      assert_equal 1, cpu
      assert_same db, db.insert(cpu, 3000, 0.75)
      db.insert(cpu, 1000, 0.25)
      db.insert(cpu, 2000, 1) # an Integer value is stored as a Float
      db.insert(cpu, 3000, 0.7) # same timestamp again: replaces 0.75
      assert_equal [[1000, 0.25], [2000, 1.0], [3000, 0.7]], points(db, cpu)
    end
  end

  def test_insert_batch_any_order_later_duplicate_wins
    open_db do |db|
      id = db.create_metric("m")
      assert_equal 4, db.insert_batch(id, [40, 10, 30, 10], [4.0, 1.0, 3.0, 1.5])
      assert_equal [[10, 1.5], [30, 3.0], [40, 4.0]], points(db, id)
    end
  end

  def test_insert_batch_leaves_the_callers_arrays_alone
    # ffi's put_array_of_* would drop the arrays' write barrier protection, making every
    # later minor GC rescan them; insert_batch hands it copies.
    require "objspace"
    timestamps = (0...100).to_a
    values = timestamps.map(&:to_f)
    open_db do |db|
      db.insert_batch(db.create_metric("a"), timestamps, values)
    end
    [timestamps, values].each do |array|
      assert_includes ObjectSpace.dump(array), '"wb_protected":true'
    end
    assert_equal (0...100).to_a, timestamps
  end

  def test_values_round_trip_bit_exactly
    nan_payload = float_from_bits(0x7ff8_0000_dead_beef)
    values = [0.0, -0.0, Float::INFINITY, -Float::INFINITY, Float::NAN, nan_payload,
              Float::MIN, Float::MAX, Float::EPSILON, -1e-310, 1 / 3.0]
    open_db do |db|
      id = db.create_metric("bits")
      db.insert_batch(id, (0...values.size).to_a, values)
      db.insert(id, 100, nan_payload)
      got = points(db, id)
      assert_equal values.map { |v| bits(v) }, got.first(values.size).map { |_, v| bits(v) }
      assert_equal bits(nan_payload), bits(got.last[1])
    end
  end

  def test_extreme_timestamps
    open_db do |db|
      id = db.create_metric("edges")
      db.insert_batch(id, [TSDB::MAX_TIMESTAMP, TSDB::MIN_TIMESTAMP, 0], [3.0, 1.0, 2.0])
      assert_equal [[TSDB::MIN_TIMESTAMP, 1.0], [0, 2.0], [TSDB::MAX_TIMESTAMP, 3.0]], points(db, id)
      err = assert_raises(TSDB::InvalidArgument) { db.insert(id, TSDB::MAX_TIMESTAMP + 1, 0.0) }
      assert_match(/ts_insert/, err.message)
    end
  end

  def test_scan_bounds_and_ranges
    open_db do |db|
      id = db.create_metric("r")
      db.insert_batch(id, (1..10).to_a, (1..10).map(&:to_f))
      db.snapshot do |txn|
        ts = ->(cursor) { cursor.map(&:first) }
        assert_equal (3..6).to_a, ts.(txn.scan(id, 3, 7))
        assert_equal (3..6).to_a, ts.(txn.scan(id, 3...7))
        assert_equal (3..7).to_a, ts.(txn.scan(id, 3..7))
        assert_equal (8..10).to_a, ts.(txn.scan(id, 8..))
        assert_equal (1..2).to_a, ts.(txn.scan(id, ..2))
        assert_equal (1..10).to_a, ts.(txn.scan(id, ..TSDB::MAX_TIMESTAMP + 1))
        assert_equal [], ts.(txn.scan(id, 5, 5)) # from == until: empty
        assert_equal (1..10).to_a, ts.(txn.scan("r")) # by name
      end
    end
  end

  def test_cursor_is_an_enumerable_stream_read_in_batches
    n = 10_000
    open_db(partition_points: 1024) do |db|
      id = db.create_metric("many")
      db.insert_batch(id, (0...n).to_a, (0...n).map { |i| i * 0.5 })
      db.snapshot do |txn|
        cursor = txn.scan(id, batch_size: 300) # many refills, not aligned with partitions
        assert_kind_of Enumerable, cursor
        assert_equal [[0, 0.0], [1, 0.5], [2, 1.0]], cursor.first(3)
        rest = cursor.to_a # continues after the first three
        assert_equal n - 3, rest.size
        assert_equal [3, 1.5], rest.first
        assert_equal [n - 1, (n - 1) * 0.5], rest.last
        assert cursor.exhausted?
        assert cursor.closed?, "an exhausted cursor frees its handle"
        assert_equal [], cursor.to_a

        sum = txn.scan(id).sum { |_, v| v }
        assert_in_delta (0...n).sum * 0.5, sum
        assert_equal 42, txn.scan(id).find { |ts, _| ts == 42 }&.first
        enum = txn.scan(id, 0, 5).each
        assert_equal [0, 0.0], enum.next
      end
    end
  end

  def test_each_batch_yields_columns
    open_db do |db|
      id = db.create_metric("cols")
      db.insert_batch(id, (0...5000).to_a, Array.new(5000, 2.0))
      db.snapshot do |txn|
        cursor = txn.scan(id, batch_size: 2048)
        assert_equal [0, 1.0 * 2], cursor.first # one point read from the first batch
        batches = []
        cursor.each_batch { |ts, values| batches << [ts, values] }
        assert_equal [2047, 2048, 904], batches.map { |ts, _| ts.size }
        assert_equal (1...5000).to_a, batches.flat_map(&:first)
        assert(batches.all? { |ts, values| ts.size == values.size })
      end
    end
  end

  def test_checkpoint_and_reopen_keep_everything
    open_db do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      db.insert_batch(a, (0...5000).to_a, (0...5000).map(&:to_f))
      db.checkpoint
      db.insert(b, 7, 7.5)
      db.insert(a, 5000, -1.0)
    end
    assert_equal [], Dir.glob("#{@dir}/wal/**/*"), "close leaves no log behind"
    open_db do |db|
      db.snapshot do |txn|
        assert_equal 2, txn.metric_count
        a = txn.lookup("a")
        got = txn.scan(a).to_a
        assert_equal 5001, got.size
        assert_equal [5000, -1.0], got.last
        assert_equal [[7, 7.5]], txn.scan("b").to_a
      end
      assert_equal 3, db.create_metric("c"), "ids continue after reopen"
    end
  end

  def test_writes_survive_a_process_that_never_closes
    # The child writes and exits with exit! (no close, no finalizers): the log has it all.
    code = <<~RUBY
      require "tsdb"
      db = TSDB.open(#{@dir.inspect})
      id = db.create_metric("kept")
      db.insert_batch(id, (0...1000).to_a, Array.new(1000, 1.25))
      db.insert(id, 5000, 2.5)
      $stdout.write("written\n")
      $stdout.flush
      exit!(0)
    RUBY
    out, status = run_ruby(code)
    assert status.success?, out
    assert_equal "written\n", out
    open_db do |db|
      got = points(db, "kept")
      assert_equal 1001, got.size
      assert_equal [5000, 2.5], got.last
    end
  end

  def test_open_options
    open_db(create_if_missing: true, partition_points: 64, head_run_points: 8,
            raw_head_budget: 0, sync: :always, checkpoint_bytes: 4096) do |db|
      id = db.create_metric("o")
      200.times { |i| db.insert(id, i, i.to_f) } # sync: :always releases the GVL per insert
      db.insert_batch(id, (200...1000).to_a, (200...1000).map(&:to_f))
      assert_equal 1000, points(db, id).size
    end
    open_db(sync: :none) { |db| assert_equal 1000, points(db, 1).size }
    open_db(sync: :interval, sync_interval_ms: 5) { |db| assert_equal 1000, points(db, 1).size }
    open_db(sync_interval_ms: 50) { |db| assert_equal 1000, points(db, 1).size }
  end

  def test_pathname_path_and_version
    require "pathname"
    TSDB.open(Pathname.new(@dir)) { |db| assert_equal @dir, db.path }
    assert_match(/\A\d+\.\d+\.\d+\z/, TSDB.library_version)
  end
end
