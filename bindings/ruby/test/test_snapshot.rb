# frozen_string_literal: true

require_relative "test_helper"

class TestSnapshot < TSDBTest
  def test_snapshot_is_isolated_from_a_concurrent_writer
    open_db do |db|
      id = db.create_metric("live")
      db.insert_batch(id, (0...1000).to_a, Array.new(1000, 1.0))
      db.snapshot do |txn|
        before = txn.scan(id).to_a
        assert_equal 1000, before.size
        stop = false
        written = 0
        writer = Thread.new do
          until stop
            base = 1000 + written
            db.insert_batch(id, (base...base + 100).to_a, Array.new(100, 2.0))
            db.insert(id, 0, 99.0) # overwrites a point the snapshot holds
            written += 100
          end
        end
        # Repeat the scan until the writer has written several batches during it.
        scans = 0
        until written >= 2000 && scans >= 5
          flunk "the writer stopped: #{writer.join.inspect}" unless writer.alive? # join re-raises
          assert_equal before, txn.scan(id).to_a
          scans += 1
          Thread.pass
        end
        stop = true
        writer.join
        assert_equal before, txn.scan(id).to_a
        fresh = points(db, id)
        assert_equal 1000 + written, fresh.size
        assert_equal [0, 99.0], fresh.first
      end
    end
  end

  def test_metrics_created_or_dropped_later_are_invisible
    open_db do |db|
      old = db.create_metric("old")
      db.insert(old, 1, 1.0)
      txn = db.snapshot
      db.drop_metric(old)
      fresh = db.create_metric("old") # the name may be reused; the id is new
      refute_equal old, fresh
      db.create_metric("new")
      assert_equal 1, txn.metric_count
      assert_equal old, txn.lookup("old")
      assert_equal [[1, 1.0]], txn.scan("old").to_a, "a dropped metric stays readable"
      assert_raises(TSDB::NotFound) { txn.lookup("new") }
      txn.release
      db.snapshot do |now|
        assert_equal 2, now.metric_count
        assert_equal fresh, now.lookup("old")
        assert_raises(TSDB::NotFound) { now.scan(old) }
        assert_equal [], now.scan("old").to_a
      end
    end
  end

  def test_one_snapshot_read_by_many_threads
    open_db do |db|
      id = db.create_metric("shared")
      db.insert_batch(id, (0...20_000).to_a, (0...20_000).map(&:to_f))
      db.snapshot do |txn|
        sums = Array.new(4) { Thread.new { 5.times.map { txn.scan(id).sum { |_, v| v } } } }.flat_map(&:value)
        assert_equal [(0...20_000).sum.to_f], sums.uniq
      end
    end
  end

  def test_a_cursor_outlives_a_released_snapshot
    open_db do |db|
      id = db.create_metric("c")
      db.insert_batch(id, [1, 2, 3], [1.0, 2.0, 3.0])
      txn = db.snapshot
      cursor = txn.scan(id)
      txn.release
      assert txn.released?
      assert_equal [[1, 1.0], [2, 2.0], [3, 3.0]], cursor.to_a
    end
  end

  def test_block_forms_release_their_handles
    open_db do |db|
      id = db.create_metric("b")
      db.insert_batch(id, [1, 2, 3], [1.0, 2.0, 3.0])
      kept_txn = nil
      kept_cursor = nil
      value = db.snapshot do |txn|
        kept_txn = txn
        kept_cursor = txn.scan(id)
        kept_cursor.first # a partly read cursor
        txn.scan(id) { |c| c.first(2) }
      end
      assert_equal [[1, 1.0], [2, 2.0]], value
      assert kept_txn.released?
      assert kept_cursor.closed?, "the snapshot's block closes cursors opened in it"
      assert_raises(TSDB::Closed) { kept_cursor.to_a }
      db.close # nothing alive: no TSDB::Busy
    end
  end
end
