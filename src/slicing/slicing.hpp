#pragma once
// Slicing (M-TIP step 1): model diffraction images of the current autocorrelation at every
// reference orientation.
//
//   slice_k(p) = Re sum_l A(l) exp(i l . x_kp),   x_kp = pi R_k^T s_p / s_ext
//
// A is the real autocorrelation on an n^3 grid in NUFFT mode order (index l + n/2 per axis,
// x fastest); s_p the pixels' reciprocal positions; s_ext the largest |s_p|, so every
// component of x lies in [-pi, pi] and the real-space voxel is 1 / (2 s_ext). R_k^T s is
// where the particle rotated by R_k scatters in its own frame (simulate/simulate.hpp uses
// the same convention), so a data image taken at orientation q matches the slice of q.
//
// The rotated pixel positions never change during a run: they are sorted into the NUFFT's
// bins once, at construction, one point set per batch of `batch_size` references, all
// served by one NUFFT plan (one fine grid, one FFT plan). Every generation only executes.
// Memory: about (3 sizeof(T) + 8) bytes per reference and pixel for the sorted points,
// plus the fine grid (2n)^3 complex values. With keep_points = false only one batch's points
// exist at a time: each slice_batch() rotates and sorts its batch again (for reference sets
// whose points do not fit, docs/nufft.md, and for local refinement's orientations, each
// sliced once). The sort pays for itself even for points used once: interpolating a batch
// in the pixels' order, unsorted, took 1.6x as long as sorting and interpolating
// (docs/speed.md).
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/fft.hpp"
#include "geometry/orientations.hpp"

namespace spire::slicing {

struct Options {
  std::int64_t batch_size = 1000;  // references per NUFFT execution (and per matching GEMM)
  double tolerance = 1e-5;         // NUFFT tolerance
  int threads = 0;                 // 0: every OpenMP thread
  bool keep_points = true;         // sort each batch's points once (false: every slice_batch)
  Planning planning = Planning::measure;  // of the NUFFT's FFT (core/fft.hpp)
};

// x = pi R^T s / s_ext for every pixel of one orientation, appended to xs, ys, zs.
template <typename T>
void rotated_points(const geometry::Quaternion& q, std::span<const std::array<double, 3>> pixels,
                    double s_ext, std::vector<T>& xs, std::vector<T>& ys, std::vector<T>& zs);

template <typename T>
class Slicer {
 public:
  Slicer(std::span<const geometry::Quaternion> references,
         std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
         const Options& options = {});
  ~Slicer();
  Slicer(Slicer&&) noexcept;
  Slicer& operator=(Slicer&&) noexcept;

  // Other orientations (any number), the same pixels, grid and plan: for callers that slice
  // new orientations again and again (local refinement), so that the plan, the fine grid
  // and the point buffers are made once. With keep_points the batches are sorted at once.
  void set_references(std::span<const geometry::Quaternion> references);
  // Per pixel, a factor every slice value (and gradient) of that pixel is multiplied by: the
  // number of detector pixels a pixel stands for (matching::ImageSet::pixel_weights), so that
  // slices are expected counts per cell; empty (the default): 1. slice_subsets, whose
  // positions come from any table, is not weighted. Positive and finite, n_pixels of them.
  void set_pixel_weights(std::span<const T> weights);
  // Once per generation: the autocorrelation the slices are taken of (n^3 values).
  void set_autocorrelation(std::span<const T> autocorrelation);
  // Slices of batch b: batch_count(b) x n_pixels() values, reference-major.
  void slice_batch(std::int64_t b, T* out);
  // The same slices and their gradients in x (the NUFFT coordinates above):
  //   gradient[3 (k P + p) + d] = d slice_k(p) / d x_d = Re sum_l A(l) i l_d exp(i l . x_kp),
  // in the same interpolation pass as the values (nufft::Plan::execute_with_gradient: its
  // interpolation 3.5-3.9x slice_batch's, the sort shared), within a small factor of the
  // NUFFT's tolerance relative to the largest |l| |A(l)|. For local refinement's Gauss-Newton steps
  // (matching/refine.hpp): turning orientation q to q exp(v) moves x to x + x x v to first
  // order, so d slice / d v = gradient x x.
  void slice_batch_with_gradient(std::int64_t b, T* values, T* gradient);
  // Slices at chosen positions instead of every pixel, in one NUFFT execution (the caller
  // batches): orientation k at table[indices[j]] for j in [offsets[k], offsets[k+1]), written
  // to out[j]. table holds reciprocal positions with |s| <= s_ext (the pixels or any others:
  // local refinement's photon pixels and detector cells, matching/refine.hpp); offsets has
  // orientations.size() + 1 entries, from 0 to indices.size(). Independent of the reference
  // set and its batches; the rotations run on the slicer's threads.
  void slice_subsets(std::span<const geometry::Quaternion> orientations, std::span<const std::int64_t> offsets,
                     std::span<const std::int32_t> indices, std::span<const std::array<double, 3>> table, T* out);

  std::int64_t n_references() const;
  std::int64_t n_pixels() const;
  std::int64_t n_batches() const;
  std::int64_t batch_first(std::int64_t b) const;
  std::int64_t batch_count(std::int64_t b) const;

 private:
  void check_batch(std::int64_t b) const;  // a batch that exists, and the autocorrelation set
  struct State;
  std::unique_ptr<State> s_;
};

extern template class Slicer<float>;
extern template class Slicer<double>;

}  // namespace spire::slicing
