# frozen_string_literal: true

require_relative "test_helper"

# The binding against the header it wraps, the library discovery, and the README example.
class TestBinding < TSDBTest
  ROOT = File.expand_path("../../..", __dir__)
  HEADER = File.join(ENV.fetch("TSDB_INCLUDE_DIR", File.join(ROOT, "include")), "tsdb.h")
  README = File.expand_path("../README.md", __dir__)

  C_TYPES = {
    "ts_status" => :uint32, "void" => :void, "const char *" => :string, "bool" => :bool,
    "uint32_t" => :uint32, "uint64_t" => :uint64, "int64_t" => :int64, "double" => :double,
    "size_t" => :size_t
  }.freeze

  def header
    @header ||= File.read(HEADER)
  end

  # { "ts_open" => [[arg types], return type] } from the header's prototypes.
  def prototypes
    code = header.gsub(%r{/\*.*?\*/}m, "").gsub(%r{//[^\n]*}, "")
    code.scan(/^([\w ]+?\s*\**)\s*\b(ts_\w+)\(([^)]*)\);/m).to_h do |ret, name, params|
      args = params.strip == "void" ? [] : params.split(",").map { |p| p.strip.sub(/\s*\b\w+\z/, "") }
      [name, [args.map { |t| ffi_type(t) }, ffi_type(ret.strip)]]
    end
  end

  def ffi_type(c_type)
    c_type = c_type.gsub(/\s+/, " ").sub(/ \*\z/, " *").sub(/(\w)\*\z/, '\1 *')
    C_TYPES.fetch(c_type) { c_type.end_with?("*") ? :pointer : raise("unmapped C type #{c_type.inspect}") }
  end

  def test_every_bound_function_matches_its_prototype
    protos = prototypes
    assert_operator protos.size, :>=, 30, "parsed too few prototypes from #{HEADER}"
    bound = TSDB::Native::FUNCTIONS.map do |spec|
      name, c_name, args, ret = spec[1].is_a?(Symbol) ? spec : [spec[0], spec[0], spec[1], spec[2]]
      assert protos.key?(c_name.to_s), "#{c_name} is not in #{HEADER}"
      assert_equal protos[c_name.to_s], [args, ret], "signature of #{c_name} (bound as #{name})"
      c_name.to_s
    end
    unbound = protos.keys - bound - TSDB::Native::UNBOUND.keys.map(&:to_s)
    puts "\nnote: tsdb.h functions without a Ruby binding yet: #{unbound.join(', ')}" unless unbound.empty?
  end

  def test_structs_match_the_header
    structs = { "ts_agg" => TSDB::Bucket, "ts_stats" => TSDB::Stats, "ts_check_report" => TSDB::CheckReport }
    structs.each do |c_name, klass|
      body = header[/typedef struct #{c_name} \{(.*?)\} #{c_name};/m, 1]
      refute_nil body, "struct #{c_name} is not in #{HEADER}"
      fields = body.gsub(%r{/\*.*?\*/}m, "").scan(/^\s*(\w+) (\w+);/).map { |type, name| [name.to_sym, type] }
      assert_equal fields.map(&:first), klass.members, "fields of #{c_name}, in order"
      types = { "int64_t" => :int64, "uint64_t" => :uint64, "double" => :double }
      assert_equal fields.to_h { |name, type| [name, types.fetch(type)] }, klass::NATIVE, "types of #{c_name}"
    end
  end

  def test_every_error_status_of_the_header_has_its_class
    enum = header[/enum ts_status\b.*?\};/m]
    statuses = enum.scan(/^\s*(TS_\w+) = (\d+),/).to_h { |name, n| [name, Integer(n)] }
    assert_equal 0, statuses.fetch("TS_OK")
    assert_equal 1, statuses.fetch("TS_DONE")
    errors = statuses.reject { |name, _| %w[TS_OK TS_DONE].include?(name) }
    refute_empty errors
    errors.each do |name, n|
      klass = TSDB::STATUS_ERRORS[n]
      refute_nil klass, "no TSDB::Error subclass for #{name} (#{n}): add one in lib/tsdb/errors.rb"
      assert_equal name, TSDB.error_for(n, "").status_name
      camel = name.delete_prefix("TS_").split("_").map(&:capitalize).join.sub("IoError", "IOError")
      assert_equal "TSDB::#{camel}", klass.name
    end
    assert_equal errors.values.sort, TSDB::STATUS_ERRORS.keys.sort
  end

  def test_constants_match_the_header
    { "TS_MAX_TIMESTAMP" => TSDB::MAX_TIMESTAMP, "TS_MAX_NAME_LEN" => TSDB::MAX_NAME_LEN,
      "TS_MAX_PARTITION_POINTS" => TSDB::MAX_PARTITION_POINTS }.each do |macro, value|
      assert_equal value, Integer(header[/#define #{macro} (\d+)/, 1]), macro
    end
    version = %w[MAJOR MINOR PATCH].map { |part| header[/#define TS_VERSION_#{part} (\d+)/, 1] }.join(".")
    assert_equal version, TSDB.library_version, "the library and #{HEADER} disagree"
  end

  def test_library_discovery_errors_are_clear
    load = 'begin; require "tsdb"; puts TSDB.library_version; rescue LoadError => e; puts e.class, e.message; exit 3; end'
    out, status = run_ruby(load, env: { "TSDB_LIB" => "/nonexistent/libtsdb.so", "TSDB_LIB_DIR" => nil })
    assert_equal 3, status.exitstatus, out
    assert_includes out, "TSDB::LibraryNotFound"
    assert_includes out, "TSDB_LIB=/nonexistent/libtsdb.so is not a file"

    out, status = run_ruby(load, env: { "TSDB_LIB" => nil, "TSDB_LIB_DIR" => @tmp })
    assert_equal 3, status.exitstatus, out
    assert_includes out, "TSDB_LIB_DIR=#{@tmp} holds no libtsdb.so"

    out, status = run_ruby(load, env: { "TSDB_LIB" => TSDB.library_path, "TSDB_LIB_DIR" => nil })
    assert status.success?, out
    assert_equal "#{TSDB.library_version}\n", out

    # A directory holding only the SONAME, as a runtime-only install does.
    File.symlink(File.realpath(TSDB.library_path), File.join(@tmp, "libtsdb.so.0"))
    out, status = run_ruby('require "tsdb"; puts TSDB.library_path', env: { "TSDB_LIB" => nil, "TSDB_LIB_DIR" => @tmp })
    assert status.success?, out
    assert_equal "#{File.join(@tmp, 'libtsdb.so.0')}\n", out
  end

  def test_without_variables_the_repository_build_comes_first
    code = 'begin; require "tsdb"; puts TSDB.library_path; rescue LoadError => e; puts e.message; exit 3; end'
    out, status = run_ruby(code, env: { "TSDB_LIB" => nil, "TSDB_LIB_DIR" => nil, "LD_LIBRARY_PATH" => nil })
    repo_build = File.join(ROOT, "target", "release", "libtsdb.so")
    if File.file?(repo_build)
      assert status.success?, out
      assert_equal "#{repo_build}\n", out
    else # then the system path, where there is none here
      assert_equal 3, status.exitstatus, out
      assert_includes out, "tsdb (the system library path)"
      assert_includes out, "cargo build --release --lib"
    end
  end

  def test_readme_example_runs_as_written
    text = File.read(README)
    code = text[/^```ruby\n(.*?)^```/m, 1]
    expected = text[/^```ruby\n.*?^```\n.*?^```text\n(.*?)^```/m, 1]
    refute_nil code, "no ruby block in #{README}"
    refute_nil expected, "no text block with the example's output after it"
    out, status = run_ruby(code)
    assert status.success?, out
    assert_equal expected, out
  end
end
