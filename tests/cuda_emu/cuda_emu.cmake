# cuda-emu (tests/cuda_emu/include/cuda_emu.h): the CUDA backend's sources and its GPU tests,
# built against a CPU emulation of the CUDA runtime, the kernels' execution model and cuBLAS.
# No nvcc or GPU needed: CI runs the GPU tests' logic here (label unit, test names emu.*); the
# real GPU run (benchmarks/device_check.sh) stays the check of the device itself.
set(emu_dir ${CMAKE_SOURCE_DIR}/tests/cuda_emu)
set(emu_gen ${CMAKE_BINARY_DIR}/cuda_emu)
file(MAKE_DIRECTORY ${emu_gen}/engines/local/cuda)
# Every .cu and .cuh, rewritten into the same relative paths under ${emu_gen}, which comes first
# on the include path: the kernels' launches in headers are rewritten too.
file(GLOB cuda_files CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/engines/local/cuda/*.cu ${CMAKE_SOURCE_DIR}/engines/local/cuda/*.cuh)
set(emu_kernel_srcs)
set(emu_headers)
foreach(f ${cuda_files})
  get_filename_component(name ${f} NAME)
  set(out ${emu_gen}/engines/local/cuda/${name})
  if(name MATCHES "\\.cu$")
    set(out ${out}.cpp)
    list(APPEND emu_kernel_srcs ${out})
  else()
    list(APPEND emu_headers ${out})
  endif()
  add_custom_command(OUTPUT ${out} COMMAND python3 ${emu_dir}/emu_source.py ${f} ${out}
                     DEPENDS ${f} ${emu_dir}/emu_source.py COMMENT "cuda-emu: ${name}")
endforeach()
add_custom_target(assay_cuda_emu_sources DEPENDS ${emu_headers})

# nvcc's device pass defines __CUDACC__ too (the headers guard their kernels with it).
set_source_files_properties(${emu_kernel_srcs} PROPERTIES COMPILE_DEFINITIONS __CUDACC__)

add_library(assay_cuda_emu STATIC ${emu_dir}/emu_runtime.cpp)
target_include_directories(assay_cuda_emu BEFORE PUBLIC ${emu_dir}/include)
target_compile_options(assay_cuda_emu PUBLIC -ffp-contract=off)
target_link_libraries(assay_cuda_emu PUBLIC Boost::context TBB::tbb)

# The backend exactly as engines/CMakeLists.txt builds it, but every file as device code
# (__CUDA_ARCH__), so kernels and __host__ __device__ helpers take their device branches.
add_library(assay_engines_cuda_emu STATIC ${emu_kernel_srcs} ${CMAKE_SOURCE_DIR}/engines/local/cuda/cuda_ops.cpp)
target_compile_definitions(assay_engines_cuda_emu PRIVATE __CUDA_ARCH__=900 PUBLIC ASSAY_HAVE_CUDA=1)
# -fno-strict-aliasing: kernels read vector loads through other types (uint4 as __half2), as CUDA
# code does and nvcc allows.
target_compile_options(assay_engines_cuda_emu PRIVATE -Wno-unknown-pragmas -Wno-unused-local-typedefs -fno-strict-aliasing)
target_include_directories(assay_engines_cuda_emu BEFORE PRIVATE ${emu_gen})
target_link_libraries(assay_engines_cuda_emu PUBLIC assay_engines_cpu assay_cuda_emu)
add_dependencies(assay_engines_cuda_emu assay_cuda_emu_sources)

add_executable(assay_cuda_emu_tests ${CMAKE_SOURCE_DIR}/tests/engines/local/cuda/cuda_ops_test.cpp)
target_link_libraries(assay_cuda_emu_tests PRIVATE assay_engines_cuda_emu assay_engines_local_files
                      assay_test_support GTest::gtest_main GTest::gmock)
gtest_discover_tests(assay_cuda_emu_tests TEST_PREFIX emu. DISCOVERY_TIMEOUT 60 PROPERTIES LABELS emu)
