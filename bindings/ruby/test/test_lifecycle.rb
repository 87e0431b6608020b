# frozen_string_literal: true

require_relative "test_helper"

class TestLifecycle < TSDBTest
  def test_use_after_close_raises_closed
    db = open_db
    id = db.create_metric("a")
    db.insert(id, 1, 1.0)
    batch = db.batch.add(id, 2, 2.0)
    assert_nil db.close
    assert db.closed?
    assert_nil db.close, "closing twice does nothing"
    [-> { db.insert(id, 1, 1.0) }, -> { db.insert_batch(id, [1], [1.0]) }, -> { db.create_metric("b") },
     -> { db.drop_metric(id) }, -> { db.checkpoint }, -> { db.snapshot }, -> { batch.commit },
     -> { db.batch { |b| b.add(id, 3, 3.0) } }, -> { db.delete_range(id, 0, 10) }, -> { db.set_retention(id, 5) },
     -> { db.enforce_retention }, -> { db.stats }, -> { db.check }].each do |call|
      err = assert_raises(TSDB::Closed) { call.call }
      assert_match(/database .* is closed/, err.message)
      assert_equal 8, err.status
      assert_equal "TS_CLOSED", err.status_name
    end
    assert_match(/closed/, db.inspect)
  end

  def test_use_after_release_and_after_cursor_close
    open_db do |db|
      id = db.create_metric("a")
      db.insert_batch(id, [1, 2], [1.0, 2.0])
      txn = db.snapshot
      cursor = txn.scan(id)
      txn.release
      txn.release # twice: nothing
      %i[metric_count metrics].each { |m| assert_raises(TSDB::Closed) { txn.public_send(m) } }
      assert_raises(TSDB::Closed) { txn.aggregate(id, 0, 10, 5) }
      assert_raises(TSDB::Closed) { txn.lookup("a") }
      err = assert_raises(TSDB::Closed) { txn.scan(id) }
      assert_equal "snapshot is released", err.message
      cursor.close
      cursor.close
      err = assert_raises(TSDB::Closed) { cursor.to_a }
      assert_equal "cursor is closed", err.message
      assert_raises(TSDB::Closed) { cursor.each_batch { |*| } }
    end
  end

  def test_closing_a_cursor_inside_its_own_loop_ends_the_loop
    open_db do |db|
      id = db.create_metric("a")
      db.insert_batch(id, (1..10).to_a, Array.new(10, 1.0))
      db.snapshot do |txn|
        cursor = txn.scan(id)
        seen = []
        cursor.each do |ts, _|
          seen << ts
          cursor.close if ts == 3
        end
        assert_equal [1, 2, 3], seen
      end
    end
  end

  def test_open_block_closes_the_database_even_when_it_raises
    kept = nil
    assert_raises(RuntimeError) do
      open_db do |db|
        kept = db
        raise "boom"
      end
    end
    assert kept.closed?
    open_db(&:close)
  end

  def test_open_block_error_is_not_hidden_by_a_busy_close
    leaked = nil
    err = assert_raises(RuntimeError) do
      open_db do |db|
        leaked = db.snapshot # never released: the block's close fails with Busy
        raise "the real error"
      end
    end
    assert_equal "the real error", err.message
    refute leaked.database.closed?
    leaked.release
    leaked.database.close
  end

  def test_forgotten_handles_are_freed_by_finalizers
    in_fresh_thread do
      db = open_db
      id = db.create_metric("a")
      db.insert_batch(id, [1, 2, 3], [1.0, 2.0, 3.0])
      db.snapshot.scan(id).first # a snapshot and a cursor, both forgotten
      db.batch.add(id, 4, 4.0)   # a batch never committed
      txn = db.snapshot
      txn.metrics(batch_size: 1).each.next # a metric listing left in progress
      txn.release
      # and the database itself is never closed
    end
    db = after_gc { open_db }
    assert_equal [[1, 1.0], [2, 2.0], [3, 3.0]], points(db, "a")
    db.close
  end

  def test_forgotten_children_let_a_live_database_close
    db = open_db
    id = db.create_metric("a")
    db.insert(id, 1, 1.0)
    in_fresh_thread do
      5.times { db.snapshot.scan(id) } # forgotten snapshots with unread cursors
    end
    after_gc { db.close }
    assert db.closed?
  end

  def test_children_keep_their_database_alive
    txn_holder = []
    in_fresh_thread do
      db = open_db
      id = db.create_metric("a")
      db.insert(id, 5, 5.0)
      txn_holder << db.snapshot # only the snapshot is kept; the database object is not
    end
    3.times { GC.start(full_mark: true, immediate_sweep: true) }
    # Used in a thread of its own too, so that no stale reference to the snapshot, its
    # cursor or the database stays behind on this thread's stack for the collector to see.
    in_fresh_thread do
      txn = txn_holder.pop
      refute txn.database.closed?
      assert_equal [[5, 5.0]], txn.scan("a").to_a
      assert_raises(TSDB::Busy) { TSDB.open(@dir) } # still open in this process
      txn.release
    end
    db = after_gc { open_db }
    db.close
  end

  def test_database_collected_with_its_children_closes_after_the_last_one
    # The database, a snapshot and a cursor die in the same collection, finalized in any
    # order: the database's ts_close may return Busy first, and the last child closes it.
    5.times do |round|
      in_fresh_thread do
        db = open_db
        id = db.create_metric("m", exist_ok: true)
        db.insert(id, round, round.to_f)
        txn = db.snapshot
        txn.scan(id).first
        db.snapshot
      end
      db = after_gc { open_db }
      assert_equal (0..round).map { |r| [r, r.to_f] }, points(db, "m")
      db.close
    end
  end

  def test_close_waits_for_calls_in_flight_on_other_threads
    open_db do |db|
      id = db.create_metric("a")
      progress = [0, 0, 0]
      writers = Array.new(progress.size) do |w|
        Thread.new do
          loop do
            base = (w * 10**12) + progress[w]
            db.insert_batch(id, (base...base + 500).to_a, Array.new(500, 1.0))
            progress[w] += 500
          rescue TSDB::Closed
            break
          end
        end
      end
      until progress.all?(&:positive?)
        writers.each { |t| t.join unless t.alive? } # re-raises a writer's exception
        Thread.pass
      end
      db.close # with inserts in flight: waits for them, never frees the handle under them
      writers.each(&:join)
      assert_equal progress.sum, TSDB.open(@dir) { |reopened| points(reopened, id).size }
    end
  end
end
