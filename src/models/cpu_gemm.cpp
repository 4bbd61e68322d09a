// Batched matrix products through CBLAS (see cpu_gemm.h): one gemm call per batch entry, the
// operands read in place through their strides, the result allocated without a dispatch.
#include "models/cpu_gemm.h"

#include <ATen/EmptyTensor.h>

#include <algorithm>
#include <limits>
#include <vector>

#ifndef PRIDE_WITH_CBLAS
#define PRIDE_WITH_CBLAS 0
#endif
#if PRIDE_WITH_CBLAS
#include <cblas.h>
#endif

namespace pride {
namespace {

#if PRIDE_WITH_CBLAS
// How BLAS reads one operand: its matrices as row-major [rows, cols] with leading dimension `ld`,
// transposed or not, at the operand's data plus each batch entry's offset.
struct BlasOperand {
  bool usable = false;
  bool transposed = false;  // BLAS transposes the stored matrix to get the logical one
  int64_t ld = 0;
};

// The logical matrix is x's last two dimensions, transposed when `transpose`. x's matrices may be
// stored row-major (unit stride along the last dimension) or column-major (unit stride along the
// rows: a transposed view), with the other stride as the leading dimension.
BlasOperand blas_operand(const torch::Tensor& x, bool transpose) {
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const int64_t row_stride = x.stride(-2), col_stride = x.stride(-1);
  if (cols == 1 || col_stride == 1) {  // row-major [rows, cols]
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : row_stride;
    return {ld >= std::max<int64_t>(cols, 1), transpose, ld};
  }
  if (rows == 1 || row_stride == 1) {  // x^T is row-major [cols, rows]
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : col_stride;
    return {ld >= std::max<int64_t>(rows, 1), !transpose, ld};
  }
  return {};
}

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float* c) {
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
              transpose_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
}
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const double* a,
          int64_t lda, const double* b, int64_t ldb, double* c) {
  cblas_dgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
              transpose_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n);
}

// The offset of batch entry `index` (row-major over the leading dimensions) in x, in elements.
int64_t batch_offset(const torch::Tensor& x, int64_t index) {
  int64_t offset = 0;
  for (int64_t dim = x.dim() - 3; dim >= 0; --dim) {
    offset += (index % x.size(dim)) * x.stride(dim);
    index /= x.size(dim);
  }
  return offset;
}

template <typename T>
torch::Tensor blas_product(const torch::Tensor& a, const torch::Tensor& b, bool transpose_a,
                           bool transpose_b) {
  const auto op_a = blas_operand(a, transpose_a), op_b = blas_operand(b, transpose_b);
  const int64_t m = transpose_a ? a.size(-1) : a.size(-2);
  const int64_t k = transpose_a ? a.size(-2) : a.size(-1);
  const int64_t n = transpose_b ? b.size(-2) : b.size(-1);
  auto sizes = a.sizes().vec();
  sizes[sizes.size() - 2] = m;
  sizes[sizes.size() - 1] = n;
  at::Tensor out(at::detail::empty_cpu(sizes, a.scalar_type()));
  const int64_t entries = out.numel() / std::max<int64_t>(m * n, 1);
  const T* a_data = a.data_ptr<T>();
  const T* b_data = b.data_ptr<T>();
  T* out_data = out.data_ptr<T>();
  for (int64_t i = 0; i < entries; ++i) {
    gemm(op_a.transposed, op_b.transposed, m, n, k, a_data + batch_offset(a, i), op_a.ld,
         b_data + batch_offset(b, i), op_b.ld, out_data + i * m * n);
  }
  return out;
}

// Whether BLAS can take the product: see cpu_gemm.h. Not where autograd would record it (the
// result would have no gradient function).
bool blas_takes(const torch::Tensor& a, const torch::Tensor& b, bool transpose_a,
                bool transpose_b) {
  const auto type = a.scalar_type();
  if (!a.device().is_cpu() || !b.device().is_cpu() || b.scalar_type() != type ||
      (type != torch::kFloat && type != torch::kDouble) || a.dim() < 2 || a.dim() != b.dim() ||
      a.numel() == 0 || b.numel() == 0 ||
      (torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()))) {
    return false;
  }
  for (int64_t dim = 0; dim + 2 < a.dim(); ++dim) {
    if (a.size(dim) != b.size(dim)) return false;
  }
  const int64_t inner_a = transpose_a ? a.size(-2) : a.size(-1);
  const int64_t inner_b = transpose_b ? b.size(-1) : b.size(-2);
  const auto op_a = blas_operand(a, transpose_a), op_b = blas_operand(b, transpose_b);
  // CBLAS takes int sizes and leading dimensions.
  const int64_t largest =
      std::max({a.size(-2), a.size(-1), b.size(-2), b.size(-1), op_a.ld, op_b.ld});
  return inner_a == inner_b && op_a.usable && op_b.usable &&
         largest <= std::numeric_limits<int>::max();
}
#endif

}  // namespace

bool batched_matmul_has_blas() {
  return PRIDE_WITH_CBLAS != 0;
}

torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b, bool transpose_a,
                             bool transpose_b) {
#if PRIDE_WITH_CBLAS
  if (blas_takes(a, b, transpose_a, transpose_b)) {
    return a.scalar_type() == torch::kFloat ? blas_product<float>(a, b, transpose_a, transpose_b)
                                            : blas_product<double>(a, b, transpose_a, transpose_b);
  }
#endif
  auto logical = [](const torch::Tensor& x, bool transpose) {
    return transpose ? x.transpose(-2, -1) : x;
  };
  return torch::matmul(logical(a, transpose_a), logical(b, transpose_b));
}

}  // namespace pride
