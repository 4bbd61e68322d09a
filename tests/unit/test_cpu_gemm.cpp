// batched_matmul (src/models/cpu_gemm.h): the products attention's written-out math takes on the
// CPU, through BLAS with no operator dispatched, against torch::matmul in double.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "models/cpu_gemm.h"
#include "training/op_counter.h"

namespace pride {
namespace {

double relative_error(const torch::Tensor& got, const torch::Tensor& expected) {
  const auto wide = expected.to(torch::kDouble);
  return (got.to(torch::kDouble) - wide).norm().item<double>() / wide.norm().item<double>();
}

// x [..., rows, cols] laid out as attention makes its operands: `layout` 0 contiguous, 1 a
// transposed view of contiguous [..., cols, rows], 2 a slice of wider rows (row stride > cols).
torch::Tensor operand(std::vector<int64_t> sizes, int layout, torch::ScalarType type) {
  const int64_t cols = sizes.back();
  if (layout == 1) {
    std::swap(sizes[sizes.size() - 2], sizes.back());
    return torch::randn(sizes, type).transpose(-2, -1);
  }
  if (layout == 2) {
    sizes.back() = cols + 3;
    return torch::randn(sizes, type).narrow(-1, 1, cols);
  }
  return torch::randn(sizes, type);
}

// Every combination of transposes and operand layouts, float and double: the products equal
// torch::matmul's (float: to float rounding of the double product), and dispatch nothing.
TEST(CpuGemm, BatchedMatmulEqualsMatmulAndDispatchesNothing) {
  torch::manual_seed(1);
  const int64_t m = 7, k = 5, n = 6;
  for (const auto type : {torch::kFloat, torch::kDouble}) {
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        for (int layout = 0; layout < 3; ++layout) {
          const auto a =
              operand(ta ? std::vector<int64_t>{2, 3, k, m} : std::vector<int64_t>{2, 3, m, k},
                      layout, type);
          const auto b =
              operand(tb ? std::vector<int64_t>{2, 3, n, k} : std::vector<int64_t>{2, 3, k, n},
                      2 - layout, type);
          OpCounter counter;
          const auto got = batched_matmul(a, b, ta, tb);
          const OpCounts counts = counter.stop();
          const auto wide = [](const torch::Tensor& x, bool t) {
            return (t ? x.transpose(-2, -1) : x).to(torch::kDouble);
          };
          const auto expected = torch::matmul(wide(a, ta), wide(b, tb));
          ASSERT_EQ(got.sizes(), expected.sizes());
          EXPECT_EQ(got.scalar_type(), type);
          EXPECT_LT(relative_error(got, expected), type == torch::kFloat ? 1e-6 : 1e-14)
              << ta << tb << layout;
          if (batched_matmul_has_blas()) {
            EXPECT_EQ(counts.total_dispatches(), 0) << counts.summary().dump();
          }
        }
      }
    }
  }
}

// Where BLAS cannot take the product, torch::matmul does, with the same values: operands whose
// matrices have no unit stride, leading dimensions that broadcast, and inputs autograd records
// (the product then has its gradient).
TEST(CpuGemm, FallsBackToMatmulWhereBlasCannotTakeIt) {
  torch::manual_seed(2);
  const auto strided = torch::randn({2, 8, 10}).slice(-1, 0, 10, 2).slice(-2, 0, 8, 2);  // [2,4,5]
  const auto b = torch::randn({2, 5, 3});
  EXPECT_LT(relative_error(batched_matmul(strided, b), torch::matmul(strided, b)), 1e-6);
  const auto broadcast = torch::randn({1, 5, 3});
  EXPECT_LT(relative_error(batched_matmul(strided, broadcast), torch::matmul(strided, broadcast)),
            1e-6);
  const auto leaf = torch::randn({2, 4, 5}, torch::requires_grad());
  auto product = batched_matmul(leaf, b);
  ASSERT_TRUE(product.requires_grad());
  product.sum().backward();
  EXPECT_LT(relative_error(leaf.grad(), b.sum(-1).unsqueeze(1).expand({2, 4, 5})), 1e-6);
}

}  // namespace
}  // namespace pride
