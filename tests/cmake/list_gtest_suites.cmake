# Run by ctest (through TEST_INCLUDE_FILES, see gtest_suites.cmake) with `binary`, `prefix`,
# `timeout` and `environment` set: adds one test per suite that --gtest_list_tests prints. A binary
# that is missing or cannot list its tests becomes one failing entry that says so.

if(NOT EXISTS "${binary}")
  add_test("${prefix}NOT_BUILT" "${binary}")
  return()
endif()
execute_process(COMMAND "${binary}" --gtest_list_tests OUTPUT_VARIABLE listing
  RESULT_VARIABLE status TIMEOUT 120)
if(NOT status EQUAL 0)
  add_test("${prefix}CANNOT_LIST_TESTS" "${binary}" --gtest_list_tests)
  return()
endif()

string(REPLACE "\n" ";" lines "${listing}")
foreach(line IN LISTS lines)
  # Suite lines start in column 0 and end with a dot ("Suite." or "Instance/Suite.", followed by
  # a "# TypeParam" comment for typed suites); case lines are indented.
  if(line MATCHES "^([^ #][^ ]*)\\.")
    set(suite "${CMAKE_MATCH_1}")
    add_test("${prefix}${suite}" "${binary}" "--gtest_filter=${suite}.*")
    set_tests_properties("${prefix}${suite}" PROPERTIES TIMEOUT "${timeout}"
      ENVIRONMENT "${environment}")
  endif()
endforeach()
