# Every dependency comes from a Debian package (scripts/setup installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(simdjson REQUIRED)
find_package(TBB REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json context)
find_package(GTest REQUIRED)
find_package(benchmark QUIET)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

# CUDA is optional: AUTO builds it when nvcc and cuBLAS are found.
set(ASSAY_HAVE_CUDA OFF)
if(NOT ASSAY_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # sm_90 code for H100/H200, plus PTX for anything newer (compute_90) and, as the generic
    # fallback, for Ampere and Ada (compute_80, compiled by the driver at first use; cuBLAS's
    # BF16 GEMMs need sm_80 anyway), unless the user chose. Set before
    # enable_language: after it the variable holds nvcc's own default (sm_52 for CUDA 12, sm_75
    # for CUDA 13), which the check here once took for "unset" only when it was 52, so CUDA 13
    # builds carried sm_75 code and PTX that the H200 JIT-compiled.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual;80-virtual" CACHE STRING "CUDA architectures")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublas)
      set(ASSAY_HAVE_CUDA ON)
    endif()
  endif()
  if(ASSAY_CUDA STREQUAL "ON" AND NOT ASSAY_HAVE_CUDA)
    message(FATAL_ERROR "ASSAY_CUDA=ON but nvcc or cuBLAS was not found")
  endif()
endif()
message(STATUS "assay: CUDA backend ${ASSAY_HAVE_CUDA}")
