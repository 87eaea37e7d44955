# Tests of the measuring half of the harness (ioduel_measure): unit tests, and
# the HdrHistogram interop test, which runs node with hdr-histogram-js from
# interop/node_modules (scripts/setup installs it from the lock file).
ioduel_add_test(measure_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/measure/main.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/histogram_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/histogram_codec_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/statistics_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/paired_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/multiplicity_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/calibration_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/interval_log_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/show_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/compare_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/show_summary_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/measure/html_test.cpp
  LIBS ioduel_measure
  LABELS unit)
target_compile_definitions(measure_test PRIVATE IODUEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

find_program(IODUEL_NODE node)
ioduel_add_test(histogram_interop_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/interop/main.cpp
    ${CMAKE_CURRENT_LIST_DIR}/interop/histogram_interop_test.cpp
  LIBS ioduel_measure
  LABELS interop)
# An absent node is not a reason to skip: the test fails and says so.
target_compile_definitions(histogram_interop_test PRIVATE
  IODUEL_NODE="${IODUEL_NODE}"
  IODUEL_INTEROP_DIR="${CMAKE_CURRENT_LIST_DIR}/interop")
