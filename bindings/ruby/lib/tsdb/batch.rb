# frozen_string_literal: true

module TSDB
  # Points for any number of metrics, written atomically by #commit: a snapshot sees all of
  # them or none. Made by Database#batch; wraps a ts_batch. Ids are checked at commit (an
  # unknown one raises TSDB::NotFound and writes nothing). Within a metric a later point wins
  # over an earlier one with the same timestamp.
  #
  # The block form of Database#batch frees the batch when the block ends; otherwise #close
  # frees it, or it is freed when garbage collected. Use a batch from one thread at a time
  # (concurrent calls are serialized, not a crash).
  class Batch
    FREE = lambda do |ptr, _finalizing|
      Native.ts_batch_free(ptr)
      nil
    end
    private_constant :FREE

    # The Database the batch commits to.
    attr_reader :database

    # Use Database#batch.
    def initialize(database, db_handle)
      @database = database
      @db_handle = db_handle
      Thread.handle_interrupt(Object => :never) do
        ptr = Native.ts_batch_new
        raise NoMemoryError, "ts_batch_new failed" if ptr.null?

        @handle = Handle.new(ptr, "batch is closed", FREE)
        ObjectSpace.define_finalizer(self, @handle.finalizer)
      end
      @size = 0
    end

    # Add the point (ts, value) for metric `id`. Returns self.
    def add(id, ts, value)
      # The common case checked inline (this is the per-point path); Convert explains failures.
      unless id.is_a?(Integer) && ts.is_a?(Integer) && value.is_a?(Float) && id >= 0
        id = Convert.metric_id(id)
        Convert.timestamp(ts)
        value = Convert.value(value)
      end
      @handle.exclusive do |batch|
        TSDB.check(Native.ts_batch_add(batch, id, ts, value))
        @size += 1
      end
      self
    end

    # The number of points added since the last commit or clear.
    attr_reader :size
    alias length size

    def empty?
      @size.zero?
    end

    # Remove every point. Returns self.
    def clear
      @handle.exclusive do |batch|
        TSDB.check(Native.ts_batch_clear(batch))
        @size = 0
      end
      self
    end

    # Write every point atomically and empty the batch, ready for reuse; returns how many
    # points were written. On failure nothing is written and the points are kept. An empty
    # batch raises TSDB::InvalidArgument (as ts_batch_commit does); the block form of
    # Database#batch skips the commit instead.
    def commit
      @handle.exclusive do |batch|
        @db_handle.shared { |db| TSDB.check(Native.ts_batch_commit(db, batch)) }
        n = @size
        @size = 0
        n
      end
    end

    # Free the batch (uncommitted points are discarded). Closing twice does nothing.
    def close
      @handle.close
      ObjectSpace.undefine_finalizer(self)
      nil
    end

    def closed?
      @handle.closed?
    end

    def inspect
      "#<#{self.class} #{size} points for #{@database.path}#{' (closed)' if closed?}>"
    end
  end
end
