#pragma once
// GPU NUFFT of type 1 and type 2, 3D, float: the same transforms, conventions, kernel, fine
// grid and correction as src/nufft (nufft.hpp), so the two agree to the tolerance.
//
//   type 1 (points -> modes):  f[k] = sum_j c[j] exp(sign i k . x_j)
//   type 2 (modes -> points):  c[j] = sum_k f[k] exp(sign i k . x_j)
//
// Modes N1 x N2 x N3, k_d = -floor(N_d/2) .. ceil(N_d/2)-1, k1 fastest; points in
// [-3pi, 3pi) (an error names the first point outside, or NaN). Every array here is DEVICE
// memory (complex values as std::complex<float>, layout-compatible with float2), and the
// work is queued on the plan's stream; only sort_points synchronises (it needs the bin
// counts and the range check on the host).
//
// Lifecycle (FINUFFT's): the constructor chooses the kernel (layout.hpp) and plans cuFFT;
// sort_points folds the points to the fine grid, sorts them by bin with CUB's radix sort and
// keeps them with the permutation (DevicePoints, reusable by any plan of the same layout);
// then, as often as needed:
//  - type 2: load_modes(f) deconvolves, pads and FFTs the modes once; interpolate(points, c)
//    evaluates one thread per sorted point with the ES kernel exp(beta (sqrt(1-z^2) - 1)),
//    writing c[perm[j]]; interpolate_real writes only the real part (slicing's images).
//  - type 1: spread_add(points, c) adds the points to the fine grid, by shared-memory
//    subgrids per bin subproblem (layout.shared_spread) or global atomics; finish(f) FFTs,
//    deconvolves into f and clears the grid. Float atomics make the last bits of type 1
//    depend on the order of additions (run to run), well below the tolerance.
//  - execute(points, c, f) is either in one call.
// Widths 2..9 are supported (every float tolerance the CPU NUFFT accepts).
#include <array>
#include <complex>
#include <cstdint>
#include <memory>

#include "cuda/device.hpp"
#include "cuda/layout.hpp"

namespace spire::cuda {

using cfloat = std::complex<float>;

struct DevicePoints {
  std::int64_t n = 0;
  std::array<std::int64_t, 3> nf{};
  int width = 0;
  DeviceBuffer<float> xs, ys, zs;            // folded fine-grid coordinates, in bin order
  DeviceBuffer<std::int32_t> perm;           // sorted position -> caller's index
  DeviceBuffer<Subproblem> subproblems;      // type 1 with shared subgrids
  std::int64_t n_subproblems = 0;
};

class DeviceNufft {
 public:
  DeviceNufft(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
              stream_t stream = nullptr, double upsampling = 2.0);
  ~DeviceNufft();
  DeviceNufft(DeviceNufft&&) noexcept;
  DeviceNufft& operator=(DeviceNufft&&) noexcept;

  // x, y, z: n device floats each. Synchronises the stream.
  DevicePoints sort_points(std::int64_t n, const float* x, const float* y, const float* z);
  void set_points(std::int64_t n, const float* x, const float* y, const float* z);
  const DevicePoints& points() const;

  void execute(cfloat* c, cfloat* f);  // on the points of set_points
  void execute(const DevicePoints& points, cfloat* c, cfloat* f);

  void load_modes(const cfloat* f);                               // type 2
  void interpolate(const DevicePoints& points, cfloat* c) const;  // after load_modes
  void interpolate_real(const DevicePoints& points, float* out) const;

  void spread_add(const DevicePoints& points, const cfloat* c);  // type 1
  void finish(cfloat* f);

  // Tests: spread with global atomics even where the layout allows shared subgrids.
  void force_global_spread(bool on);

  const NufftLayout& layout() const;
  stream_t stream() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Rotated detector points, as slicing::rotated_points on the host (same double arithmetic,
// no FMA contraction, so the floats are identical): for orientation o and pixel p,
//   x[o P + p] = clamp(scale * (R_o^T s_p), -pi, pi),
// R: n_orient row-major 3x3 matrices (device doubles), s: n_pixels x 3 (device doubles).
void rotated_points(std::int64_t n_orient, const double* R, std::int64_t n_pixels, const double* s, double scale,
                    float* x, float* y, float* z, stream_t stream);

// The subproblem size of the shared-memory spreader (points per thread block).
inline constexpr int kMaxSubproblemPoints = 1024;

}  // namespace spire::cuda
