# ccache, when it is installed (scripts/setup installs Debian's): a rebuild
# of an unchanged file, in a fresh clone or another build directory with the
# same flags, is a cache hit.  Precompiled headers need two sloppiness
# settings to be cached at all (ccache manual, "Precompiled headers").
# -DIODUEL_CCACHE=OFF turns it off.
option(IODUEL_CCACHE "Compile through ccache when it is installed" ON)
find_program(IODUEL_CCACHE_PROGRAM ccache)
if(IODUEL_CCACHE AND IODUEL_CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${IODUEL_CCACHE_PROGRAM})
endif()
