# frozen_string_literal: true

require_relative "test_helper"

class TestBatch < TSDBTest
  def test_block_commits_points_of_many_metrics_at_its_end
    open_db do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      n = db.batch do |batch|
        batch.add(a, 1, 1.0).add(b, 1, 10.0)
        batch.add(a, 2, 2.0)
        batch.add(a, 1, 1.5) # a later add wins within a metric
        assert_equal 4, batch.size
        assert_equal [], points(db, a), "nothing is written before the block ends"
      end
      assert_equal 4, n
      assert_equal [[1, 1.5], [2, 2.0]], points(db, a)
      assert_equal [[1, 10.0]], points(db, b)
    end
  end

  def test_block_form_frees_the_batch
    open_db do |db|
      a = db.create_metric("a")
      kept = nil
      db.batch { |batch| kept = batch.add(a, 1, 1.0) }
      assert kept.closed?
      err = assert_raises(TSDB::Closed) { kept.add(a, 2, 2.0) }
      assert_equal "batch is closed", err.message
      explicit = db.batch
      explicit.close
      explicit.close # twice: nothing
      assert_raises(TSDB::Closed) { explicit.commit }
    end
  end

  def test_unknown_metric_writes_nothing
    open_db do |db|
      a = db.create_metric("a")
      err = assert_raises(TSDB::NotFound) do
        db.batch { |batch| batch.add(a, 1, 1.0).add(999, 1, 2.0) }
      end
      assert_match(/ts_batch_commit/, err.message)
      assert_equal [], points(db, a)
    end
  end

  def test_block_that_raises_commits_nothing
    open_db do |db|
      a = db.create_metric("a")
      assert_raises(ZeroDivisionError) do
        db.batch do |batch|
          batch.add(a, 1, 1.0)
          1 / 0
        end
      end
      assert_equal [], points(db, a)
    end
  end

  def test_explicit_batch_reuse_and_failures_keep_points
    open_db do |db|
      a = db.create_metric("a")
      batch = db.batch
      assert batch.empty?
      assert_raises(TSDB::InvalidArgument) { batch.commit } # empty, as ts_batch_commit says
      assert_equal 0, db.batch { |_| } # the block form skips an empty commit

      batch.add(a, 1, 1.0)
      assert_equal 1, batch.commit
      assert batch.empty?, "a commit empties the batch"
      batch.add(a, 2, 2.0).add(a, TSDB::MAX_TIMESTAMP + 1, 0.0)
      assert_raises(TSDB::InvalidArgument) { batch.commit }
      assert_equal 2, batch.size, "a failed commit keeps the points"
      batch.clear
      batch.add(a, 3, 3.0)
      batch.commit
      assert_equal [[1, 1.0], [3, 3.0]], points(db, a)
    end
  end

  def test_snapshots_see_a_batch_whole_or_not_at_all
    metrics = 4
    rounds = 300
    open_db do |db|
      ids = Array.new(metrics) { |i| db.create_metric("m#{i}") }
      writer = Thread.new do
        rounds.times do |r|
          db.batch { |batch| ids.each { |id| 5.times { |k| batch.add(id, r * 5 + k, r.to_f) } } }
        end
      end
      observed = []
      until observed.last == rounds * 5
        writer.join unless writer.alive? # re-raises the writer's exception, if any
        counts = db.snapshot { |txn| ids.map { |id| txn.scan(id).count } }
        assert_equal 1, counts.uniq.size, "a snapshot saw part of a batch: #{counts}"
        assert_equal 0, counts.first % 5
        observed << counts.first
      end
      writer.join
      assert_equal observed.sort, observed, "later snapshots see no less"
    end
  end

  def test_insert_batch_is_atomic_and_checks_its_arguments
    open_db do |db|
      a = db.create_metric("a")
      assert_raises(TSDB::InvalidArgument) { db.insert_batch(a, [1, TSDB::MAX_TIMESTAMP + 1], [1.0, 2.0]) }
      assert_raises(TSDB::NotFound) { db.insert_batch(a + 1, [1], [1.0]) }
      err = assert_raises(TSDB::InvalidArgument) { db.insert_batch(a, [], []) }
      assert_match(/ts_insert_batch/, err.message)
      err = assert_raises(TSDB::InvalidArgument) { db.insert_batch(a, [1, 2], [1.0]) }
      assert_match(/2 timestamps but 1 values/, err.message)
      assert_equal [], points(db, a)
    end
  end

  def test_add_many_keeps_the_order_of_adds_within_a_metric
    open_db do |db|
      a = db.create_metric("a")
      b = db.create_metric("b")
      n = db.batch do |batch|
        batch.add(a, 1, 1.0).add(a, 2, 2.0)
        assert_same batch, batch.add_many(a, [2, 3, 4], [20.0, 30.0, 40.0]) # after the adds: wins
        batch.add(a, 4, 400.0) # after add_many: wins
        batch.add_many(b, [5, 6], [5, 6]) # Integer values are converted
        batch.add_many(b, [], [])         # nothing
        assert_equal 8, batch.size
      end
      assert_equal 8, n
      assert_equal [[1, 1.0], [2, 20.0], [3, 30.0], [4, 400.0]], points(db, a)
      assert_equal [[5, 5.0], [6, 6.0]], points(db, b)
    end
  end

  def test_many_points_of_many_metrics_commit_whole
    open_db(partition_points: 256) do |db|
      ids = Array.new(7) { |i| db.create_metric("m#{i}") }
      batch = db.batch
      # More points than the batch gathers before handing them to the library, interleaved
      # over the metrics, with rewrites of earlier timestamps far apart.
      20_000.times { |i| batch.add(ids[i % 7], i / 7, i.to_f) }
      ids.each { |id| batch.add(id, 0, -1.0) }
      batch.add_many(ids[0], (10_000...12_000).to_a, Array.new(2000, 0.5))
      assert_equal 22_007, batch.size
      db.snapshot do |txn|
        assert_equal 22_007, batch.commit
        assert_equal [], txn.scan(ids[0]).to_a, "an older snapshot sees none of it"
      end
      ids.each_with_index do |id, m|
        got = points(db, id)
        expected = (0...20_000).select { |i| i % 7 == m }.map { |i| [i / 7, i.to_f] }
        expected[0] = [0, -1.0]
        expected += (10_000...12_000).map { |ts| [ts, 0.5] } if m.zero?
        assert_equal expected, got, "metric #{m}"
      end
      batch.close
    end
  end

  def test_add_many_checks_its_arguments_and_adds_nothing_on_error
    open_db do |db|
      a = db.create_metric("a")
      db.batch do |batch|
        batch.add(a, 1, 1.0)
        err = assert_raises(ArgumentError) { batch.add_many(a, [1, 2], [1.0]) }
        assert_match(/2 timestamps but 1 values/, err.message)
        assert_raises(TypeError) { batch.add_many(a, [1, 2.5], [1.0, 2.0]) }
        assert_raises(TypeError) { batch.add_many(a, [1, 2], [1.0, "x"]) }
        assert_raises(TypeError) { batch.add_many(a, 1, [1.0]) }
        assert_raises(RangeError) { batch.add_many(a, [2**63], [1.0]) }
        assert_raises(RangeError) { batch.add_many(-1, [1], [1.0]) }
        assert_raises(RangeError) { batch.add(a, 2**63, 1.0) }
        assert_raises(RangeError) { batch.add(2**64, 1, 1.0) }
        assert_raises(TypeError) { batch.add(a, 1.0, 1.0) }
        assert_equal 1, batch.size
      end
      assert_equal [[1, 1.0]], points(db, a)
    end
  end

  def test_a_failed_commit_keeps_gathered_points
    open_db do |db|
      a = db.create_metric("a")
      batch = db.batch
      batch.add(a, 1, 1.0).add(a + 1, 1, 1.0)
      assert_raises(TSDB::NotFound) { batch.commit }
      assert_equal 2, batch.size
      batch.add(a, 2, 2.0)
      assert_raises(TSDB::NotFound) { batch.commit }
      assert_equal 3, batch.size
      batch.clear
      batch.add(a, 3, 3.0).add_many(a, [4], [4.0])
      assert_equal 2, batch.commit
      assert_equal [[3, 3.0], [4, 4.0]], points(db, a)
      batch.close
      assert_raises(TSDB::Closed) { batch.add_many(a, [5], [5.0]) }
    end
  end
end
