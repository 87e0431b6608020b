# frozen_string_literal: true

# Ruby binding of libtsdb, an embeddable time-series storage engine (include/tsdb.h).
#
#   TSDB.open("/tmp/metrics") do |db|
#     cpu = db.create_metric("cpu.user")
#     db.insert_batch(cpu, [1000, 2000], [0.25, 0.5])
#     db.snapshot { |txn| txn.scan(cpu).each { |ts, value| puts "#{ts} #{value}" } }
#   end
#
# The library is found through ENV["TSDB_LIB"] (the file), ENV["TSDB_LIB_DIR"] (its
# directory), the repository's target/release, then the system's library path.
module TSDB
end

require_relative "tsdb/version"
require_relative "tsdb/native"
require_relative "tsdb/errors"
require_relative "tsdb/convert"
require_relative "tsdb/handle"
require_relative "tsdb/structs"
require_relative "tsdb/options"
require_relative "tsdb/database"
require_relative "tsdb/batch"
require_relative "tsdb/snapshot"
require_relative "tsdb/cursor"
require_relative "tsdb/aggregation"
require_relative "tsdb/metric_list"

module TSDB
  # The version of the loaded libtsdb, "MAJOR.MINOR.PATCH".
  def self.library_version
    Native.ts_version
  end

  # The path (or name) the library was loaded from.
  def self.library_path
    Native::LIBRARY
  end
end
