# Install rules, included by the top-level CMakeLists.txt when TSDB_INSTALL is on.
#
#   <prefix>/<libdir>/libtsdb.so.X.Y.Z            the shared library, SONAME libtsdb.so.X
#   <prefix>/<libdir>/libtsdb.so.X -> libtsdb.so.X.Y.Z   what the loader looks for
#   <prefix>/<libdir>/libtsdb.so   -> libtsdb.so.X       what `-ltsdb` finds at link time
#   <prefix>/<libdir>/libtsdb.a
#   <prefix>/<includedir>/tsdb.h
#   <prefix>/<libdir>/cmake/tsdb/tsdbConfig.cmake, tsdbConfigVersion.cmake
#   <prefix>/<libdir>/pkgconfig/tsdb.pc
#
# <libdir> and <includedir> come from GNUInstallDirs (lib and include under /usr/local).
# `cmake --install <build> --prefix P` and DESTDIR are both honoured: the CMake package
# finds its files relative to itself, and tsdb.pc is written at install time, for the
# prefix actually used.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_tsdb_real_name
    "${CMAKE_SHARED_LIBRARY_PREFIX}tsdb${CMAKE_SHARED_LIBRARY_SUFFIX}.${PROJECT_VERSION}")
set(_tsdb_dev_name "${CMAKE_SHARED_LIBRARY_PREFIX}tsdb${CMAKE_SHARED_LIBRARY_SUFFIX}")
set(_tsdb_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/tsdb")
set(_tsdb_stage "${PROJECT_BINARY_DIR}/tsdb-install")

# Libraries and header. The links are made here and installed as links (file(INSTALL)
# copies a symlink as a symlink).
install(FILES "${TSDB_SHARED_LIBRARY}"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RENAME "${_tsdb_real_name}"
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(MAKE_DIRECTORY "${_tsdb_stage}/links")
file(CREATE_LINK "${_tsdb_real_name}" "${_tsdb_stage}/links/${TSDB_SONAME}" SYMBOLIC)
file(CREATE_LINK "${TSDB_SONAME}" "${_tsdb_stage}/links/${_tsdb_dev_name}" SYMBOLIC)
install(FILES "${_tsdb_stage}/links/${TSDB_SONAME}" "${_tsdb_stage}/links/${_tsdb_dev_name}"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(FILES "${TSDB_STATIC_LIBRARY}" DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(FILES "${TSDB_INCLUDE_DIR}/tsdb.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# CMake package: find_package(tsdb [VERSION] REQUIRED).
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/tsdbConfig.cmake.in"
  "${_tsdb_stage}/tsdbConfig.cmake"
  INSTALL_DESTINATION "${_tsdb_cmake_dir}"
  PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
# Before 1.0 a minor release may break the API (Cargo's rules), so 0.x asks for the same
# minor version; from 1.0 on, the same major version.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_tsdb_compat SameMinorVersion)
else()
  set(_tsdb_compat SameMajorVersion)
endif()
write_basic_package_version_file(
  "${_tsdb_stage}/tsdbConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY ${_tsdb_compat})
install(FILES "${_tsdb_stage}/tsdbConfig.cmake" "${_tsdb_stage}/tsdbConfigVersion.cmake"
        DESTINATION "${_tsdb_cmake_dir}")

# pkg-config. tsdb.pc.in is filled in twice: now with the version and libraries, and at
# install time with the prefix and directories, since `cmake --install --prefix` may change
# the prefix after configuration. file(INSTALL) then adds DESTDIR like every other file.
list(TRANSFORM TSDB_STATIC_SYSTEM_LIBS PREPEND "-l" OUTPUT_VARIABLE _tsdb_pc_private)
list(JOIN _tsdb_pc_private " " TSDB_PC_LIBS_PRIVATE)
foreach(_tsdb_var IN ITEMS TSDB_PC_PREFIX TSDB_PC_LIBDIR TSDB_PC_INCLUDEDIR)
  set(${_tsdb_var} "@${_tsdb_var}@") # kept for the install-time pass
endforeach()
configure_file("${CMAKE_CURRENT_LIST_DIR}/tsdb.pc.in" "${_tsdb_stage}/tsdb.pc.in" @ONLY)
install(CODE "
  set(_tsdb_stage \"${_tsdb_stage}\")
  set(_tsdb_libdir \"${CMAKE_INSTALL_LIBDIR}\")
  set(_tsdb_includedir \"${CMAKE_INSTALL_INCLUDEDIR}\")")
install(CODE [[
  set(TSDB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  foreach(_tsdb_dir IN ITEMS libdir includedir)
    string(TOUPPER "${_tsdb_dir}" _tsdb_upper)
    if(IS_ABSOLUTE "${_tsdb_${_tsdb_dir}}")
      set(TSDB_PC_${_tsdb_upper} "${_tsdb_${_tsdb_dir}}")
    else()
      set(TSDB_PC_${_tsdb_upper} "\${prefix}/${_tsdb_${_tsdb_dir}}")
    endif()
  endforeach()
  configure_file("${_tsdb_stage}/tsdb.pc.in" "${_tsdb_stage}/pkgconfig/tsdb.pc" @ONLY)
  if(IS_ABSOLUTE "${_tsdb_libdir}")
    set(_tsdb_pc_dest "${_tsdb_libdir}/pkgconfig")
  else()
    set(_tsdb_pc_dest "${CMAKE_INSTALL_PREFIX}/${_tsdb_libdir}/pkgconfig")
  endif()
  file(INSTALL DESTINATION "${_tsdb_pc_dest}" TYPE FILE FILES "${_tsdb_stage}/pkgconfig/tsdb.pc")
]])
