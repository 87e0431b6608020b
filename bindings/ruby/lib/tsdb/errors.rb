# frozen_string_literal: true

module TSDB
  # Statuses that are not errors (include/tsdb.h, enum ts_status).
  OK = 0
  DONE = 1

  # Every failure reported by libtsdb (a ts_status other than TS_OK and TS_DONE) raises a
  # subclass of TSDB::Error: #status is the ts_status number and the message is ts_errmsg()
  # read right after the failing call, e.g. "ts_insert: no live metric with this id (id=77)".
  # A status this gem does not know (from a newer library) raises TSDB::Error itself.
  #
  # Wrong argument types raise TypeError, and integers outside their C type's range
  # RangeError, before anything reaches the library.
  class Error < StandardError
    STATUS = nil

    # The ts_status number (Integer).
    attr_reader :status

    def initialize(message = nil, status: self.class::STATUS)
      @status = status
      super(message || (status && Native.ts_status_str(status)) || "libtsdb error")
    end

    # The C name of #status, e.g. "TS_NOT_FOUND" ("TS_UNKNOWN_STATUS" for unknown numbers).
    def status_name
      status ? Native.ts_status_str(status) : "TS_UNKNOWN_STATUS"
    end
  end

  # TS_NOT_FOUND: no live metric with that id or name (in this snapshot, for reads), or a
  # missing database directory with create_if_missing: false.
  class NotFound < Error; STATUS = 2; end

  # TS_EXISTS: create_metric with the name of a live metric; #existing_id is that metric's id.
  class Exists < Error
    STATUS = 3
    attr_accessor :existing_id
  end

  # TS_INVALID_ARGUMENT: an empty batch, from > until, a bad name, option value or timestamp.
  class InvalidArgument < Error; STATUS = 4; end

  # TS_BUSY: conflicts with live handles (close with live snapshots or cursors, a second open
  # of the same directory).
  class Busy < Error; STATUS = 5; end

  # TS_IO_ERROR: a file operation failed; the message names the path and the operation.
  class IOError < Error; STATUS = 6; end

  # TS_CORRUPTION: stored data failed its checksum or structure checks (file and offset).
  class Corruption < Error; STATUS = 7; end

  # TS_CLOSED: a call on a database, snapshot, cursor or batch that was closed or released.
  class Closed < Error; STATUS = 8; end

  # TS_INTERNAL: a bug in libtsdb, or a database in a failed state; close and reopen it.
  class Internal < Error; STATUS = 9; end

  # Error class by status number; a new status in libtsdb needs one line here.
  STATUS_ERRORS = [NotFound, Exists, InvalidArgument, Busy, IOError, Corruption, Closed, Internal]
                  .to_h { |klass| [klass::STATUS, klass] }.freeze

  # The exception for `status` with `message`; unknown numbers give a plain TSDB::Error.
  def self.error_for(status, message)
    message = Native.ts_status_str(status) if message.nil? || message.empty?
    STATUS_ERRORS.fetch(status, Error).new(message, status: status)
  end

  # Return `status` if it is TS_OK or TS_DONE, else raise its error. Call it straight after
  # the C call: the message is this thread's ts_errmsg(), which the next failure replaces.
  def self.check(status)
    return status if status <= DONE

    raise error_for(status, Native.ts_errmsg)
  end

  # Like check, but returns the error (nil for TS_OK and TS_DONE) instead of raising it.
  def self.error_of(status)
    status <= DONE ? nil : error_for(status, Native.ts_errmsg)
  end
end
