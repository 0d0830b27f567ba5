# The CUDA backend's GPU tests, its host-side tests and its benchmark binary; only when the CUDA
# backend is built.
# The GPU tests carry the single label gpu (they skip without a device; scripts/test runs
# `ctest -LE gpu`). Not through assay_tests(... LABELS gpu): that passes "unit;gpu" to
# gtest_discover_tests, whose generated set_tests_properties then reads only the first label.
if(TARGET assay_engines_cuda)
  add_executable(assay_cuda_tests ${CMAKE_SOURCE_DIR}/tests/engines/local/cuda/cuda_ops_test.cpp)
  target_link_libraries(assay_cuda_tests PRIVATE assay_engines_cuda assay_engines_local_files
                        assay_test_support GTest::gtest_main GTest::gmock)
  gtest_discover_tests(assay_cuda_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS gpu)
  # The weight decoders and GEMV lane steps run on the host (no GPU: label unit, so CI runs it).
  add_executable(assay_cuda_host_tests ${CMAKE_SOURCE_DIR}/tests/engines/local/cuda/cuda_host_test.cpp)
  target_include_directories(assay_cuda_host_tests PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_options(assay_cuda_host_tests PRIVATE -ffp-contract=off -Wno-unknown-pragmas)
  target_link_libraries(assay_cuda_host_tests PRIVATE assay_engines_cpu GTest::gtest_main)
  gtest_discover_tests(assay_cuda_host_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
  add_executable(assay_cuda_bench ${CMAKE_SOURCE_DIR}/benchmarks/kernels/cuda_bench.cpp
                 ${CMAKE_SOURCE_DIR}/benchmarks/kernels/gemv_variants.cu)
  set_target_properties(assay_cuda_bench PROPERTIES CUDA_STANDARD 17)
  target_link_libraries(assay_cuda_bench PRIVATE assay_engines_cuda assay_engines_local_files CUDA::cudart CUDA::cublas)
endif()
