# frozen_string_literal: true

module TSDB
  # Internal: the C structs of tsdb.h that the library fills in (ts_agg, ts_stats,
  # ts_check_report), read as frozen Ruby Structs. Each has only 64-bit fields, so its C
  # layout is its fields in order, no padding: one String#unpack directive per field, in
  # NATIVE (test/test_binding.rb checks them against the header).
  module CStruct
    # int64_t, uint64_t and double in native byte order.
    DIRECTIVES = { int64: "q", uint64: "Q", double: "d" }.freeze

    # A Struct class with `fields` ({ name => :int64 | :uint64 | :double }, in C order).
    def self.define(fields, &block)
      klass = Struct.new(*fields.keys, &block)
      klass.const_set(:NATIVE, fields.freeze)
      klass.const_set(:UNPACK, fields.values.map { |t| DIRECTIVES.fetch(t) }.join.freeze)
      klass.const_set(:SIZE, fields.size * 8)
      klass.extend(ClassMethods)
      klass
    end

    # Read from native memory.
    module ClassMethods
      # Room for `n` of them, for the library to fill.
      def buffer(n = 1)
        FFI::MemoryPointer.new(self::SIZE, n, false)
      end

      # The first `n` structs at `ptr`, frozen.
      def read_array(ptr, n)
        return [] if n.zero?

        ptr.get_bytes(0, n * self::SIZE).unpack(self::UNPACK * n).each_slice(self::NATIVE.size).map do |fields|
          new(*fields).freeze
        end
      end

      def read(ptr)
        read_array(ptr, 1).first
      end
    end
  end

  # One bucket of Snapshot#aggregate (ts_agg): the points of a metric with
  # start <= ts < start + bucket (the last bucket clipped to the range's end).
  #
  # - start:     the bucket's start, from + k * bucket
  # - count:     points in the bucket (at least 1: empty buckets are not reported), NaNs included
  # - min, max, sum: over the values that are not NaN; NaN when every value is NaN
  # - first, last: the values at first_ts and last_ts, NaN or not
  # - first_ts, last_ts: the timestamps of the bucket's first and last points
  #
  # Infinities take part as IEEE arithmetic says (+inf + -inf is NaN). sum adds per-block
  # sums, so its last bits may differ from a point-by-point sum in timestamp order.
  Bucket = CStruct.define(
    start: :int64, count: :uint64, min: :double, max: :double, sum: :double,
    first: :double, last: :double, first_ts: :int64, last_ts: :int64
  )

  # What Database#stats reports (ts_stats), all Integers:
  #
  # - metrics:                live metrics
  # - points:                 points stored (a head point that overwrites another counts
  #                           twice until its partition is sealed)
  # - partitions:             sealed partitions
  # - disk_bytes:             bytes the database's files take on disk, as du counts them
  # - wal_bytes:              write-ahead log written since the last checkpoint began
  # - live_snapshots:         snapshots not yet released (a cursor or a metric listing in
  #                           progress keeps its snapshot live)
  # - oldest_snapshot_age_ms: age of the oldest live snapshot, to the second; 0 when none
  # - old_snapshot_bytes:     bytes of data kept alive only by snapshots older than the
  #                           current state, which their release gives back
  # - background_errors:      failures of background work (log syncs, checkpoints,
  #                           retention) since open
  # - failure:                0 (TS_OK) while the database takes writes; otherwise the
  #                           status writes get (the next write's error says what failed)
  #
  # A forgotten snapshot shows as a large oldest_snapshot_age_ms and a growing
  # old_snapshot_bytes.
  Stats = CStruct.define(
    metrics: :uint64, points: :uint64, partitions: :uint64, disk_bytes: :uint64, wal_bytes: :uint64,
    live_snapshots: :uint64, oldest_snapshot_age_ms: :uint64, old_snapshot_bytes: :uint64,
    background_errors: :uint64, failure: :uint64
  )

  # What Database#check verified (ts_check_report), all Integers counting things checked and
  # found healthy: metrics, partitions (sealed, decoded), extents (head blocks decoded),
  # points (decoded), block_bytes, segments (data files), manifest_entries, manifest_bytes.
  CheckReport = CStruct.define(
    metrics: :uint64, partitions: :uint64, extents: :uint64, points: :uint64, block_bytes: :uint64,
    segments: :uint64, manifest_entries: :uint64, manifest_bytes: :uint64
  )
end
