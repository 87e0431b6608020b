# frozen_string_literal: true

module TSDB
  # Open the database in directory `path` (see Database.open).
  def self.open(path, **options, &block)
    Database.open(path, **options, &block)
  end

  # An open database (ts_db). Any number of threads may use one at once.
  #
  # Writes are atomic per call and visible to every snapshot begun after the call returns.
  # Prefer #insert_batch and #batch for more than a few points: each crosses into the library
  # once for the whole batch.
  class Database
    CLOSE = lambda do |ptr, finalizing|
      TSDB.error_of(finalizing ? Native.ts_close_holding_gvl(ptr) : Native.ts_close(ptr))
    end
    private_constant :CLOSE
    NO_POINTS = [].freeze
    private_constant :NO_POINTS
    RETENTION_SPANS = { default: 0, forever: -1 }.freeze
    private_constant :RETENTION_SPANS

    # Open (creating it unless create_if_missing: false) the database in directory `path`;
    # the options are listed in TSDB::Options. With a block, yield the database, close it
    # when the block ends and return the block's value; without one, return it (close it
    # with #close, or it is closed when garbage collected).
    #
    # Raises TSDB::Busy if the database is open already (in this process or another),
    # TSDB::NotFound if it is missing and create_if_missing is false, TSDB::InvalidArgument
    # for bad option values, TSDB::IOError and TSDB::Corruption for damaged files.
    def self.open(path, **options)
      db = new(path, **options)
      return db unless block_given?

      begin
        result = yield db
      rescue Exception # rubocop:disable Lint/RescueException -- close, then re-raise as is
        db.__send__(:close_after_error)
        raise
      end
      db.close
      result
    end

    attr_reader :path

    def initialize(path, **options)
      c_path = Convert.c_string(path, "path")
      out = FFI::MemoryPointer.new(:pointer)
      Options.with_options(options) do |opts|
        # No Thread#raise between ts_open and the finalizer that closes what it returned.
        Thread.handle_interrupt(Object => :never) do
          TSDB.check(Native.ts_open(c_path, opts, out))
          @handle = Handle.new(out.read_pointer, "database #{c_path} is closed", CLOSE)
          ObjectSpace.define_finalizer(self, @handle.finalizer)
        end
      end
      @path = c_path.dup.freeze
      # An fsync per write: release the GVL during single inserts too.
      @sync_always = options[:sync] == :always
    end

    # Close the database: stop background work, write a final checkpoint, remove the log.
    # Raises TSDB::Busy, leaving it open and usable, while snapshots or cursors of it are alive
    # (release them first; forgotten ones are freed when garbage collected). Closing a closed
    # database does nothing. Raises TSDB::IOError if the final checkpoint failed (the database
    # is closed anyway and nothing is lost: the next open replays the log).
    def close
      error = @handle.close
      ObjectSpace.undefine_finalizer(self) if @handle.closed?
      raise error if error

      nil
    end

    def closed?
      @handle.closed?
    end

    # Create a metric called `name` (1..1024 bytes of UTF-8) and return its id, an Integer
    # that is never reused. If a live metric has this name, raise TSDB::Exists (whose
    # #existing_id is that metric's id), or with exist_ok: true return its id.
    def create_metric(name, exist_ok: false)
      c_name = Convert.name(name)
      out = FFI::MemoryPointer.new(:uint64)
      @handle.exclusive do |db|
        rc = Native.ts_metric_create(db, c_name, out)
        if rc == Exists::STATUS
          return out.read_uint64 if exist_ok

          error = TSDB.error_of(rc)
          error.existing_id = out.read_uint64
          raise error
        end
        TSDB.check(rc)
      end
      out.read_uint64
    end

    # Drop metric `id`: it disappears from new snapshots (older ones still read it) and its
    # name may be reused. Raises TSDB::NotFound if no live metric has this id.
    def drop_metric(id)
      id = Convert.metric_id(id)
      @handle.exclusive { |db| TSDB.check(Native.ts_metric_drop(db, id)) }
      nil
    end

    # Insert the point (ts, value) into metric `id`. Timestamps are Integers in any unit and
    # order; a second write of the same timestamp replaces the first. Returns self.
    def insert(id, ts, value)
      # The common case checked inline (this is the per-point path); Convert explains failures.
      unless id.is_a?(Integer) && ts.is_a?(Integer) && value.is_a?(Float) && id >= 0
        id = Convert.metric_id(id)
        Convert.timestamp(ts)
        value = Convert.value(value)
      end
      if @sync_always
        @handle.shared { |db| TSDB.check(Native.ts_insert_blocking(db, id, ts, value)) }
      else
        @handle.exclusive { |db| TSDB.check(Native.ts_insert(db, id, ts, value)) }
      end
      self
    end

    # Insert the points (timestamps[i], values[i]) into metric `id` atomically (a snapshot
    # sees all or none) in one call into the library: the fast path. Within the batch a later
    # point wins over an earlier one with the same timestamp. Returns the number of points.
    # An empty batch raises TSDB::InvalidArgument, as does a length mismatch.
    def insert_batch(id, timestamps, values)
      id = Convert.metric_id(id)
      Convert.timestamps(timestamps)
      Convert.values(values)
      n = timestamps.size
      if values.size != n
        raise InvalidArgument, "insert_batch: #{n} timestamps but #{values.size} values"
      end

      ts_buf = FFI::MemoryPointer.new(:int64, [n, 1].max, false)
      value_buf = FFI::MemoryPointer.new(:double, [n, 1].max, false)
      # Copies go to put_array_of_*: it reads arrays through RARRAY_PTR, which leaves them
      # write-barrier unprotected, and every later minor GC would rescan the caller's arrays
      # for as long as they live (a 10x slowdown of allocation-heavy code in the process, seen
      # with 10M points kept around). The copies die young; copying costs ~10 ns a point.
      ts_buf.put_array_of_int64(0, timestamps + NO_POINTS)
      value_buf.put_array_of_double(0, values + NO_POINTS)
      @handle.shared { |db| TSDB.check(Native.ts_insert_batch(db, id, ts_buf, value_buf, n)) }
      n
    end

    # Delete metric `id`'s points with from <= ts < to, atomically and durably. The range may
    # be given as a Range instead: delete_range(id, 0...1000), delete_range(id, ..999); both
    # bounds are required (nil is the lowest or highest timestamp), so that no call deletes
    # everything by accident. Snapshots begun before the delete still read the points (their
    # space returns when the last of them is released); points written after it returns are
    # kept whatever their timestamps. Returns nil. Raises TSDB::NotFound if no live metric
    # has this id, TSDB::InvalidArgument if from > to.
    def delete_range(id, from, to = (to_omitted = true))
      id = Convert.metric_id(id)
      if to_omitted
        raise ArgumentError, "delete_range(id, from, to) or delete_range(id, range)" unless from.is_a?(Range)

        to = nil
      end
      from, to = Convert.bounds(from, to)
      @handle.shared { |db| TSDB.check(Native.ts_delete_range(db, id, from, to)) }
      nil
    end

    # Keep metric `id`'s points for `span` timestamp units, whatever the database's default
    # (the retention: option): its sealed partitions whose points are all older than its
    # newest sealed timestamp minus `span` are dropped by background work (or by
    # #enforce_retention), like a #delete_range. `span` is an Integer > 0, :default (or 0)
    # to follow the database's default again, or :forever (or a negative Integer) to keep
    # everything. Durable like a write. Returns nil. Raises TSDB::NotFound if no live metric
    # has this id.
    def set_retention(id, span)
      id = Convert.metric_id(id)
      span = RETENTION_SPANS.fetch(span) do
        raise ArgumentError, "span must be an Integer, :default or :forever, not #{span.inspect}" if span.is_a?(Symbol)

        Convert.int64(span, "span")
      end
      @handle.shared { |db| TSDB.check(Native.ts_metric_set_retention(db, id, span)) }
      nil
    end

    # Apply retention now to every metric instead of waiting for the background work (which
    # checks a metric when it seals a partition, and every metric at open). Returns how many
    # partitions this call dropped (those the background work dropped already are not
    # counted). Snapshots begun before still read the dropped points.
    def enforce_retention
      out = FFI::MemoryPointer.new(:uint64)
      @handle.shared { |db| TSDB.check(Native.ts_enforce_retention(db, out)) }
      out.read_uint64
    end

    # Figures about the database, a frozen TSDB::Stats: metrics, points, partitions,
    # disk_bytes, wal_bytes, live_snapshots, oldest_snapshot_age_ms, old_snapshot_bytes.
    # Walks the current state (O(metrics + partitions)); writers and readers go on meanwhile.
    def stats
      out = Stats.buffer
      @handle.shared { |db| TSDB.check(Native.ts_db_stats(db, out)) }
      Stats.read(out)
    end

    # Verify every checksum and structural invariant of what the database stores, decoding
    # every point (a full scan); writers and readers go on meanwhile. Returns a frozen
    # TSDB::CheckReport of what was checked and found healthy; raises TSDB::Corruption when
    # damage was found (the message gives the number of problems and the first one, naming
    # the file and offset).
    def check
      out = CheckReport.buffer
      @handle.shared { |db| TSDB.check(Native.ts_check(db, out)) }
      CheckReport.read(out)
    end

    # A batch of points for any number of metrics, written atomically by its commit. With a
    # block, yield the batch, commit it when the block ends (not if it raises) and free it,
    # returning the number of points written; without one, return it (see Batch).
    def batch
      batch = Batch.new(self, @handle)
      return batch unless block_given?

      begin
        yield batch
        batch.empty? ? 0 : batch.commit
      ensure
        batch.close
      end
    end

    # Write a checkpoint now: move every acknowledged write into the data files, so the next
    # open replays less log (e.g. after a bulk load).
    def checkpoint
      @handle.shared { |db| TSDB.check(Native.ts_checkpoint(db)) }
      nil
    end

    # Begin a snapshot: a consistent read-only view at this instant, which writers never
    # change. With a block, yield it and, when the block ends, close the cursors opened
    # through it and release it, returning the block's value; without one, return it
    # (release it with Snapshot#release). Avoid long-lived snapshots: they keep everything
    # they can see alive, in memory and on disk, and #close raises TSDB::Busy while they live.
    def snapshot
      snap = Snapshot.new(self, @handle, scoped: block_given?)
      return snap unless block_given?

      begin
        yield snap
      ensure
        snap.__send__(:end_scope)
      end
    end

    def inspect
      "#<#{self.class} #{@path}#{' (closed)' if closed?}>"
    end

    private

    # The block of Database.open raised: close if possible, but let nothing hide the
    # block's exception (a snapshot left alive is closed by the finalizers instead).
    def close_after_error
      close
    rescue Error
      nil
    end
  end
end
