# frozen_string_literal: true

require "ffi"

module TSDB
  # Raised by `require "tsdb"` when libtsdb cannot be found or lacks a function this gem needs.
  class LibraryNotFound < LoadError; end

  # The raw C API of include/tsdb.h, one `attach_function` per export. Internal: the classes
  # in this gem are the supported interface. To bind a new C function, add one line to
  # FUNCTIONS (blocking: true for calls that may do I/O or long work, so that other Ruby
  # threads run meanwhile) and wrap it in the class it belongs to.
  module Native
    extend FFI::Library

    # libtsdb.so.0 (the SONAME) is where a runtime-only install puts the library.
    LIB_NAMES = %w[libtsdb.so libtsdb.so.0 libtsdb.dylib].freeze

    # Where the library is looked for, in order: ENV["TSDB_LIB"] (the file itself),
    # ENV["TSDB_LIB_DIR"] (a directory holding it), the repository's target/release when this
    # gem is used from a checkout, then the system's search path (ffi_lib "tsdb", then
    # "libtsdb.so.0").
    def self.library_candidates
      if (file = ENV["TSDB_LIB"]) && !file.empty?
        return [[file, "TSDB_LIB"]] if File.file?(file)

        raise LibraryNotFound, "TSDB_LIB=#{file} is not a file; point it at libtsdb.so"
      end
      if (dir = ENV["TSDB_LIB_DIR"]) && !dir.empty?
        found = LIB_NAMES.map { |n| File.join(dir, n) }.find { |f| File.file?(f) }
        return [[found, "TSDB_LIB_DIR"]] if found

        raise LibraryNotFound, "TSDB_LIB_DIR=#{dir} holds no #{LIB_NAMES.join(' or ')}"
      end
      repo_release = File.expand_path("../../../../target/release", __dir__)
      in_repo = LIB_NAMES.map { |n| File.join(repo_release, n) }.find { |f| File.file?(f) }
      (in_repo ? [[in_repo, "the repository's target/release"]] : []) +
        [["tsdb", "the system library path"], ["libtsdb.so.0", "the system library path"]]
    end

    def self.load_library
      tried = []
      library_candidates.each do |lib, origin|
        begin
          ffi_lib lib
          return lib
        rescue LoadError => e
          tried << "#{lib} (#{origin}): #{e.message.lines.first.strip}"
        end
      end
      raise LibraryNotFound, "libtsdb not found. Tried:\n  #{tried.join("\n  ")}\n" \
                             "Build it (cargo build --release --lib at the repository root) or set " \
                             "TSDB_LIB to the library file or TSDB_LIB_DIR to its directory."
    end

    LIBRARY = load_library

    # [name, argument types, return type, options]. ts_status is a uint32_t (include/tsdb.h).
    FUNCTIONS = [
      [:ts_status_str, [:uint32], :string],
      [:ts_errmsg, [], :string],
      [:ts_version, [], :string],

      [:ts_options_new, [], :pointer],
      [:ts_options_free, [:pointer], :void],
      [:ts_options_set_create_if_missing, %i[pointer bool], :uint32],
      [:ts_options_set_partition_points, %i[pointer uint32], :uint32],
      [:ts_options_set_head_run_points, %i[pointer uint32], :uint32],
      [:ts_options_set_raw_head_budget, %i[pointer uint64], :uint32],
      [:ts_options_set_sync, %i[pointer uint32 uint32], :uint32],
      [:ts_options_set_checkpoint_bytes, %i[pointer uint64], :uint32],
      [:ts_options_set_retention, %i[pointer int64], :uint32],

      [:ts_open, %i[string pointer pointer], :uint32, { blocking: true }],
      [:ts_close, [:pointer], :uint32, { blocking: true }],
      # The same function keeping the GVL, for finalizers (see Handle).
      [:ts_close_holding_gvl, :ts_close, [:pointer], :uint32],
      [:ts_checkpoint, [:pointer], :uint32, { blocking: true }],
      [:ts_db_stats, %i[pointer pointer], :uint32, { blocking: true }],
      [:ts_check, %i[pointer pointer], :uint32, { blocking: true }],

      [:ts_metric_create, %i[pointer string pointer], :uint32],
      [:ts_metric_drop, %i[pointer uint64], :uint32],
      [:ts_metric_set_retention, %i[pointer uint64 int64], :uint32, { blocking: true }],
      [:ts_enforce_retention, %i[pointer pointer], :uint32, { blocking: true }],

      [:ts_insert, %i[pointer uint64 int64 double], :uint32],
      # The same function with the GVL released, for sync: :always (an fsync per call).
      [:ts_insert_blocking, :ts_insert, %i[pointer uint64 int64 double], :uint32, { blocking: true }],
      [:ts_insert_batch, %i[pointer uint64 pointer pointer size_t], :uint32, { blocking: true }],
      [:ts_delete_range, %i[pointer uint64 int64 int64], :uint32, { blocking: true }],

      [:ts_batch_new, [], :pointer],
      [:ts_batch_add_many, %i[pointer uint64 pointer pointer size_t], :uint32],
      [:ts_batch_clear, [:pointer], :uint32],
      [:ts_batch_commit, %i[pointer pointer], :uint32, { blocking: true }],
      [:ts_batch_free, [:pointer], :void],

      [:ts_txn_begin, %i[pointer pointer], :uint32],
      [:ts_txn_release, [:pointer], :void],
      [:ts_metric_lookup, %i[pointer string pointer], :uint32],
      [:ts_txn_metric_count, %i[pointer pointer], :uint32],

      [:ts_scan_range, %i[pointer uint64 int64 int64 pointer], :uint32],
      [:ts_cursor_next_batch, %i[pointer pointer pointer size_t pointer], :uint32, { blocking: true }],
      [:ts_cursor_free, [:pointer], :void],

      [:ts_aggregate, %i[pointer uint64 int64 int64 int64 pointer size_t pointer], :uint32, { blocking: true }],
      [:ts_metric_list_open, %i[pointer string pointer], :uint32],
      [:ts_metric_list_next, %i[pointer pointer pointer size_t pointer], :uint32, { blocking: true }],
      [:ts_metric_list_free, [:pointer], :void]
    ].freeze

    # Functions of tsdb.h deliberately left unbound, and why (test/test_binding.rb lists any
    # other function of the header that FUNCTIONS lacks).
    UNBOUND = {
      ts_cursor_next: "Cursor reads through ts_cursor_next_batch, one call per batch",
      ts_batch_add: "Batch gathers points in Ruby and adds them with ts_batch_add_many, one call per metric"
    }.freeze

    FUNCTIONS.each do |spec|
      begin
        attach_function(*spec)
      rescue FFI::NotFoundError => e
        raise LibraryNotFound, "#{LIBRARY} is too old for this gem (#{e.message}); rebuild libtsdb"
      end
    end
  end
end
