#pragma once
// Merging (M-TIP step 3): the autocorrelation that best explains the data at the matched
// orientations, from the Tikhonov-regularised normal equations
//
//   (A* D A + lambda I) x = A* D b + lambda x0,
//
// A the type-2 NUFFT from the autocorrelation grid to the data's oriented pixels
// (I(s) = sum_l A(l) exp(i l . x_s), x = pi R^T s / s_ext: the convention of
// slicing/slicing.hpp), D per-pixel weights, b the measured intensities, x0 the previous
// estimate. x is real (an autocorrelation), so the real parts of A*Db and of A*DA are used
// (the gradient of sum D |Ax - b|^2 over real x); both are even in l, so Friedel symmetry
// holds by construction.
//
// A*DA is a Toeplitz operator: its kernel K(m) = sum_j D_j exp(-i m . x_j), m in
// [-(n-1), n-1]^3, is ONE type-1 NUFFT of the weights per generation; each application is
// then an FFT convolution on an L^3 grid, L >= 2n - 1 (O(n^3 log n), no NUFFT inside CG).
// A*Db and K are sums over points: accumulate() adds a chunk of points (one rank's images,
// one batch), and rhs()/kernel() expose the sums so MPI ranks can allreduce them before
// solve(); the result does not depend on how the points were split.
//
// lambda = regularisation * K(0): relative to the diagonal of A*DA,
// which is K(0) = sum_j D_j for every voxel: the same for one rank or many, and it scales
// with the amount of data so the setting means the same for 100 or 100,000 images.
#include <complex>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/fft.hpp"

namespace spire::merging {

struct Options {
  double tolerance = 1e-6;        // NUFFT tolerance (type 1 onto the grid and the kernel)
  int cg_iterations = 100;
  double cg_tolerance = 1e-6;     // relative residual |r| / |rhs|
  double regularisation = 1e-3;   // lambda relative to the diagonal of A*DA
  int threads = 0;                // 0: every OpenMP thread
  Planning planning = Planning::measure;
};

struct Solution {
  std::vector<double> autocorrelation;  // n^3, NUFFT mode order
  int iterations = 0;
  double residual = 0;                  // relative, at the end
  double lambda = 0;
};

// Conjugate gradients for a symmetric positive definite operator: x holds the start and
// returns the solution. Returns (iterations, relative residual).
std::pair<int, double> conjugate_gradients(
    const std::function<void(const std::vector<double>&, std::vector<double>&)>& apply,
    const std::vector<double>& rhs, std::vector<double>& x, int max_iterations, double tolerance);

// T: precision of the NUFFTs (float or double); the solve is in double.
template <typename T>
class Merger {
 public:
  Merger(std::int64_t n, const Options& options = {});
  ~Merger();
  Merger(Merger&&) noexcept;
  Merger& operator=(Merger&&) noexcept;

  void clear();  // a new generation: zero the sums
  // Points (coordinates in [-pi, pi]), intensities b and weights D (>= 0).
  void accumulate(std::int64_t n_points, const T* x, const T* y, const T* z, const T* values,
                  const T* weights);
  std::span<double> rhs();     // Re A*Db, n^3
  std::span<double> kernel();  // Re K, (2n-1)^3, mode order

  // The Toeplitz operator x -> Re A*DA x (n^3 real), for tests and for CG.
  void apply_normal(const std::vector<double>& x, std::vector<double>& out);
  // mask (n^3, 1 inside): voxels outside are held at 0; empty: no support constraint.
  Solution solve(std::span<const double> x0, std::span<const std::uint8_t> mask = {});

  std::int64_t n() const;
  std::int64_t convolution_size() const;  // L

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class Merger<float>;
extern template class Merger<double>;

}  // namespace spire::merging
