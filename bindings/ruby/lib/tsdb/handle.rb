# frozen_string_literal: true

module TSDB
  # Internal: one C handle (ts_db, ts_txn, ts_cursor, ts_batch or ts_metric_list) and the
  # rules for using and freeing it from many Ruby threads, explicitly and from a finalizer.
  #
  # - #exclusive yields the pointer with the handle's lock held: for calls that keep the GVL
  #   (short ones, which run one at a time anyway) and for handles C allows on one thread at
  #   a time (ts_cursor). No other thread can use or free the handle meanwhile.
  # - #shared yields it for calls that release the GVL on a handle C lets many threads use
  #   (ts_db): the lock is held only to count users in and out, so they run in parallel.
  # - #close makes new #shared calls wait, waits until none is in flight, then runs the
  #   destroyer once. A destroyer returning TSDB::Busy (ts_close with live snapshots) leaves
  #   the handle open, and the waiting calls proceed; otherwise they raise TSDB::Closed.
  # - A Ruby object owning a Handle registers #finalizer for itself. The proc holds the
  #   Handle, never its owner, so the owner can be collected. When a ts_db's owner is
  #   collected while C snapshots or cursors of it still live (objects that die in the same
  #   collection are finalized in any order), its ts_close returns TS_BUSY: the handle is
  #   then marked orphaned, and each child freed later retries the close, so the last one
  #   closes the database.
  #
  # Finalizers take no lock: Ruby forbids Mutex#lock in them ("can't be called from trap
  # context"), and they need none. Ruby runs finalizers one at a time; a handle's finalizer
  # runs only once no code can reach its owner, so no other call on the handle is in flight;
  # and a ts_db is orphaned only when its owner, and so every owner of its children (which
  # hold the database), is unreachable, so only finalizers ever see an orphaned handle.
  # Destroyers called from a finalizer keep the GVL (no other Ruby code runs meanwhile).
  class Handle
    attr_reader :parent

    # `destroy` takes the pointer and whether it is called from a finalizer, and returns nil,
    # or the TSDB::Error it failed with.
    # `parent` is the handle of the ts_db that must outlive this one, if any.
    def initialize(ptr, closed_message, destroy, parent = nil)
      raise ArgumentError, "NULL handle" if ptr.nil? || ptr.null?

      @ptr = ptr
      @closed_message = closed_message
      @destroy = destroy
      @parent = parent
      @lock = Mutex.new
      @idle = ConditionVariable.new
      @users = 0
      @closing = false
      @orphaned = false
    end

    def closed?
      @ptr.nil?
    end

    # (No wait for a #close in progress: holding the lock, the call cannot overlap the
    # destroyer, which runs under it too.)
    def exclusive
      @lock.synchronize { yield(@ptr || raise(Closed, @closed_message)) }
    end

    def shared
      ptr = @lock.synchronize do
        @idle.wait(@lock) while @closing
        raise Closed, @closed_message unless @ptr

        @users += 1
        @ptr
      end
      begin
        yield ptr
      ensure
        @lock.synchronize do
          @users -= 1
          @idle.broadcast if @users.zero?
        end
      end
    end

    # Destroy the handle now, unless it is closed already. Returns the destroyer's error or nil.
    def close
      error = @lock.synchronize do
        @idle.wait(@lock) while @closing
        return nil unless @ptr

        # New calls wait until this close is decided (they may proceed if it fails Busy).
        @closing = true
        begin
          @idle.wait(@lock) while @users.positive?
          destroy_locked
        ensure
          @closing = false
          @idle.broadcast
        end
      end
      @parent&.child_gone
      error
    end

    # A proc for ObjectSpace.define_finalizer that frees this handle.
    def finalizer
      handle = self
      proc { |_object_id| handle.collect }
    end

    # Finalizer path: free the handle if it is still open (see the class comment).
    def collect
      return unless @ptr

      error = @destroy.call(@ptr, true)
      @orphaned = error.is_a?(Busy)
      return if @orphaned

      @ptr = nil
      warn "tsdb: freeing a forgotten handle: #{error.message}" if error
      @parent&.child_gone
    rescue StandardError => e
      warn "tsdb: finalizer failed: #{e.class}: #{e.message}"
    end

    # A child handle was freed: an orphaned database may close now.
    def child_gone
      collect if @orphaned
    end

    private

    def destroy_locked
      error = @destroy.call(@ptr, false)
      @ptr = nil unless error.is_a?(Busy)
      error
    end
  end
end
