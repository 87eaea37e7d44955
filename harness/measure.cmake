# The measuring half of the harness: histogram (and its HdrHistogram V2
# encoding), statistics, the paired and independent comparisons, a server's
# summary and comparisons as the report holds them, and the show/compare
# commands that read reports, their CSV, and the HTML page (its sources in web/).
# No sockets here, so it is cheap to test on its own.
add_library(ioduel_measure STATIC
  ${CMAKE_CURRENT_LIST_DIR}/histogram.cpp
  ${CMAKE_CURRENT_LIST_DIR}/histogram_codec.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interval_log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/statistics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/paired.cpp
  ${CMAKE_CURRENT_LIST_DIR}/multiplicity.cpp
  ${CMAKE_CURRENT_LIST_DIR}/summary.cpp
  ${CMAKE_CURRENT_LIST_DIR}/report_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/show.cpp
  ${CMAKE_CURRENT_LIST_DIR}/show_summary.cpp
  ${CMAKE_CURRENT_LIST_DIR}/show_tables.cpp
  ${CMAKE_CURRENT_LIST_DIR}/csv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/html.cpp
  ${CMAKE_CURRENT_LIST_DIR}/compare.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calibration.cpp)
target_include_directories(ioduel_measure PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ioduel_measure PUBLIC nlohmann_json::nlohmann_json PRIVATE ZLIB::ZLIB)
ioduel_use_pch(json ioduel_measure)
# ioduel html reads the page's sources and libraries from here at run time.
target_compile_definitions(ioduel_measure PRIVATE IODUEL_WEB_DIR="${CMAKE_CURRENT_LIST_DIR}/web")
