# frozen_string_literal: true

module TSDB
  # An ascending iterator (ts_cursor) over one metric's points in [from, to) as of a
  # snapshot, made by Snapshot#scan. It is Enumerable: #each yields [timestamp, value], so
  # map, select, first(n), to_a... all work. Points are fetched internally in batches of
  # `batch_size` (one call into the library per batch).
  #
  # A cursor is a stream, like an IO: iteration continues where the previous one stopped
  # (`first(3)` then `each` yields from the fourth point on). Once exhausted, it frees its
  # native handle at once and further iteration yields nothing. #close frees it early;
  # iterating a closed cursor raises TSDB::Closed. A forgotten one is freed when garbage
  # collected. A cursor keeps its Snapshot alive, so releasing the snapshot first is fine.
  #
  # Use it from one thread at a time (concurrent calls are serialized, not a crash).
  class Cursor
    include Enumerable

    FREE = lambda do |ptr, _finalizing|
      Native.ts_cursor_free(ptr)
      nil
    end
    private_constant :FREE
    EMPTY = [].freeze
    private_constant :EMPTY

    # The Snapshot this cursor reads, the metric id and the bounds [from, to).
    attr_reader :snapshot, :metric_id, :from, :to

    # Use Snapshot#scan.
    def initialize(snapshot, txn_handle, db_handle, id, from, to, batch_size)
      @snapshot = snapshot
      @metric_id = id
      @from = from
      @to = to
      # No bigger buffers than the range can fill (a short scan needs no 64 KiB).
      @batch_size = [batch_size, to - from].min.clamp(1, batch_size)
      out = FFI::MemoryPointer.new(:pointer)
      Thread.handle_interrupt(Object => :never) do
        txn_handle.exclusive { |txn| TSDB.check(Native.ts_scan_range(txn, id, from, to, out)) }
        @handle = Handle.new(out.read_pointer, "cursor is closed", FREE, db_handle)
        ObjectSpace.define_finalizer(self, @handle.finalizer)
      end
      @exhausted = false
      @ts = EMPTY # the current batch, and the position in it of the next point
      @values = EMPTY
      @pos = 0
    end

    # Yield each remaining point as [timestamp, value]. Returns self; an Enumerator without a
    # block. Raises TSDB::Closed on a closed cursor, TSDB::Corruption if a block on disk fails
    # its checksum.
    def each
      return enum_for(:each) unless block_given?

      check_open
      loop do
        ts = @ts
        values = @values
        # The block may close the cursor or read from it itself: follow @ts and @pos.
        while ts.equal?(@ts) && (i = @pos) < ts.size
          @pos = i + 1
          yield [ts[i], values[i]]
        end
        next unless ts.equal?(@ts) # the block closed the cursor or moved it on: follow

        break unless fill
      end
      self
    end

    # Yield the remaining points a batch at a time, as two Arrays (timestamps, values) of
    # equal length: the fastest way through many points. Returns self.
    def each_batch
      return enum_for(:each_batch) unless block_given?

      check_open
      loop do
        if @pos < @ts.size
          ts = @ts[@pos..]
          values = @values[@pos..]
          @pos = @ts.size
          yield ts, values
        end
        break unless fill
      end
      self
    end

    # Free the cursor now. Closing a closed or exhausted cursor does nothing.
    def close
      @ts = @values = EMPTY
      @pos = 0
      @handle.close
      ObjectSpace.undefine_finalizer(self)
      nil
    end

    # True once closed or exhausted (its native handle is freed either way).
    def closed?
      @handle.closed?
    end

    # True once every point has been read.
    def exhausted?
      @exhausted
    end

    def inspect
      state = if @exhausted then " (exhausted)" elsif closed? then " (closed)" else "" end
      "#<#{self.class} metric_id=#{@metric_id} [#{@from}, #{@to})#{state}>"
    end

    private

    def check_open
      raise Closed, "cursor is closed" if closed? && !@exhausted
    end

    # Read the next batch into @ts/@values. False at the end (then the handle is freed) or
    # when the cursor was closed.
    def fill
      return false if closed?

      @ts_buf ||= FFI::MemoryPointer.new(:int64, @batch_size, false)
      @value_buf ||= FFI::MemoryPointer.new(:double, @batch_size, false)
      @n_buf ||= FFI::MemoryPointer.new(:size_t)
      got = @handle.exclusive do |cursor|
        rc = TSDB.check(Native.ts_cursor_next_batch(cursor, @ts_buf, @value_buf, @batch_size, @n_buf))
        next false if rc == DONE

        n = @n_buf.read(:size_t)
        @ts = @ts_buf.get_array_of_int64(0, n)
        @values = @value_buf.get_array_of_double(0, n)
        @pos = 0
        true
      end
      return true if got

      @exhausted = true
      close
      false
    rescue Closed
      false # closed by another thread meanwhile
    end
  end
end
