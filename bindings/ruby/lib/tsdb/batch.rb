# frozen_string_literal: true

module TSDB
  # Points for any number of metrics, written atomically by #commit: a snapshot sees all of
  # them or none. Made by Database#batch; wraps a ts_batch. Ids are checked at commit (an
  # unknown one raises TSDB::NotFound and writes nothing). Within a metric a later point wins
  # over an earlier one with the same timestamp.
  #
  # #add gathers points in Ruby and hands them to the library in bulk (ts_batch_add_many, one
  # call per metric for every 4096 points added), so a batch does not cross into the library
  # once per point; #add_many adds whole arrays for one metric in one call.
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

    # #add gathers points in Ruby, per metric, and hands them to the ts_batch with one
    # ts_batch_add_many call per metric once this many are pending, and at #commit.
    PENDING_POINTS = 4096
    private_constant :PENDING_POINTS
    NO_POINTS = [].freeze
    private_constant :NO_POINTS
    # The Integers that are immediates on 64-bit Ruby, well inside int64 and uint64.
    FIXNUM_MAX = (2**62) - 1
    FIXNUM_MIN = -(2**62)
    private_constant :FIXNUM_MAX, :FIXNUM_MIN

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
      # Points not yet in the ts_batch: metric id => [timestamps, values]. @lock guards them
      # (and is taken before the handle's lock).
      @pending = {}
      @pending_size = 0
      @lock = Mutex.new
    end

    # Add the point (ts, value) for metric `id`. Returns self.
    def add(id, ts, value)
      # The common case checked inline (this is the per-point path: comparisons with Fixnum
      # bounds are the cheap ones); Convert checks the rest and explains failures.
      unless id.is_a?(Integer) && ts.is_a?(Integer) && value.is_a?(Float) &&
             id >= 0 && id <= FIXNUM_MAX && ts >= FIXNUM_MIN && ts <= FIXNUM_MAX
        id = Convert.metric_id(id)
        Convert.timestamp(ts)
        value = Convert.value(value)
      end
      @lock.lock
      begin
        raise Closed, "batch is closed" if @handle.closed?

        columns = @pending[id] || (@pending[id] = [[], []])
        columns[0] << ts
        columns[1] << value
        @size += 1
        flush if (@pending_size += 1) >= PENDING_POINTS
      ensure
        @lock.unlock
      end
      self
    end

    # Add the points (timestamps[i], values[i]) for metric `id`, in one call into the
    # library (ts_batch_add_many). Returns self. Raises ArgumentError if the arrays differ
    # in length; nothing is added then.
    def add_many(id, timestamps, values)
      id = Convert.metric_id(id)
      Convert.timestamps(timestamps)
      Convert.values(values)
      n = timestamps.size
      raise ArgumentError, "add_many: #{n} timestamps but #{values.size} values" if values.size != n
      return self if n.zero?

      # Copies, as Database#insert_batch explains; converted before the batch is touched, so
      # a bad element (TypeError, RangeError) adds nothing.
      ts_buf = FFI::MemoryPointer.new(:int64, n, false)
      value_buf = FFI::MemoryPointer.new(:double, n, false)
      ts_buf.put_array_of_int64(0, timestamps + NO_POINTS)
      value_buf.put_array_of_double(0, values + NO_POINTS)
      @lock.synchronize do
        flush # the points added before these go first: a later point wins
        @handle.exclusive do |batch|
          TSDB.check(Native.ts_batch_add_many(batch, id, ts_buf, value_buf, n))
          @size += n
        end
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
      @lock.synchronize do
        @handle.exclusive { |batch| TSDB.check(Native.ts_batch_clear(batch)) }
        @pending = {}
        @pending_size = 0
        @size = 0
      end
      self
    end

    # Write every point atomically and empty the batch, ready for reuse; returns how many
    # points were written. On failure nothing is written and the points are kept. An empty
    # batch raises TSDB::InvalidArgument (as ts_batch_commit does); the block form of
    # Database#batch skips the commit instead.
    def commit
      @lock.synchronize do
        flush
        @handle.exclusive do |batch|
          @db_handle.shared { |db| TSDB.check(Native.ts_batch_commit(db, batch)) }
        end
        n = @size
        @size = 0
        n
      end
    end

    # Free the batch (uncommitted points are discarded). Closing twice does nothing.
    def close
      @lock.synchronize do
        @handle.close
        @pending = {}
        @pending_size = 0
      end
      ObjectSpace.undefine_finalizer(self)
      nil
    end

    def closed?
      @handle.closed?
    end

    def inspect
      "#<#{self.class} #{size} points for #{@database.path}#{' (closed)' if closed?}>"
    end

    private

    # Hand the pending points to the ts_batch, one ts_batch_add_many per metric (under
    # @lock). At most PENDING_POINTS are pending, so one pair of buffers serves them all.
    def flush
      return if @pending_size.zero?

      @ts_buf ||= FFI::MemoryPointer.new(:int64, PENDING_POINTS, false)
      @value_buf ||= FFI::MemoryPointer.new(:double, PENDING_POINTS, false)
      @handle.exclusive do |batch|
        @pending.each do |id, (timestamps, values)|
          @ts_buf.put_array_of_int64(0, timestamps)
          @value_buf.put_array_of_double(0, values)
          TSDB.check(Native.ts_batch_add_many(batch, id, @ts_buf, @value_buf, timestamps.size))
        end
      end
      # Fresh arrays: put_array_of_* leaves the old ones costly for the garbage collector.
      @pending = {}
      @pending_size = 0
    end
  end
end
