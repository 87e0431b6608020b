# frozen_string_literal: true

module TSDB
  # Internal: the keyword options of TSDB.open, mapped onto a ts_options object.
  #
  #   create_if_missing: true       create the directory when missing (its parent must exist)
  #   partition_points:  4096       points per head partition before it is sealed (2..524288)
  #   head_run_points:   16         newest head points kept uncompressed (1..524288)
  #   raw_head_budget:   64 MiB     bytes of uncompressed head points in all (0 compresses all)
  #   sync:              :interval  :none, :interval or :always (what a power loss may lose)
  #   sync_interval_ms:  100        fsync period for sync: :interval (1..60000)
  #   checkpoint_bytes:  64 MiB     log bytes between background checkpoints (>= 4096)
  #   retention:         0          keep each metric's points for this many timestamp units
  #                                 (0: keep everything); Database#set_retention overrides it
  #
  # Values are checked by libtsdb: out-of-range ones raise TSDB::InvalidArgument.
  module Options
    SYNC_MODES = { none: 0, interval: 1, always: 2 }.freeze
    UINT32_MAX = (2**32) - 1

    # option => [setter, converter]; a new ts_options_set_* needs one line here.
    SETTERS = {
      create_if_missing: [:ts_options_set_create_if_missing, ->(v) { boolean(v, :create_if_missing) }],
      partition_points: [:ts_options_set_partition_points, ->(v) { Convert.uint(v, UINT32_MAX, "partition_points") }],
      head_run_points: [:ts_options_set_head_run_points, ->(v) { Convert.uint(v, UINT32_MAX, "head_run_points") }],
      raw_head_budget: [:ts_options_set_raw_head_budget, ->(v) { Convert.uint(v, Convert::UINT64_MAX, "raw_head_budget") }],
      checkpoint_bytes: [:ts_options_set_checkpoint_bytes, ->(v) { Convert.uint(v, Convert::UINT64_MAX, "checkpoint_bytes") }],
      retention: [:ts_options_set_retention, ->(v) { Convert.int64(v, "retention") }]
    }.freeze
    KNOWN = (SETTERS.keys + %i[sync sync_interval_ms]).freeze

    module_function

    def boolean(value, what)
      return value if [true, false].include?(value)

      raise TypeError, "#{what} must be true or false, not #{value.inspect}"
    end

    # The sync mode as [mode number, interval], or nil when neither option is given.
    def sync_args(opts)
      return nil unless opts.key?(:sync) || opts.key?(:sync_interval_ms)

      mode = opts.fetch(:sync, :interval)
      number = SYNC_MODES.fetch(mode) do
        raise TypeError, "sync must be a Symbol, not #{mode.class}" unless mode.is_a?(Symbol)

        raise ArgumentError, "sync must be one of #{SYNC_MODES.keys.map(&:inspect).join(', ')}, not #{mode.inspect}"
      end
      [number, Convert.uint(opts.fetch(:sync_interval_ms, 100), UINT32_MAX, "sync_interval_ms")]
    end

    # Yield a ts_options pointer holding `opts` (nil when there are none: the defaults), and
    # free it afterwards.
    def with_options(opts)
      unknown = opts.keys - KNOWN
      unless unknown.empty?
        raise ArgumentError, "unknown option#{'s' if unknown.size > 1} #{unknown.map(&:inspect).join(', ')} " \
                             "(known: #{KNOWN.map(&:inspect).join(', ')})"
      end
      return yield(nil) if opts.empty?

      calls = opts.filter_map { |key, v| SETTERS[key] && [SETTERS[key][0], SETTERS[key][1].call(v)] }
      sync = sync_args(opts)
      ptr = Native.ts_options_new
      raise NoMemoryError, "ts_options_new failed" if ptr.null?

      begin
        calls.each { |setter, arg| TSDB.check(Native.public_send(setter, ptr, arg)) }
        TSDB.check(Native.ts_options_set_sync(ptr, *sync)) if sync
        yield ptr
      ensure
        Native.ts_options_free(ptr)
      end
    end
  end
end
