# B2 causal attention benchmark (BENCH.md): one measurement per process, driven side by side with
# the PyTorch peer by tools/bench/bench.py. Included from tools/bench/CMakeLists.txt; paths are
# relative to this file so that it can be included from any directory.
add_executable(attnlab_bench_attention ${CMAKE_CURRENT_LIST_DIR}/attention_bench.cc)
target_link_libraries(attnlab_bench_attention PRIVATE attnlab_layers attnlab_framework
                      CLI11::CLI11 nlohmann_json::nlohmann_json)
