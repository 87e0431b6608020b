# frozen_string_literal: true

module TSDB
  # A snapshot (ts_txn): a consistent, read-only view of the whole database at one instant.
  # It sees every write whose call returned before it began and nothing after; repeated
  # scans return identical results while writers, seals and drops run. A dropped metric stays
  # readable in snapshots older than the drop. Any number of threads may read through one.
  #
  # Made by Database#snapshot. Release it promptly (#release, or the block form): a live
  # snapshot keeps everything it can see alive, and Database#close raises TSDB::Busy while it
  # lives. A forgotten one is released when garbage collected.
  class Snapshot
    RELEASE = lambda do |ptr, _finalizing|
      Native.ts_txn_release(ptr)
      nil
    end
    private_constant :RELEASE

    # Cursors read DEFAULT_BATCH points per call into the library; at least partition_points
    # (4096 by default) lets whole sealed partitions decode straight into the buffers.
    DEFAULT_BATCH = 4096

    # The Database this snapshot reads (kept alive by it).
    attr_reader :database

    # Use Database#snapshot.
    def initialize(database, db_handle, scoped: false)
      @database = database
      @db_handle = db_handle
      out = FFI::MemoryPointer.new(:pointer)
      Thread.handle_interrupt(Object => :never) do
        db_handle.exclusive { |db| TSDB.check(Native.ts_txn_begin(db, out)) }
        @handle = Handle.new(out.read_pointer, "snapshot is released", RELEASE, db_handle)
        ObjectSpace.define_finalizer(self, @handle.finalizer)
      end
      # The block form closes the cursors (and metric listings) opened in it.
      @cursors = scoped ? [] : nil
    end

    # The id of the metric called `name` in this snapshot. Raises TSDB::NotFound if there is
    # none (e.g. it was created after the snapshot began).
    def lookup(name)
      c_name = Convert.name(name)
      out = FFI::MemoryPointer.new(:uint64)
      @handle.exclusive { |txn| TSDB.check(Native.ts_metric_lookup(txn, c_name, out)) }
      out.read_uint64
    end

    # The number of live metrics in this snapshot.
    def metric_count
      out = FFI::MemoryPointer.new(:uint64)
      @handle.exclusive { |txn| TSDB.check(Native.ts_txn_metric_count(txn, out)) }
      out.read_uint64
    end

    # A Cursor over the points of `metric` (an id, or a name looked up in this snapshot) with
    # from <= ts < to, in ascending timestamp order. `from` may instead be a Range of
    # timestamps (10...20, 10..19, 10.., ..19); the defaults cover every timestamp.
    # With a block, yield the cursor, close it when the block ends and return the block's
    # value. Raises TSDB::NotFound if the metric is not in this snapshot and
    # TSDB::InvalidArgument if from > to.
    def scan(metric, from = nil, to = nil, batch_size: DEFAULT_BATCH)
      id = metric_id(metric)
      from, to = Convert.bounds(from, to)
      batch_size = check_batch_size(batch_size)

      cursor = Cursor.new(self, @handle, @db_handle, id, from, to, batch_size)
      track(cursor)
      return cursor unless block_given?

      begin
        yield cursor
      ensure
        cursor.close
      end
    end

    # The non-empty buckets of the points of `metric` (an id, or a name looked up in this
    # snapshot) with from <= ts < to, in buckets of `bucket` timestamp units starting at
    # `from`: an Aggregation, Enumerable over frozen TSDB::Bucket structs (start, count, min,
    # max, sum, first, last, first_ts, last_ts), ascending. The range may be given as a Range
    # instead: aggregate(metric, 0...3600, 60). With a block, yield each bucket and return
    # the Aggregation.
    #
    # Sealed blocks lying wholly inside a bucket are answered from their stored summaries,
    # without decoding their points. NaN values are counted, and left out of min, max and
    # sum (NaN when every value of a bucket is). Buckets are fetched `batch_size` at a time.
    # Raises TSDB::NotFound if the metric is not in this snapshot, TSDB::InvalidArgument if
    # from > to or bucket <= 0.
    def aggregate(metric, *range_and_bucket, batch_size: Aggregation::DEFAULT_BATCH, &block)
      case range_and_bucket.size
      when 3 then from, to, bucket = range_and_bucket
      when 2
        from, bucket = range_and_bucket
        raise TypeError, "aggregate(metric, range, bucket) takes a Range, not #{from.class}" unless from.is_a?(Range)
      else
        raise ArgumentError, "wrong number of arguments (given #{range_and_bucket.size + 1}, expected 3..4)"
      end
      from, to = Convert.bounds(from, to)
      bucket = Convert.int64(bucket, "bucket")
      batch_size = check_batch_size(batch_size)
      id = metric_id(metric)
      aggregation = Aggregation.new(self, @handle, id, from, to, bucket, batch_size)
      block ? aggregation.each(&block) : aggregation
    end

    # The metrics of this snapshot whose name starts with `prefix` (every metric when nil or
    # ""), ascending id: a MetricList, Enumerable over [id, name] pairs, read `batch_size` at
    # a time. With a block, yield each pair and return the MetricList.
    #
    #   txn.metrics.to_h                     # => { 1 => "cpu.user", 2 => "cpu.system", ... }
    #   txn.metrics(prefix: "cpu.").count
    #
    # Raises TSDB::Closed once the snapshot is released.
    def metrics(prefix: nil, batch_size: MetricList::DEFAULT_BATCH, &block)
      prefix = prefix.nil? ? "" : Convert.c_string(prefix, "prefix")
      batch_size = check_batch_size(batch_size)
      raise Closed, "snapshot is released" if released?

      list = MetricList.new(self, prefix.frozen? ? prefix : prefix.dup.freeze, batch_size)
      block ? list.each(&block) : list
    end

    # Release the snapshot (its cursors keep working: each holds the snapshot it reads).
    # Releasing a released snapshot does nothing.
    def release
      @handle.close
      ObjectSpace.undefine_finalizer(self)
      nil
    end

    def released?
      @handle.closed?
    end

    def inspect
      "#<#{self.class} of #{@database.path}#{' (released)' if released?}>"
    end

    private

    def metric_id(metric)
      metric.is_a?(Integer) ? Convert.metric_id(metric) : lookup(metric)
    end

    def check_batch_size(batch_size)
      batch_size = Convert.uint(batch_size, 1 << 24, "batch_size")
      raise RangeError, "batch_size must be at least 1" if batch_size.zero?

      batch_size
    end

    # A native listing for MetricList#each, closed at the end of this snapshot's block.
    def open_listing(prefix)
      listing = MetricList::Listing.new(@handle, @db_handle, prefix)
      track(listing)
      listing
    end

    def track(cursor)
      return unless @cursors

      # Forget closed cursors now and then, so a long block does not hold them all.
      @cursors.reject!(&:closed?) if @cursors.size >= 64 && (@cursors.size & (@cursors.size - 1)).zero?
      @cursors << cursor
    end

    # End of Database#snapshot's block.
    def end_scope
      @cursors&.each(&:close)
      @cursors = nil
      release
    end
  end
end
