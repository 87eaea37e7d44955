# harness/server_process: starting, watching and stopping a server binary
# (used by the runner and by the conformance tests).
add_library(ioduel_server_process STATIC server_process.cpp spawn_child.cpp proc_metrics.cpp)
target_include_directories(ioduel_server_process PUBLIC ${PROJECT_SOURCE_DIR})
