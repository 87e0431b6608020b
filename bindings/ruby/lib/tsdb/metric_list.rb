# frozen_string_literal: true

module TSDB
  # The metrics of a snapshot whose name starts with a prefix (every metric without one),
  # ascending id. Made by Snapshot#metrics. It is Enumerable: #each yields [id, name], so
  # `to_h` gives { id => name }, `map(&:last)` the names, `count` how many there are.
  #
  # Each iteration walks the snapshot afresh through a native listing (ts_metric_list),
  # reading `batch_size` metrics per call into the library, and frees it when the iteration
  # ends, also by break or an exception. It may be iterated any number of times, by any
  # number of threads. An iteration in progress keeps the snapshot alive (Database#close
  # raises TSDB::Busy meanwhile); an abandoned external enumerator (`enum.next`) frees its
  # listing when garbage collected, or at the end of the snapshot's block. Iterating after
  # the snapshot was released raises TSDB::Closed.
  class MetricList
    include Enumerable

    # Metrics per call into the library.
    DEFAULT_BATCH = 1024

    # The Snapshot listed, and the name prefix ("" for every metric).
    attr_reader :snapshot, :prefix

    # Use Snapshot#metrics.
    def initialize(snapshot, prefix, batch_size)
      @snapshot = snapshot
      @prefix = prefix
      @batch_size = batch_size
    end

    # Yield [id, name] for each metric, ascending id; names are UTF-8 Strings. Returns self;
    # an Enumerator without a block.
    def each
      return enum_for(:each) unless block_given?

      listing = @snapshot.__send__(:open_listing, @prefix)
      begin
        while (batch = listing.next_batch(@batch_size))
          batch.each { |pair| yield pair }
        end
      ensure
        listing.close
      end
      self
    end

    def inspect
      "#<#{self.class} #{@prefix.empty? ? 'every metric' : "prefix #{@prefix.inspect}"} of #{@snapshot.inspect}>"
    end

    # Internal: one native listing (ts_metric_list), freed by #close or its finalizer.
    class Listing
      FREE = lambda do |ptr, _finalizing|
        Native.ts_metric_list_free(ptr)
        nil
      end
      private_constant :FREE

      def initialize(txn_handle, db_handle, prefix)
        out = FFI::MemoryPointer.new(:pointer)
        Thread.handle_interrupt(Object => :never) do
          txn_handle.exclusive { |txn| TSDB.check(Native.ts_metric_list_open(txn, prefix, out)) }
          @handle = Handle.new(out.read_pointer, "metric listing is closed", FREE, db_handle)
          ObjectSpace.define_finalizer(self, @handle.finalizer)
        end
      end

      # The next up to `cap` metrics as [[id, name], ...]; nil at the end.
      def next_batch(cap)
        if !@ids || @cap != cap
          @cap = cap
          @ids = FFI::MemoryPointer.new(:uint64, cap, false)
          @names = FFI::MemoryPointer.new(:pointer, cap, false)
          @n_out = FFI::MemoryPointer.new(:size_t)
        end
        @handle.exclusive do |list|
          next nil if TSDB.check(Native.ts_metric_list_next(list, @ids, @names, cap, @n_out)) == DONE

          n = @n_out.read(:size_t)
          # The name strings live until the next call: copy them now.
          names = @names.get_array_of_string(0, n).each { |name| name.force_encoding(Encoding::UTF_8) }
          @ids.get_array_of_uint64(0, n).zip(names)
        end
      end

      def close
        @handle.close
        ObjectSpace.undefine_finalizer(self)
        nil
      end

      def closed?
        @handle.closed?
      end
    end
  end
end
