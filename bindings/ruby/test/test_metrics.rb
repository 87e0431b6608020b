# frozen_string_literal: true

require_relative "test_helper"

# Snapshot#metrics: listing a snapshot's metrics, with and without a prefix.
class TestMetrics < TSDBTest
  # 2,600 metrics (more than two batches of the default 1,024) named over five hosts, some
  # non-ASCII, 100 of them dropped: { id => name } of the live ones.
  def populate(db)
    live = {}
    2600.times do |i|
      name = i % 13 == 5 ? "température.#{i}" : "host#{i % 5}.m#{i}"
      live[db.create_metric(name)] = name
    end
    live.keys.each_slice(26) do |slice|
      db.drop_metric(slice.first)
      live.delete(slice.first)
    end
    live
  end

  def test_listing_with_and_without_prefix
    open_db do |db|
      live = populate(db)
      assert_equal 2500, live.size
      db.snapshot do |txn|
        all = txn.metrics
        assert_instance_of TSDB::MetricList, all
        assert_equal "", all.prefix
        assert_equal live.to_a, all.to_a, "every live metric, ascending id, with its name"
        assert_equal live, all.to_h
        assert(all.all? { |_, name| name.encoding == Encoding::UTF_8 && name.valid_encoding? })
        assert_equal live.to_a, txn.metrics(batch_size: 7).to_a, "in batches of 7"
        assert_equal live.to_a, txn.metrics(prefix: "").to_a
        assert_equal 2500, all.count
        assert_equal all.to_a, all.to_a, "iterated again, the same answer"

        host3 = live.select { |_, name| name.start_with?("host3.") }
        assert_operator host3.size, :>, 400
        assert_equal host3.to_a, txn.metrics(prefix: "host3.").to_a
        assert_equal host3.to_a, txn.metrics(prefix: "host3.", batch_size: 1).to_a, "one metric per call"
        accented = live.select { |_, name| name.start_with?("temp\u00e9") }
        refute_empty accented
        assert_equal accented.to_a, txn.metrics(prefix: "temp\u00e9").to_a
        assert_equal [], txn.metrics(prefix: "nothing").to_a
        assert_equal [[live.keys.last, live.values.last]], txn.metrics(prefix: live.values.last).to_a

        names = []
        assert_instance_of TSDB::MetricList, txn.metrics(prefix: "host0.") { |_id, name| names << name }
        assert_equal live.values.grep(/\Ahost0\./), names
      end
    end
  end

  def test_a_listing_sees_its_snapshot
    open_db do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      db.snapshot do |txn|
        db.drop_metric(a)
        c = db.create_metric("c")
        assert_equal [[a, "a"], [b, "b"]], txn.metrics.to_a
        assert_equal [[b, "b"], [c, "c"]], db.snapshot { |now| now.metrics.to_a }
      end
    end
  end

  def test_iteration_frees_its_listing
    open_db do |db|
      2000.times { |i| db.create_metric("m#{i}") }
      txn = db.snapshot
      list = txn.metrics(batch_size: 100)
      first = nil
      list.each do |id, _|
        first = id
        break
      end
      assert_equal 1, first
      assert_raises(ZeroDivisionError) { list.each { 1 / 0 } }
      txn.release
      assert_equal 0, db.stats.live_snapshots, "break and exceptions free the listing"
      assert_raises(TSDB::Closed) { list.to_a }
      assert_raises(TSDB::Closed) { txn.metrics }
    end
  end

  def test_an_external_enumerator_keeps_the_snapshot_until_freed
    open_db do |db|
      3.times { |i| db.create_metric("m#{i}") }
      txn = db.snapshot
      enum = txn.metrics(batch_size: 1).each
      assert_equal [1, "m0"], enum.next
      txn.release
      assert_equal 1, db.stats.live_snapshots, "the listing in progress holds the snapshot"
      assert_equal [2, "m1"], enum.next
      assert_equal [3, "m2"], enum.next
      assert_raises(StopIteration) { enum.next }
      assert_equal 0, db.stats.live_snapshots, "a finished listing is freed"
    end
    # Abandoned mid-way: the snapshot's block closes the listing,
    open_db do |db|
      db.create_metric("x")
      db.create_metric("y")
      kept = db.snapshot do |txn|
        enum = txn.metrics(batch_size: 1).each
        enum.next
        enum
      end
      assert_equal 0, db.stats.live_snapshots
      assert_raises(TSDB::Closed) { kept.next }
    end
    # or its finalizer when the enumerator is garbage collected.
    db = open_db
    in_fresh_thread do
      txn = db.snapshot
      txn.metrics(batch_size: 1).each.next
      txn.release
    end
    after_gc { db.close }
  end

  def test_argument_errors
    open_db do |db|
      db.snapshot do |txn|
        assert_raises(TypeError) { txn.metrics(prefix: 5) }
        err = assert_raises(TSDB::InvalidArgument) { txn.metrics(prefix: "a\0b") }
        assert_match(/NUL/, err.message)
        assert_raises(RangeError) { txn.metrics(batch_size: 0) }
        assert_raises(TSDB::InvalidArgument) { txn.metrics(prefix: "\xff".b).to_a }
      end
    end
  end
end
