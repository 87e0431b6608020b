# frozen_string_literal: true

module TSDB
  # Points for any number of metrics, written atomically by #commit: a snapshot sees all of
  # them or none. Made by Database#batch. Points are buffered in Ruby and handed to one
  # ts_batch at commit; ids are checked then (an unknown one raises TSDB::NotFound and writes
  # nothing). Within a metric a later point wins over an earlier one with the same timestamp.
  #
  # Use it from one thread at a time (concurrent calls are serialized, not a crash).
  class Batch
    # The Database the batch commits to.
    attr_reader :database

    # Use Database#batch.
    def initialize(database)
      @database = database
      @lock = Mutex.new
      @ids = []
      @ts = []
      @values = []
    end

    # Add the point (ts, value) for metric `id`. Returns self.
    def add(id, ts, value)
      id = Convert.metric_id(id)
      Convert.timestamp(ts)
      value = Convert.value(value)
      @lock.synchronize do
        @ids << id
        @ts << ts
        @values << value
      end
      self
    end

    # The number of points added since the last commit or clear.
    def size
      @ids.size
    end
    alias length size

    def empty?
      @ids.empty?
    end

    # Remove every point. Returns self.
    def clear
      @lock.synchronize { clear_locked }
      self
    end

    # Write every point atomically and empty the batch, ready for reuse; returns how many
    # points were written. On failure nothing is written and the points are kept. An empty
    # batch raises TSDB::InvalidArgument (as ts_batch_commit does); the block form of
    # Database#batch skips the commit instead.
    def commit
      @lock.synchronize do
        n = @ids.size
        @database.__send__(:commit_points, @ids, @ts, @values)
        clear_locked
        n
      end
    end

    def inspect
      "#<#{self.class} #{size} points for #{@database.path}>"
    end

    private

    def clear_locked
      @ids = []
      @ts = []
      @values = []
    end
  end
end
