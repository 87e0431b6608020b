# cmake -DREADELF=<readelf> -DPROGRAM=<file> -DSONAME=<libtsdb.so.N> -DEXPECT=shared|static
#       -P check_needed.cmake
#
# Checks how a consumer program was linked: a program linked against the shared library
# records its SONAME (NEEDED libtsdb.so.N, never the bare development name libtsdb.so);
# one linked against libtsdb.a records no libtsdb at all.
cmake_minimum_required(VERSION 3.16) # policies for this script (run with cmake -P)
foreach(var READELF PROGRAM SONAME EXPECT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_needed.cmake: ${var} is not set (readelf comes with binutils)")
  endif()
endforeach()
execute_process(COMMAND "${READELF}" -d "${PROGRAM}"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${READELF} -d ${PROGRAM} failed (${rc}): ${err}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]*\\]" lines "${out}")
set(needed "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE ".*\\[(.*)\\]" "\\1" lib "${line}")
  list(APPEND needed "${lib}")
endforeach()
set(tsdb_needed "${needed}")
list(FILTER tsdb_needed INCLUDE REGEX "tsdb")
if(EXPECT STREQUAL "shared")
  if(NOT tsdb_needed STREQUAL SONAME)
    message(FATAL_ERROR "${PROGRAM} should need exactly ${SONAME}; its NEEDED entries: ${needed}")
  endif()
elseif(EXPECT STREQUAL "static")
  if(tsdb_needed)
    message(FATAL_ERROR "${PROGRAM} was linked against libtsdb.a, yet needs ${tsdb_needed}")
  endif()
else()
  message(FATAL_ERROR "EXPECT must be shared or static, not ${EXPECT}")
endif()
message(STATUS "${PROGRAM}: NEEDED ${needed}")
