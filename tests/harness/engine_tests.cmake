# Tests of the running half of the harness: workload files, the open-loop
# schedule, the report schema, and end to end (drive against an echo server
# written in the test; run against the real servers when they are built).
ioduel_add_test(harness_engine_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/engine/main.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/workload_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/schedule_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/schema_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/end_to_end_test.cpp
  LIBS ioduel_harness
  LABELS harness)
target_compile_definitions(harness_engine_test PRIVATE
  IODUEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  IODUEL_BUILD_DIR="${PROJECT_BINARY_DIR}")
if(TARGET ioduel-reactor AND TARGET ioduel-proactor)
  add_dependencies(harness_engine_test ioduel-reactor ioduel-proactor)
  target_compile_definitions(harness_engine_test PRIVATE IODUEL_TEST_SERVERS_BUILT=1)
endif()
