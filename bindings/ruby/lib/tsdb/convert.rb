# frozen_string_literal: true

module TSDB
  # Smallest and largest timestamps a point may have (TS_MAX_TIMESTAMP is INT64_MAX - 1:
  # scans end before an exclusive `until`).
  MIN_TIMESTAMP = -(2**63)
  MAX_TIMESTAMP = (2**63) - 2
  # Longest metric name, in bytes of UTF-8 (TS_MAX_NAME_LEN).
  MAX_NAME_LEN = 1024
  # Largest partition_points option (TS_MAX_PARTITION_POINTS).
  MAX_PARTITION_POINTS = 524_288

  # Internal: argument checks and conversions shared by the classes. Types are checked here
  # (TypeError); values are left to libtsdb, whose messages say what is wrong with them,
  # except where the C types cannot carry them (RangeError, NUL bytes).
  module Convert
    UINT64_MAX = (2**64) - 1
    INT64_MIN = -(2**63)
    INT64_MAX = (2**63) - 1
    UTF_8 = Encoding::UTF_8
    BINARY = Encoding::BINARY

    module_function

    def uint(value, max, what)
      raise TypeError, "#{what} must be an Integer, not #{value.class}" unless value.is_a?(Integer)
      raise RangeError, "#{what} #{value} is out of range (0..#{max})" if value.negative? || value > max

      value
    end

    def metric_id(id)
      uint(id, UINT64_MAX, "metric id")
    end

    def timestamp(ts, what = "timestamp")
      raise TypeError, "#{what} must be an Integer, not #{ts.class}" unless ts.is_a?(Integer)
      raise RangeError, "#{what} #{ts} is out of the int64 range" if ts < INT64_MIN || ts > INT64_MAX

      ts
    end

    # An int64 parameter that is no timestamp (a span, a bucket width).
    def int64(value, what)
      timestamp(value, what)
    end

    # [from, until) as int64s from `from` and `to`, or from a Range of timestamps given as
    # `from` (10...20, 10..19, 10.., ..19) with `to` nil. nil bounds are the extremes.
    def bounds(from, to)
      if from.is_a?(Range)
        raise ArgumentError, "give a Range or from and to, not both" unless to.nil?

        range = from
        from = range.begin
        to = range.end
        # An inclusive end: points stop at MAX_TIMESTAMP, so INT64_MAX is as good as + 1.
        to = [timestamp(to, "range end") + 1, INT64_MAX].min if to && !range.exclude_end?
      end
      from = from.nil? ? INT64_MIN : timestamp(from, "from")
      to = to.nil? ? INT64_MAX : timestamp(to, "to")
      [from, to]
    end

    def value(value)
      return value if value.is_a?(Float)
      raise TypeError, "value must be Numeric, not #{value.class}" unless value.is_a?(Numeric)

      Float(value)
    end

    # A String for a NUL-terminated UTF-8 C parameter.
    def c_string(str, what)
      str = str.to_path if !str.is_a?(String) && str.respond_to?(:to_path)
      raise TypeError, "#{what} must be a String, not #{str.class}" unless str.is_a?(String)
      raise InvalidArgument.new("#{what} contains a NUL byte: #{str.inspect}") if str.include?("\0")

      enc = str.encoding
      enc == UTF_8 || enc == BINARY || str.ascii_only? ? str : str.encode(UTF_8)
    end

    def name(name)
      c_string(name, "metric name")
    end

    # Check that `timestamps` is an Array of Integers. Array#sum is Integer exactly when every
    # element is (a Float or Rational makes it one; nil or a String raises): a C loop for the
    # common case, with the exact element found only on failure.
    def timestamps(timestamps)
      raise TypeError, "timestamps must be an Array, not #{timestamps.class}" unless timestamps.is_a?(Array)

      sum = begin
        timestamps.sum
      rescue StandardError
        nil
      end
      return timestamps if sum.is_a?(Integer)

      timestamps.each_with_index { |ts, i| timestamp(ts, "timestamps[#{i}]") }
      timestamps
    end

    def values(values)
      raise TypeError, "values must be an Array, not #{values.class}" unless values.is_a?(Array)

      values
    end
  end
end
