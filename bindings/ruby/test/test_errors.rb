# frozen_string_literal: true

require_relative "test_helper"

class TestErrors < TSDBTest
  def test_each_status_has_its_class
    expected = { 2 => TSDB::NotFound, 3 => TSDB::Exists, 4 => TSDB::InvalidArgument, 5 => TSDB::Busy,
                 6 => TSDB::IOError, 7 => TSDB::Corruption, 8 => TSDB::Closed, 9 => TSDB::Internal }
    assert_equal expected, TSDB::STATUS_ERRORS
    expected.each do |status, klass|
      assert_operator klass, :<, TSDB::Error
      assert_operator TSDB::Error, :<, StandardError
      err = TSDB.error_for(status, "")
      assert_instance_of klass, err
      assert_equal status, err.status
      assert_equal err.status_name, err.message, "an empty message falls back to the status name"
    end
    assert_equal "TS_NOT_FOUND", TSDB::NotFound.new("x").status_name
  end

  def test_unknown_status_maps_to_the_base_class
    err = TSDB.error_for(4242, "from a newer library")
    assert_instance_of TSDB::Error, err
    assert_equal 4242, err.status
    assert_equal "TS_UNKNOWN_STATUS", err.status_name
    assert_equal "from a newer library", err.message
    plain = TSDB::Error.new("raised by hand")
    assert_nil plain.status
    assert_equal "TS_UNKNOWN_STATUS", plain.status_name
  end

  def test_not_found
    open_db do |db|
      id = db.create_metric("a")
      db.snapshot do |txn|
        err = assert_raises(TSDB::NotFound) { txn.lookup("missing") }
        assert_match(/\Ats_metric_lookup: /, err.message)
        assert_equal 2, err.status
        assert_raises(TSDB::NotFound) { txn.scan(id + 1) }
        assert_raises(TSDB::NotFound) { txn.scan("missing") }
      end
      err = assert_raises(TSDB::NotFound) { db.insert(id + 1, 1, 1.0) }
      assert_equal "ts_insert: no live metric with this id (id=#{id + 1})", err.message
      db.drop_metric(id)
      err = assert_raises(TSDB::NotFound) { db.drop_metric(id) } # dropped twice
      assert_match(/\Ats_metric_drop: /, err.message)
    end
    missing = File.join(@tmp, "missing")
    err = assert_raises(TSDB::NotFound) { TSDB.open(missing, create_if_missing: false) }
    assert_includes err.message, missing
  end

  def test_exists_carries_the_existing_id
    open_db do |db|
      id = db.create_metric("dup")
      err = assert_raises(TSDB::Exists) { db.create_metric("dup") }
      assert_equal id, err.existing_id
      assert_match(/ts_metric_create/, err.message)
      assert_equal id, db.create_metric("dup", exist_ok: true)
    end
  end

  def test_invalid_arguments_from_the_library
    open_db do |db|
      id = db.create_metric("a")
      { "" => /ts_metric_create/, "x" * 1025 => /ts_metric_create/,
        "\xff\xfe".b => /ts_metric_create/ }.each do |name, pattern|
        err = assert_raises(TSDB::InvalidArgument) { db.create_metric(name) }
        assert_match pattern, err.message
        assert_equal 4, err.status
      end
      assert_equal 2, db.create_metric("y" * 1024) # the longest name is fine
      assert_raises(TSDB::InvalidArgument) { db.create_metric("nul\0byte") }
      db.snapshot do |txn|
        err = assert_raises(TSDB::InvalidArgument) { txn.scan(id, 20, 10) }
        assert_equal "ts_scan_range: from > until (from=20, until=10)", err.message
        assert_raises(TSDB::InvalidArgument) { txn.lookup("") }
      end
    end
    { partition_points: 1, head_run_points: 0, sync_interval_ms: 0, checkpoint_bytes: 1 }.each do |opt, bad|
      err = assert_raises(TSDB::InvalidArgument, opt) { open_db(opt => bad) }
      assert_match(/ts_options_set_/, err.message)
    end
    file = File.join(@tmp, "a-file")
    File.write(file, "")
    assert_raises(TSDB::InvalidArgument) { TSDB.open(file) }
  end

  def test_wrong_types_raise_type_error_and_bad_ranges_range_error
    open_db do |db|
      id = db.create_metric("a")
      assert_raises(TypeError) { db.insert("1", 1, 1.0) }
      assert_raises(TypeError) { db.insert(id, 1.5, 1.0) } # no silent truncation
      assert_raises(TypeError) { db.insert(id, "1", 1.0) }
      assert_raises(TypeError) { db.insert(id, 1, "1.0") }
      assert_raises(TypeError) { db.insert(id, 1, nil) }
      assert_raises(RangeError) { db.insert(-1, 1, 1.0) }
      assert_raises(RangeError) { db.insert(2**64, 1, 1.0) }
      assert_raises(RangeError) { db.insert(id, 2**63, 1.0) }
      assert_raises(TypeError) { db.insert_batch(id, [1, 2.5], [1.0, 2.0]) }
      assert_raises(TypeError) { db.insert_batch(id, [1, Rational(1, 2)], [1.0, 2.0]) }
      assert_raises(TypeError) { db.insert_batch(id, [1, nil], [1.0, 2.0]) }
      assert_raises(TypeError) { db.insert_batch(id, [1, 2], [1.0, "x"]) }
      assert_raises(TypeError) { db.insert_batch(id, 1, 1.0) }
      assert_raises(RangeError) { db.insert_batch(id, [2**63], [1.0]) }
      assert_raises(TypeError) { db.create_metric(:sym) }
      assert_raises(TypeError) { db.drop_metric(nil) }
      assert_raises(TypeError) { db.batch.add(id, 1.0, 1.0) }
      db.snapshot do |txn|
        assert_raises(TypeError) { txn.lookup(1) }
        assert_raises(TypeError) { txn.scan(id, 1.0) }
        assert_raises(TypeError) { txn.scan(id, "a".."b") }
        assert_raises(TypeError) { txn.scan(nil) }
      end
      assert_equal [], points(db, id), "nothing was written by the failed calls"
    end
    assert_raises(TypeError) { TSDB.open(42) }
    assert_raises(TypeError) { open_db(create_if_missing: "yes") }
    assert_raises(TypeError) { open_db(partition_points: "64") }
    assert_raises(ArgumentError) { open_db(sync: :sometimes) }
    err = assert_raises(ArgumentError) { open_db(partition_size: 64) }
    assert_match(/unknown option :partition_size/, err.message)
  end

  def test_busy_on_close_with_live_snapshot_or_cursor_and_on_second_open
    db = open_db
    id = db.create_metric("a")
    txn = db.snapshot
    err = assert_raises(TSDB::Busy) { db.close }
    assert_match(/\Ats_close: /, err.message)
    refute db.closed?, "a busy database stays open and usable"
    db.insert(id, 1, 1.0)
    cursor = txn.scan(id)
    txn.release
    assert_raises(TSDB::Busy) { db.close } # the cursor holds the snapshot
    cursor.close
    err = assert_raises(TSDB::Busy) { TSDB.open(@dir) }
    assert_match(/ts_open/, err.message)
    db.close
    TSDB.open(@dir, &:close) # closed for real: it opens again
  end

  def test_io_error
    err = assert_raises(TSDB::IOError) { TSDB.open(File.join(@tmp, "no", "such", "parent")) }
    assert_match(/ts_open: .*no.such.parent/, err.message)
    assert_equal 6, err.status
  end

  def test_corruption_names_file_and_offset
    open_db do |db|
      id = db.create_metric("a")
      db.insert_batch(id, (0...10_000).to_a, (0...10_000).map(&:to_f))
    end
    segment = Dir[File.join(@dir, "data", "*")].max_by { |f| File.size(f) }
    bytes = File.binread(segment)
    bytes.setbyte(bytes.size / 2, bytes.getbyte(bytes.size / 2) ^ 0xff)
    File.binwrite(segment, bytes)
    err = assert_raises(TSDB::Corruption) do
      open_db { |db| points(db, "a") }
    end
    assert_match(/#{File.basename(segment)} offset \d+/, err.message)
    assert_equal 7, err.status
    open_db(&:close) # the block closed everything despite the error
  end

  def test_error_messages_are_per_thread
    open_db do |db|
      id = db.create_metric("a")
      threads = [
        Thread.new { 500.times.map { db.insert(id + 7, 1, 1.0) rescue $!.message }.uniq },
        Thread.new { 500.times.map { db.snapshot { |t| t.scan(id, 9, 3) } rescue $!.message }.uniq },
        Thread.new { 500.times.map { db.drop_metric(id + 9) rescue $!.message }.uniq }
      ]
      messages = threads.map(&:value) # each thread's distinct messages
      assert_equal ["ts_insert: no live metric with this id (id=#{id + 7})"], messages[0]
      assert_equal ["ts_scan_range: from > until (from=9, until=3)"], messages[1]
      assert_equal 1, messages[2].size
      assert_match(/\Ats_metric_drop: .*#{id + 9}/, messages[2].first)
    end
  end
end
