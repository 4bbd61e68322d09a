// Batched matrix products on the CPU straight through BLAS: LibTorch 1.13's CPU bmm, for matrices
// of the size attention multiplies, dispatches three or four operators per batch entry (selects
// of each operand and of the result, resolve_conj) around the same gemm call (about 290
// operators for 32 entries, issue 22's "dispatches at any depth"). These call cblas_?gemm per
// entry with the operands' strides, and dispatch nothing.
#pragma once

#include <torch/torch.h>

namespace pride {

// a [..., m, k] times b [..., k, n] -> [..., m, n], the leading dimensions equal (no broadcasting);
// `transpose_a` / `transpose_b`: the product reads a^T / b^T of the last two dimensions instead
// (a [..., k, m], b [..., n, k]). Through BLAS, with no operator dispatched, where the build has
// CBLAS and the operands are float or double CPU tensors of one type whose matrices each have one
// unit stride (any views of contiguous data as attention makes them), and autograd records
// nothing (inside an autograd function); else torch::matmul.
torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b,
                             bool transpose_a = false, bool transpose_b = false);

// Whether this build has CBLAS (PRIDE_WITH_CBLAS: libblas-dev's cblas.h and libblas were found).
bool batched_matmul_has_blas();

}  // namespace pride
