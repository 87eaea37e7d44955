# Tests of the running half of the harness: workload files, the open-loop
# schedule, the report schema, and end to end (drive against an echo server
# written in the test; run against the real servers when they are built).
ioduel_add_test(harness_engine_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/engine/main.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/workload_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/schedule_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/rounds_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/length_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/window_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine/pacing_test.cpp
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

# The command line itself: a sweep against the reactor, then `validate` on
# its report (which fails when the report breaks the schema).
if(TARGET ioduel-reactor)
  add_test(NAME harness_cli_sweep
    COMMAND sh -c "out=$(mktemp) && \"$<TARGET_FILE:ioduel>\" sweep --quiet --workload '${PROJECT_SOURCE_DIR}/workloads/pingpong.json' --vary connections=1,3 --server reactor --bin-dir '${PROJECT_BINARY_DIR}' --warmup 0.05 --duration 0.2 --out \"$out\" && \"$<TARGET_FILE:ioduel>\" validate \"$out\" --schema '${PROJECT_SOURCE_DIR}/results/schema.json' && grep -q '\"parameter\": \"connections\"' \"$out\"; rc=$?; rm -f \"$out\"; exit $rc")
  set_tests_properties(harness_cli_sweep PROPERTIES LABELS harness TIMEOUT 60)
  # calibrate: the reactor against itself, 5 rounds; its report validates and
  # holds the noise floor.
  add_test(NAME harness_cli_calibrate
    COMMAND sh -c "out=$(mktemp) && \"$<TARGET_FILE:ioduel>\" calibrate --quiet --workload '${PROJECT_SOURCE_DIR}/workloads/pingpong.json' --server reactor --bin-dir '${PROJECT_BINARY_DIR}' --warmup 0.05 --duration 0.2 --out \"$out\" >\"$out.txt\" && \"$<TARGET_FILE:ioduel>\" validate \"$out\" --schema '${PROJECT_SOURCE_DIR}/results/schema.json' && grep -q '\"kind\": \"ioduel-calibration\"' \"$out\" && grep -q 'reactor against itself, 5 rounds' \"$out.txt\"; rc=$?; rm -f \"$out\" \"$out.txt\"; exit $rc")
  set_tests_properties(harness_cli_calibrate PROPERTIES LABELS harness TIMEOUT 60)
  ioduel_test_needs(no_soak ioduel ioduel-reactor)
endif()
