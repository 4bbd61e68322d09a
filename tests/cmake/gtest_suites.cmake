# Registers a GoogleTest binary in ctest with one entry per test suite rather than one per test
# case, for binaries whose start-up is expensive (LibTorch's static initialisers cost about a
# second per process, paid 175 times with one process per case). A failing case is still named in
# the entry's output. `pride_add_gtest_suites(target PREFIX p TIMEOUT s [ENVIRONMENT e...])`
# lists the suites when ctest starts (the binary's --gtest_list_tests), so a suite added to a
# source file is registered without reconfiguring.

set(PRIDE_GTEST_SUITES_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/list_gtest_suites.cmake)

function(pride_add_gtest_suites target)
  cmake_parse_arguments(arg "" "PREFIX;TIMEOUT" "ENVIRONMENT" ${ARGN})
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake)
  file(GENERATE OUTPUT ${include_file} CONTENT
"set(binary \"$<TARGET_FILE:${target}>\")
set(prefix \"${arg_PREFIX}\")
set(timeout \"${arg_TIMEOUT}\")
set(environment \"${arg_ENVIRONMENT}\")
include(\"${PRIDE_GTEST_SUITES_SCRIPT}\")
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
