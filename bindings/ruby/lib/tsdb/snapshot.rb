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
      # The block form closes the cursors opened in it.
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
      id = metric.is_a?(Integer) ? Convert.metric_id(metric) : lookup(metric)
      from, to = bounds(from, to)
      batch_size = Convert.uint(batch_size, 1 << 24, "batch_size")
      raise RangeError, "batch_size must be at least 1" if batch_size.zero?

      cursor = Cursor.new(self, @handle, @db_handle, id, from, to, batch_size)
      track(cursor)
      return cursor unless block_given?

      begin
        yield cursor
      ensure
        cursor.close
      end
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

    def bounds(from, to)
      if from.is_a?(Range)
        raise ArgumentError, "give a Range or from and to, not both" unless to.nil?

        range = from
        from = range.begin
        to = range.end
        # An inclusive end: points stop at MAX_TIMESTAMP, so INT64_MAX is as good as + 1.
        to = [Convert.timestamp(to, "range end") + 1, Convert::INT64_MAX].min if to && !range.exclude_end?
      end
      from = from.nil? ? Convert::INT64_MIN : Convert.timestamp(from, "from")
      to = to.nil? ? Convert::INT64_MAX : Convert.timestamp(to, "to")
      [from, to]
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
