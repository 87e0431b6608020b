# frozen_string_literal: true

module TSDB
  # Version of this gem. It follows the C library it was written against (include/tsdb.h).
  VERSION = "0.1.0"
end
