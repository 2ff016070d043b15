#pragma once
// 3D non-uniform FFTs of type 1 and type 2, in float and double (FINUFFT's plan lifecycle).
//
//   type 1 (points -> modes):  f[k] = sum_j c[j] exp(sign i k . x_j)
//   type 2 (modes -> points):  c[j] = sum_k f[k] exp(sign i k . x_j)
//
// Modes: N1 x N2 x N3, k_d = -floor(N_d/2) .. ceil(N_d/2)-1 ascending, k1 fastest:
//   f[(k1 + N1/2) + N1 * ((k2 + N2/2) + N2 * (k3 + N3/2))]   (integer division)
// so for N = 81 the modes run -40..40 and the zero mode sits at index 40 of each axis.
// Points: x, y, z in [-3 pi, 3 pi) (periodic with period 2 pi); anything outside, or NaN,
// is rejected with an error naming the point.
//
// Lifecycle: Plan(...) chooses the kernel and plans the FFT (FFTW_MEASURE, wisdom cached);
// set_points(...) sorts the points into bins once; execute(...) runs as often as needed,
// on one vector or a batch. The relative l2 error stays within a small factor of the
// requested tolerance (tests check it against a direct sum).
#include <array>
#include <complex>
#include <cstdint>
#include <memory>

#include "core/fft.hpp"
#include "nufft/kernel.hpp"

namespace spire::nufft {

struct Options {
  double upsampling = 2.0;  // 2.0 (fastest) or about 1.25 (fine grid about 4x smaller)
  int threads = 0;          // 0: every OpenMP thread
  Planning planning = Planning::measure;
  bool simd = true;         // false: the plain scalar path (exact kernel), for tests
};

template <typename T>
class Plan;

// Points sorted into one plan's bins, rescaled to its fine grid: made by Plan::sort_points,
// usable with any plan of the same modes, upsampling and tolerance (checked). A plan can
// thus serve many fixed point sets (one per batch of reference orientations) with one
// fine grid and one FFT plan. Cheap to copy (shared, immutable).
template <typename T>
class Points {
 public:
  Points() = default;
  std::int64_t size() const;

 private:
  friend class Plan<T>;
  struct Data;
  std::shared_ptr<Data> d_;  // written only by sort_points, and only while no other copy holds it
};

template <typename T>
class Plan {
 public:
  using complex = std::complex<T>;

  Plan(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
       const Options& options = {});
  ~Plan();
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;

  // Sorts the points into bins and keeps them (rescaled to the fine grid, in bin order).
  // The caller's arrays are not referenced afterwards.
  void set_points(std::int64_t n_points, const T* x, const T* y, const T* z);
  // The same sorting, returned instead of kept: for plans that serve several point sets.
  // reuse: a point set the caller no longer needs; where no other copy holds it, its
  // storage is reused (sorting batch after batch then allocates nothing new).
  Points<T> sort_points(std::int64_t n_points, const T* x, const T* y, const T* z, Points<T> reuse = {}) const;

  // batch vectors, each n_points() values in c and n_modes() values in f, contiguous.
  // type 1 reads c and writes f; type 2 reads f and writes c.
  void execute(complex* c, complex* f, int batch = 1);
  // The same on a point set from sort_points (c holds points.size() values per vector).
  void execute(const Points<T>& points, complex* c, complex* f, int batch = 1);
  // Type 2 on one vector with the gradient in the points' coordinates beside the values:
  //   gradient[3 j + d] = d c[j] / d x_d = sum_k f[k] (sign i k_d) exp(sign i k . x_j),
  // from the kernel's derivative on the same fine grid in the same pass: one FFT, the
  // interpolation 3.5-3.9x a plain execute's (three times its arithmetic; bench/nufft). Its
  // error is relative to the largest |k| |f[k]|, within a small factor of the tolerance.
  void execute_with_gradient(const Points<T>& points, complex* c, complex* gradient, complex* f);

  // Type 1 in parts, for more points than are worth sorting at once: spread_add() spreads
  // each part onto the fine grid, adding to what is there; finish() does the FFT and the
  // kernel correction once, writes f (one vector) and clears the grid for the next sum.
  // The result equals one execute() over all the parts' points, at the cost of one FFT.
  void spread_add(const Points<T>& points, const complex* c);
  void finish(complex* f);

  int type() const;
  std::int64_t n_points() const;
  std::int64_t n_modes() const;
  std::array<std::int64_t, 3> modes() const;
  std::array<std::int64_t, 3> fine_grid() const;
  const KernelParams& kernel() const;
  int threads() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

extern template class Points<float>;
extern template class Points<double>;
extern template class Plan<float>;
extern template class Plan<double>;

// Direct sums, O(points x modes): the independent reference the tests compare against.
// Accumulate in double whatever T is.
template <typename T>
void direct_type1(std::int64_t n, const T* x, const T* y, const T* z,
                  const std::complex<T>* c, int sign, std::array<std::int64_t, 3> modes,
                  std::complex<T>* f);
template <typename T>
void direct_type2(std::int64_t n, const T* x, const T* y, const T* z, std::complex<T>* c,
                  int sign, std::array<std::int64_t, 3> modes, const std::complex<T>* f);

}  // namespace spire::nufft
