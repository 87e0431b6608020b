# frozen_string_literal: true

module TSDB
  # The non-empty buckets of one metric's points in [from, to) as of a snapshot, ascending:
  # TSDB::Bucket structs for [from + k * bucket, from + (k + 1) * bucket), the last one
  # clipped to `to`. Made by Snapshot#aggregate. It is Enumerable (map, select, to_a,
  # first(n)...) and may be iterated any number of times, by any number of threads: the
  # snapshot gives the same answer every time.
  #
  # Buckets are fetched `batch_size` at a time (one call into the library per batch,
  # continuing after the last bucket of the previous one), so a long range in small buckets
  # never sits in memory whole. The first batch is fetched when the aggregation is made:
  # unknown metrics and bad arguments raise there. It reads through its snapshot: iterating
  # after the snapshot was released raises TSDB::Closed.
  class Aggregation
    include Enumerable

    # Buckets per call into the library (72 bytes each).
    DEFAULT_BATCH = 1024

    # The Snapshot read, the metric id, the range [from, to) and the bucket width.
    attr_reader :snapshot, :metric_id, :from, :to, :bucket

    # Use Snapshot#aggregate.
    def initialize(snapshot, txn_handle, id, from, to, bucket, batch_size)
      @snapshot = snapshot
      @txn_handle = txn_handle
      @metric_id = id
      @from = from
      @to = to
      @bucket = bucket
      # No bigger buffer than the range has buckets (a short range needs no 72 KiB).
      buckets = bucket.positive? ? (to - from + bucket - 1) / bucket : batch_size
      @batch_size = [batch_size, buckets].min.clamp(1, batch_size)
      @first_batch = fetch(from).freeze
    end

    # Yield each bucket (a frozen TSDB::Bucket), ascending. Returns self; an Enumerator
    # without a block. Raises TSDB::Closed once the snapshot is released.
    def each(&block)
      return enum_for(:each) unless block

      raise Closed, "snapshot is released" if @snapshot.released?

      batch = @first_batch
      loop do
        batch.each(&block)
        break if batch.size < @batch_size

        # The library's continuation rule: the next call starts a bucket after the last.
        from = batch.last.start + @bucket
        break if from >= @to # also when it would pass INT64_MAX

        batch = fetch(from)
      end
      self
    end

    def inspect
      "#<#{self.class} metric_id=#{@metric_id} [#{@from}, #{@to}) bucket=#{@bucket}>"
    end

    private

    def fetch(from)
      out = Bucket.buffer(@batch_size)
      n_out = FFI::MemoryPointer.new(:size_t)
      @txn_handle.shared do |txn|
        TSDB.check(Native.ts_aggregate(txn, @metric_id, from, @to, @bucket, out, @batch_size, n_out))
      end
      Bucket.read_array(out, n_out.read(:size_t))
    end
  end
end
