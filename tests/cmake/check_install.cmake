# cmake -DBUILD_DIR=... -DPREFIX=... -DDESTDIR_ROOT=... -DLIBDIR=... -DINCLUDEDIR=...
#       -DVERSION=X.Y.Z -DSONAME=libtsdb.so.X -DHEADER=<source tsdb.h> -DREADELF=...
#       [-DCONFIG=<config>] -P check_install.cmake
#
# The install_layout test, and the fixture the consumer tests build against: installs the
# build tree into PREFIX with `cmake --install --prefix` and checks every installed file and
# link; then installs it again with DESTDIR and another prefix, and checks that the files
# land under DESTDIR while tsdb.pc names the prefix without it.
cmake_minimum_required(VERSION 3.16) # policies for this script (run with cmake -P)
foreach(var BUILD_DIR PREFIX DESTDIR_ROOT LIBDIR INCLUDEDIR VERSION SONAME HEADER READELF)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_install.cmake: ${var} is not set (readelf comes with binutils)")
  endif()
endforeach()
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

function(install_into prefix)
  execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${prefix} failed (${rc}):\n${out}${err}")
  endif()
endfunction()

function(expect_file path)
  if(NOT EXISTS "${path}" OR IS_SYMLINK "${path}" OR IS_DIRECTORY "${path}")
    message(FATAL_ERROR "missing, or not a regular file: ${path}")
  endif()
endfunction()

function(expect_link path target)
  if(NOT IS_SYMLINK "${path}")
    message(FATAL_ERROR "not a symbolic link: ${path}")
  endif()
  file(READ_SYMLINK "${path}" got)
  if(NOT got STREQUAL target)
    message(FATAL_ERROR "${path} -> ${got}, want -> ${target}")
  endif()
endfunction()

# Checks the tree installed for `prefix` under `root` (the prefix itself, or DESTDIR + it).
function(check_tree root prefix)
  set(lib "${root}/${LIBDIR}")
  set(real "libtsdb.so.${VERSION}")
  expect_file("${lib}/${real}")
  expect_link("${lib}/${SONAME}" "${real}")
  expect_link("${lib}/libtsdb.so" "${SONAME}")
  expect_file("${lib}/libtsdb.a")
  expect_file("${root}/${INCLUDEDIR}/tsdb.h")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${HEADER}" "${root}/${INCLUDEDIR}/tsdb.h"
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "${root}/${INCLUDEDIR}/tsdb.h differs from ${HEADER}")
  endif()
  expect_file("${lib}/cmake/tsdb/tsdbConfig.cmake")
  expect_file("${lib}/cmake/tsdb/tsdbConfigVersion.cmake")

  # The installed library names itself by its SONAME.
  execute_process(COMMAND "${READELF}" -d "${lib}/${real}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT dyn MATCHES "\\(SONAME\\)[^\n]*\\[([^]\n]*)\\]")
    message(FATAL_ERROR "${READELF} -d ${lib}/${real}: no SONAME (exit ${rc})")
  endif()
  if(NOT CMAKE_MATCH_1 STREQUAL SONAME)
    message(FATAL_ERROR "${lib}/${real} has SONAME ${CMAKE_MATCH_1}, want ${SONAME}")
  endif()

  # tsdb.pc names the real prefix (without DESTDIR) and the version.
  set(pc "${lib}/pkgconfig/tsdb.pc")
  expect_file("${pc}")
  file(STRINGS "${pc}" pc_lines)
  foreach(want IN ITEMS "prefix=${prefix}" "libdir=\${prefix}/${LIBDIR}"
          "includedir=\${prefix}/${INCLUDEDIR}" "Version: ${VERSION}"
          "Libs: -L\${libdir} -ltsdb" "Cflags: -I\${includedir}")
    list(FIND pc_lines "${want}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${pc} lacks the line `${want}`; it reads:\n${pc_lines}")
    endif()
  endforeach()
  list(FILTER pc_lines INCLUDE REGEX "^Libs.private: .*-lpthread")
  if(NOT pc_lines)
    message(FATAL_ERROR "${pc} has no Libs.private line with -lpthread")
  endif()
endfunction()

# 1. --prefix into the build tree: what the consumer tests use.
file(REMOVE_RECURSE "${PREFIX}")
install_into("${PREFIX}")
check_tree("${PREFIX}" "${PREFIX}")

# 2. DESTDIR: a packager's staged install. The prefix must not be created for real.
set(staged_prefix "/opt/libtsdb-destdir-check")
if(EXISTS "${staged_prefix}")
  message(FATAL_ERROR "${staged_prefix} exists before the DESTDIR install; remove it")
endif()
file(REMOVE_RECURSE "${DESTDIR_ROOT}")
set(ENV{DESTDIR} "${DESTDIR_ROOT}")
install_into("${staged_prefix}")
unset(ENV{DESTDIR})
if(EXISTS "${staged_prefix}")
  message(FATAL_ERROR "the DESTDIR install wrote to ${staged_prefix} itself")
endif()
check_tree("${DESTDIR_ROOT}${staged_prefix}" "${staged_prefix}")
file(REMOVE_RECURSE "${DESTDIR_ROOT}")

message(STATUS "install layout ok: ${PREFIX} and DESTDIR=${DESTDIR_ROOT} --prefix ${staged_prefix}")
