# assay_library(NAME DIR [DEPS ...]): a static library from DIR/*.cpp (not recursive).
# Subfolders are libraries of their own, so one half-written module never breaks another.
function(assay_library name dir)
  cmake_parse_arguments(ARG "" "" "DEPS;EXTRA" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  list(FILTER srcs EXCLUDE REGEX ".*_test\\.cpp$|.*_fuzz\\.cpp$|/main\\.cpp$")
  if(srcs OR ARG_EXTRA)
    add_library(${name} STATIC ${srcs} ${ARG_EXTRA})
    target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
  endif()
  # DIR/*_fuzz.cpp are libFuzzer entry points over this library (built with ASSAY_FUZZ=ON).
  if(ASSAY_FUZZ)
    file(GLOB fuzzers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*_fuzz.cpp)
    foreach(f ${fuzzers})
      get_filename_component(fname ${f} NAME_WE)
      add_executable(${fname} ${f})
      target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
      target_link_libraries(${fname} PRIVATE ${name})
      # All fuzz targets side by side at the build root, where scripts/fuzz runs them.
      set_target_properties(${fname} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
    endforeach()
  endif()
endfunction()

# assay_tests(NAME DIR [DEPS ...] [LABEL L]): one gtest binary from tests/DIR/*_test.cpp, its
# tests labelled L (default unit). One label only: gtest_discover_tests' PROPERTIES splits a list
# and would keep just the first.
function(assay_tests name dir)
  cmake_parse_arguments(ARG "" "LABEL" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${dir}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} assay_test_support GTest::gtest_main GTest::gmock)
  set(label unit)
  if(ARG_LABEL)
    set(label ${ARG_LABEL})
  endif()
  # Paths reach tests as compile definitions of assay_test_support (tests/support/test_env.h).
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${label})
endfunction()

