# The running half of the harness: workloads, the client engine, the runner
# (servers as processes, repetitions, metrics), reports and the `ioduel`
# command itself.
add_library(ioduel_harness STATIC
  ${CMAKE_CURRENT_LIST_DIR}/workload.cpp
  ${CMAKE_CURRENT_LIST_DIR}/workload_files.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine_worker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine_io.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine_loop.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stats_client.cpp
  ${CMAKE_CURRENT_LIST_DIR}/report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_schema.cpp
  ${CMAKE_CURRENT_LIST_DIR}/progress.cpp
  ${CMAKE_CURRENT_LIST_DIR}/servers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/host_load.cpp
  ${CMAKE_CURRENT_LIST_DIR}/measurement.cpp
  ${CMAKE_CURRENT_LIST_DIR}/runner.cpp)
target_include_directories(ioduel_harness PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ioduel_harness PUBLIC ioduel_protocol nlohmann_json::nlohmann_json Threads::Threads)
target_compile_definitions(ioduel_harness PRIVATE
  IODUEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  IODUEL_BUILD_DIR="${PROJECT_BINARY_DIR}"
  IODUEL_BUILD_TYPE="${CMAKE_BUILD_TYPE}"
  IODUEL_VERSION="${PROJECT_VERSION}")
# The histogram, statistics, show/compare and server_process parts live beside
# this one (measure.cmake, server_process.cmake).
target_link_libraries(ioduel_harness PUBLIC ioduel_measure ioduel_server_process)
ioduel_use_pch(json ioduel_harness)

add_executable(ioduel ${CMAKE_CURRENT_LIST_DIR}/main.cpp ${CMAKE_CURRENT_LIST_DIR}/cli.cpp)
target_link_libraries(ioduel PRIVATE ioduel_harness CLI11::CLI11)
target_compile_definitions(ioduel PRIVATE IODUEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ioduel_use_pch(app ioduel)

# The reference client the harness's overhead is measured against: one
# blocking socket, one 64-byte ECHO at a time, nothing else.
add_executable(ioduel-pingpong-ref ${CMAKE_CURRENT_LIST_DIR}/pingpong_ref.cpp)
target_link_libraries(ioduel-pingpong-ref PRIVATE ioduel_protocol ioduel_harness CLI11::CLI11)
ioduel_use_pch(app ioduel-pingpong-ref)
