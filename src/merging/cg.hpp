#pragma once
// Conjugate gradients for M x = b, M symmetric positive (semi-)definite, written once over a
// back end's vector operations: the CPU's (host arrays, OpenMP) and the GPU's (device
// arrays, kernels). The iteration only sequences the operations and keeps the scalars.
//
// Contract:
//  - Vectors are S* handles (S float or double) of one length, passed through to the
//    operations and never dereferenced here, so they may be device memory.
//  - Start from the x given (a warm start). Every scalar (|b|, r.r, p.q) is a double; alpha
//    and beta are rounded to S before they scale a vector.
//  - Stopping rule: |r| <= tolerance * |b| for the recursive residual r, or max_iterations
//    applications of M in the loop, or p.q <= 0 (p in M's null space: nothing more to gain).
//  - Preconditioned (PCG) when Ops has precondition(r, z): z = C r with C symmetric positive
//    definite (an approximate inverse of M); the search directions are then C-conjugate and
//    the iterates minimise the same energy, in fewer iterations where C is a good inverse.
//    The stopping rule stays on the unpreconditioned residual |r|. Without it the
//    arithmetic is plain CG's, bit for bit.
//  - b = 0: x <- 0, converged, no application of M.
//  - Afterwards M is applied once more to report the true residual |b - M x| / |b|.
//
// Ops must provide, for S* vectors a, b, ... (in: read, out: written):
//   void apply(const S* in, S* out);           out = M in
//   double dot(const S* a, const S* b);        sum a_i b_i, products and sum in double
//   void zero(S* x);                           x = 0
//   void start(const S* b, const S* q, S* r, S* p);         r = b - q in S, p = r
//   void step(S alpha, const S* p, const S* q, S* x, S* r);  x += alpha p, r -= alpha q
//   void direction(S beta, const S* r, S* p);                p = r + beta p
//   double distance2(const S* b, const S* q, S* r);  |b - q|^2 summed in double (the
//                                                     difference in S or double); r scratch
// and, optionally (then the workspace z must be given):
//   void precondition(const S* r, S* z);       z = C r
#include <cmath>
#include <functional>
#include <span>

#include "core/error.hpp"

namespace spire::merging {

struct CgResult {
  int iterations = 0;
  double residual = 0;  // |b - M x| / |b|, recomputed from x at the end (0 when b = 0)
  bool converged = false;
};

template <typename Ops, typename S>
concept Preconditioned = requires(Ops& ops, const S* r, S* z) { ops.precondition(r, z); };

// b: the right-hand side; x: the start in, the solution out; r, p, q (and z, preconditioned
// only): workspace.
template <typename S, typename Ops>
CgResult conjugate_gradient(Ops& ops, const S* b, S* x, S* r, S* p, S* q, int max_iterations,
                            double tolerance, S* z = nullptr) {
  constexpr bool preconditioned = Preconditioned<Ops, S>;
  if (max_iterations < 0 || !(tolerance >= 0)) fail("CG: bad iteration limit or tolerance");
  if (preconditioned && z == nullptr) fail("CG: a preconditioned solve needs the workspace z");
  CgResult result;
  const double b_norm = std::sqrt(ops.dot(b, b));
  if (b_norm == 0) {
    ops.zero(x);
    result.converged = true;
    return result;
  }
  ops.apply(x, q);
  ops.start(b, q, r, p);
  double rr = ops.dot(r, r);
  double rz = rr;  // r.Cr (r.r without a preconditioner)
  if constexpr (preconditioned) {
    ops.precondition(r, p);
    rz = ops.dot(r, p);
  }
  const double stop = tolerance * b_norm;
  while (std::sqrt(rr) > stop && result.iterations < max_iterations) {
    ops.apply(p, q);
    ++result.iterations;
    const double pq = ops.dot(p, q);
    if (!(pq > 0)) break;  // p in M's null space: nothing more to gain
    ops.step(static_cast<S>(rz / pq), p, q, x, r);
    rr = ops.dot(r, r);
    if constexpr (preconditioned) {
      ops.precondition(r, z);
      const double rz_new = ops.dot(r, z);
      const S beta = static_cast<S>(rz_new / rz);
      rz = rz_new;
      ops.direction(beta, z, p);
    } else {
      const S beta = static_cast<S>(rr / rz);
      rz = rr;
      ops.direction(beta, r, p);
    }
  }
  result.converged = std::sqrt(rr) <= stop;
  // The recursive residual drifts from the true one in finite precision: report the true one.
  ops.apply(x, q);
  result.residual = std::sqrt(ops.distance2(b, q, r)) / b_norm;
  return result;
}

// On host arrays, M given as apply_m(in, out): out = M in (merging.cpp's Toeplitz solves,
// tests), preconditioned by precondition(r, z): z = C r where that is given. Updates and dot
// products run on omp_get_max_threads() threads.
template <typename S>
CgResult conjugate_gradient(const std::function<void(const S*, S*)>& apply_m,
                            std::span<const S> b, std::span<S> x, int max_iterations,
                            double tolerance, const std::function<void(const S*, S*)>& precondition = {});

}  // namespace spire::merging
