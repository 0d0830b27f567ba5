# The report's acceptance test in headless Chromium (docs/reports.md). Labelled `browser` and not
# `unit`: it runs in the main ctest pass, not in the sanitizer pass (`-L unit`), where a 28,000-
# sample evaluation under ASan would only re-check what the unit tests of reports/ already cover.
# (assay_tests' LABELS cannot carry a second label through gtest_discover_tests' PROPERTIES.)
file(GLOB report_browser_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/reports/browser/*_test.cpp)
add_executable(assay_report_browser_tests ${report_browser_srcs})
target_link_libraries(assay_report_browser_tests PRIVATE assay_reports assay_tasks assay_test_support
                      GTest::gtest_main)
gtest_discover_tests(assay_report_browser_tests DISCOVERY_TIMEOUT 60
                     PROPERTIES LABELS browser TIMEOUT 300)
