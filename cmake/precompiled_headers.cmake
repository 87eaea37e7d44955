# Precompiled headers for the heavy libraries, built once per build tree.
#
# CLI11, Boost.Test and nlohmann-json cost 3 to 10 s of parsing in every
# translation unit that includes them (g++ 12), more than the code of most of
# ours.  Each family below compiles its headers once, in a small OBJECT
# library, and the targets that use them take that precompiled header with
# REUSE_FROM.  REUSE_FROM needs the same compiler flags on both sides, so a
# family carries only what all its users have too (the global options, and
# BOOST_TEST_DYN_LINK for the tests); a -D that no precompiled header reads
# (IODUEL_SOURCE_DIR, ...) is harmless.  g++ says so (CMake passes
# -Winvalid-pch) if it ever has to ignore one.
#
#   ioduel_use_pch(FAMILY TARGET [ONLY source...])
#     json: nlohmann-json; app: CLI11 and nlohmann-json; test: Boost.Test and
#     nlohmann-json.  With ONLY, the target's other sources are compiled
#     without it (they include none of those headers).
#
# A file that must see its own #defines before the headers (a Boost.Test
# main.cpp defines BOOST_TEST_MODULE) is marked SKIP_PRECOMPILE_HEADERS.
# -DIODUEL_PCH=OFF builds without any (to check that every file includes what
# it uses).

option(IODUEL_PCH "Precompile the headers of CLI11, Boost.Test and nlohmann-json" ON)

if(IODUEL_PCH)
  set(std_headers <algorithm> <chrono> <cstdint> <functional> <map> <memory> <optional>
                  <sstream> <string> <string_view> <vector>)
  # family | headers | libraries whose include paths it needs (lists joined by ",")
  set(families
    "json|<nlohmann/json.hpp>|nlohmann_json::nlohmann_json"
    "app|<CLI/CLI.hpp>,<nlohmann/json.hpp>|CLI11::CLI11,nlohmann_json::nlohmann_json"
    "test|<boost/test/unit_test.hpp>,<boost/test/data/test_case.hpp>,<nlohmann/json.hpp>|Boost::unit_test_framework,nlohmann_json::nlohmann_json")
  foreach(entry ${families})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 family)
    list(GET parts 1 headers)
    list(GET parts 2 libraries)
    string(REPLACE "," ";" headers "${headers}")
    string(REPLACE "," ";" libraries "${libraries}")
    add_library(ioduel_pch_${family} OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_stub.cpp)
    target_link_libraries(ioduel_pch_${family} PRIVATE ${libraries})
    target_precompile_headers(ioduel_pch_${family} PRIVATE ${headers} ${std_headers})
  endforeach()
  target_compile_definitions(ioduel_pch_test PRIVATE BOOST_TEST_DYN_LINK)
endif()

function(ioduel_use_pch family target)
  if(NOT IODUEL_PCH)
    return()
  endif()
  cmake_parse_arguments(P "" "" "ONLY" ${ARGN})
  target_precompile_headers(${target} REUSE_FROM ioduel_pch_${family})
  if(P_ONLY)
    get_target_property(sources ${target} SOURCES)
    foreach(source ${sources})
      if(NOT source IN_LIST P_ONLY)
        set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      endif()
    endforeach()
  endif()
endfunction()
