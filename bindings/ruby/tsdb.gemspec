# frozen_string_literal: true

require_relative "lib/tsdb/version"

Gem::Specification.new do |spec|
  spec.name = "tsdb"
  spec.version = TSDB::VERSION
  spec.summary = "Ruby binding of libtsdb, an embeddable time-series storage engine"
  spec.description = <<~TEXT
    Snapshots, atomic batches, range scans and durable writes of (timestamp, value) points,
    over libtsdb's C API (include/tsdb.h) through the ffi gem. Needs libtsdb.so: set
    TSDB_LIB or TSDB_LIB_DIR, or install it on the library path.
  TEXT
  spec.authors = ["libtsdb contributors"]
  spec.licenses = ["MIT", "Apache-2.0"] # as the Rust crate: MIT OR Apache-2.0
  spec.required_ruby_version = ">= 3.0"
  spec.files = Dir.glob("lib/**/*.rb", base: __dir__) + ["README.md"]
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", "~> 1.15"
  spec.metadata["rubygems_mfa_required"] = "true"
end
