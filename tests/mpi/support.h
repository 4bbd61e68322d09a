// What the MPI suites share: the collective timeout of their communicators.
#pragma once

namespace pride::test {

// A desynchronized test fails after this long instead of hanging CI.
constexpr double kTestTimeoutS = 60;

}  // namespace pride::test
