#include <omp.h>

#include <algorithm>
#include <vector>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "nufft/nufft.hpp"
#include "nufft/spread_interp.hpp"

namespace spire::nufft {

template <typename T>
struct Points<T>::Data {
  std::array<std::int64_t, 3> nf{};
  int width = 0;
  std::int64_t n = 0;
  std::int64_t capacity = 0;        // points the arrays below hold room for (>= n)
  std::vector<std::int64_t> start;  // sorted points of bin b: start[b] .. start[b+1]
  AlignedArray<T> xs, ys, zs;       // folded fine-grid coordinates, in bin order
  AlignedArray<std::int64_t> perm;  // sorted position -> caller's index

  // Room for n points (kept arrays are reused when large enough; new ones uninitialised).
  void reserve(std::int64_t count) {
    if (capacity >= count) return;
    xs = aligned_uninitialized<T>(static_cast<std::size_t>(count));
    ys = aligned_uninitialized<T>(static_cast<std::size_t>(count));
    zs = aligned_uninitialized<T>(static_cast<std::size_t>(count));
    perm = aligned_uninitialized<std::int64_t>(static_cast<std::size_t>(count));
    capacity = count;
  }
};

template <typename T>
std::int64_t Points<T>::size() const {
  return d_ ? d_->n : 0;
}

template <typename T>
struct Plan<T>::State {
  int type = 0, sign = 0, threads = 1;
  Options options;
  std::array<std::int64_t, 3> modes{}, nf{};
  KernelParams kernel;
  AlignedArray<T> coeff, coeff_dup;
  int coeff_stride = 0, coeff_dup_stride = 0;
  // Per dimension and mode index: the fine-grid index and 1 / psihat(k).
  std::array<std::vector<std::int64_t>, 3> fine_index;
  std::array<std::vector<T>, 3> correction;
  AlignedArray<std::complex<T>> grid;
  bool accumulating = false;  // a spread_add() sum is on the grid, waiting for finish()
  std::unique_ptr<FftPlan3<T>> fft;
  Bins bins;
  Points<T> current;  // the point set of set_points

  SpreadContext<T> context(const typename Points<T>::Data& pts) const {
    SpreadContext<T> ctx;
    ctx.nf = nf;
    ctx.kernel = kernel;
    ctx.coeff = coeff.get();
    ctx.coeff_stride = coeff_stride;
    ctx.coeff_dup = coeff_dup.get();
    ctx.coeff_dup_stride = coeff_dup_stride;
    ctx.xs = pts.xs.get();
    ctx.ys = pts.ys.get();
    ctx.zs = pts.zs.get();
    ctx.perm = pts.perm.get();
    ctx.simd = options.simd;
    return ctx;
  }

  std::int64_t grid_size() const { return nf[0] * nf[1] * nf[2]; }
  std::int64_t n_modes() const { return modes[0] * modes[1] * modes[2]; }

  // Modes (scaled by the kernel correction) into the zeroed fine grid (type 2), or back
  // out of it (type 1).
  void modes_to_grid(const std::complex<T>* f) {
    std::fill(grid.get(), grid.get() + grid_size(), std::complex<T>(0));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t k3 = 0; k3 < modes[2]; ++k3)
      for (std::int64_t k2 = 0; k2 < modes[1]; ++k2) {
        const T s = correction[2][k3] * correction[1][k2];
        std::complex<T>* g = grid.get() + nf[0] * (fine_index[1][k2] + nf[1] * fine_index[2][k3]);
        const std::complex<T>* fr = f + modes[0] * (k2 + modes[1] * k3);
        for (std::int64_t k1 = 0; k1 < modes[0]; ++k1)
          g[fine_index[0][k1]] = fr[k1] * (s * correction[0][k1]);
      }
  }
  void grid_to_modes(std::complex<T>* f) const {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t k3 = 0; k3 < modes[2]; ++k3)
      for (std::int64_t k2 = 0; k2 < modes[1]; ++k2) {
        const T s = correction[2][k3] * correction[1][k2];
        const std::complex<T>* g =
            grid.get() + nf[0] * (fine_index[1][k2] + nf[1] * fine_index[2][k3]);
        std::complex<T>* fr = f + modes[0] * (k2 + modes[1] * k3);
        for (std::int64_t k1 = 0; k1 < modes[0]; ++k1)
          fr[k1] = g[fine_index[0][k1]] * (s * correction[0][k1]);
      }
  }

  void spread(const typename Points<T>::Data& pts, const std::complex<T>* c, bool clear = true) {
    if (clear) std::fill(grid.get(), grid.get() + grid_size(), std::complex<T>(0));
    const SpreadContext<T> ctx = context(pts);
    const int nb = bins.count[0] * bins.count[1] * bins.count[2];
    const std::int64_t sub_size = subgrid_size(bins, kernel.width);
    // Eight parity colours: bins of one colour are at least one bin apart in some
    // dimension, so their kernels never reach the same grid point.
    for (int colour = 0; colour < 8; ++colour) {
#pragma omp parallel num_threads(threads)
      {
        AlignedArray<std::complex<T>> sub = aligned_zeros<std::complex<T>>(sub_size);
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < nb; ++b) {
          const int bx = b % bins.count[0], by = (b / bins.count[0]) % bins.count[1],
                    bz = b / (bins.count[0] * bins.count[1]);
          if ((bx % 2) + 2 * (by % 2) + 4 * (bz % 2) != colour) continue;
          spread_bin(ctx, bins, pts.start.data(), b, c, sub.get(), grid.get());
        }
      }
    }
  }

  void interpolate(const typename Points<T>::Data& pts, std::complex<T>* c) const {
    const SpreadContext<T> ctx = context(pts);
    constexpr std::int64_t chunk = 4096;
    const std::int64_t n_points = pts.n;
    const std::int64_t n_chunks = (n_points + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (std::int64_t i = 0; i < n_chunks; ++i)
      interp(ctx, grid.get(), i * chunk, std::min(n_points, (i + 1) * chunk), c);
  }
};

template <typename T>
Plan<T>::Plan(int type, std::array<std::int64_t, 3> modes, int sign, double tolerance,
              const Options& options)
    : s_(std::make_unique<State>()) {
  if (type != 1 && type != 2) fail("NUFFT type must be 1 or 2, got " + std::to_string(type));
  if (sign != 1 && sign != -1) fail("NUFFT sign must be +1 or -1, got " + std::to_string(sign));
  for (auto n : modes)
    if (n < 1) fail("NUFFT mode counts must be positive, got " + std::to_string(n));
  State& s = *s_;
  s.type = type;
  s.sign = sign;
  s.options = options;
  s.threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  s.modes = modes;
  s.kernel = choose_kernel(tolerance, options.upsampling, sizeof(T) == 4);
  for (int d = 0; d < 3; ++d) s.nf[d] = fine_grid_size(modes[d], options.upsampling, s.kernel.width);

  // Horner tables, plain and with each value duplicated for (re, im) lanes.
  const int lanes = simd_lanes<T>();
  s.coeff_stride = (s.kernel.width + lanes - 1) / lanes * lanes;
  s.coeff_dup_stride = (2 * s.kernel.width + lanes - 1) / lanes * lanes;
  const auto table = horner_coefficients(s.kernel, s.coeff_stride);
  const int n_coeff = s.kernel.degree + 1;
  s.coeff = aligned_zeros<T>(static_cast<std::size_t>(n_coeff) * s.coeff_stride);
  s.coeff_dup = aligned_zeros<T>(static_cast<std::size_t>(n_coeff) * s.coeff_dup_stride);
  for (int p = 0; p < n_coeff; ++p)
    for (int m = 0; m < s.kernel.width; ++m) {
      const T v = static_cast<T>(table[static_cast<std::size_t>(p) * s.coeff_stride + m]);
      s.coeff[static_cast<std::size_t>(p) * s.coeff_stride + m] = v;
      s.coeff_dup[static_cast<std::size_t>(p) * s.coeff_dup_stride + 2 * m] = v;
      s.coeff_dup[static_cast<std::size_t>(p) * s.coeff_dup_stride + 2 * m + 1] = v;
    }

  for (int d = 0; d < 3; ++d) {
    const auto psihat = kernel_fourier_series(s.kernel, s.nf[d], modes[d]);
    s.fine_index[d].resize(modes[d]);
    s.correction[d].resize(modes[d]);
    for (std::int64_t i = 0; i < modes[d]; ++i) {
      const std::int64_t k = i - modes[d] / 2;
      s.fine_index[d][i] = (k + s.nf[d]) % s.nf[d];
      s.correction[d][i] = static_cast<T>(1.0 / psihat[static_cast<std::size_t>(std::abs(k))]);
    }
  }
  s.grid = aligned_zeros<std::complex<T>>(s.grid_size() + kGridPadding);
  s.fft = std::make_unique<FftPlan3<T>>(static_cast<int>(s.nf[2]), static_cast<int>(s.nf[1]),
                                        static_cast<int>(s.nf[0]), sign, s.grid.get(), s.threads,
                                        options.planning);
  std::fill(s.grid.get(), s.grid.get() + s.grid_size() + kGridPadding, std::complex<T>(0));
  s.bins = make_bins(s.nf, s.kernel.width);
}

template <typename T>
Plan<T>::~Plan() = default;
template <typename T>
Plan<T>::Plan(Plan&&) noexcept = default;
template <typename T>
Plan<T>& Plan<T>::operator=(Plan&&) noexcept = default;

template <typename T>
void Plan<T>::set_points(std::int64_t n, const T* x, const T* y, const T* z) {
  s_->current = sort_points(n, x, y, z, std::move(s_->current));
}

namespace {

// Inside each bin (points start[b] .. start[b+1] of the arrays, already binned), points in
// the order of their kernel's first grid point (x fastest), by a counting sort: consecutive
// points then touch the same or neighbouring grid rows, and runs with the same first point
// share each row's load and store in the spreader.
template <typename T>
void order_by_kernel_start(const Bins& bins, int w, int threads, const std::vector<std::int64_t>& start, T* xs_all,
                           T* ys_all, T* zs_all, std::int64_t* perm_all) {
  const int nb = bins.count[0] * bins.count[1] * bins.count[2];
#pragma omp parallel num_threads(threads)
  {
    std::vector<std::int32_t> key;
    std::vector<std::int64_t> count, perm;
    std::vector<T> xs, ys, zs;
#pragma omp for schedule(dynamic, 4)
    for (int b = 0; b < nb; ++b) {
      const std::int64_t lo = start[b], m = start[b + 1] - lo;
      if (m < 2) continue;
      const int bx = b % bins.count[0], by = (b / bins.count[0]) % bins.count[1],
                bz = b / (bins.count[0] * bins.count[1]);
      std::int64_t first[3], extent[3];
      const int bb[3] = {bx, by, bz};
      for (int d = 0; d < 3; ++d) {
        first[d] = static_cast<std::int64_t>(std::ceil(static_cast<double>(bins.edge[d][bb[d]]) - w / 2.0));
        extent[d] = bins.edge[d][bb[d] + 1] - bins.edge[d][bb[d]] + 2;
      }
      const T* c[3] = {xs_all + lo, ys_all + lo, zs_all + lo};
      key.resize(static_cast<std::size_t>(m));
      for (std::int64_t j = 0; j < m; ++j) {
        std::int64_t k = 0;
        for (int d = 2; d >= 0; --d) {
          const auto i0 = static_cast<std::int64_t>(std::ceil(c[d][j] - T(w) / 2)) - first[d];
          k = k * extent[d] + std::clamp<std::int64_t>(i0, 0, extent[d] - 1);
        }
        key[j] = static_cast<std::int32_t>(k);
      }
      count.assign(static_cast<std::size_t>(extent[0] * extent[1] * extent[2] + 1), 0);
      for (std::int64_t j = 0; j < m; ++j) ++count[key[j] + 1];
      for (std::size_t k = 1; k < count.size(); ++k) count[k] += count[k - 1];
      xs.assign(c[0], c[0] + m);
      ys.assign(c[1], c[1] + m);
      zs.assign(c[2], c[2] + m);
      perm.assign(perm_all + lo, perm_all + lo + m);
      T* const out_x = xs_all + lo;
      T* const out_y = ys_all + lo;
      T* const out_z = zs_all + lo;
      std::int64_t* const out_perm = perm_all + lo;
      std::int64_t* const next = count.data();
      for (std::int64_t j = 0; j < m; ++j) {
        const std::int64_t p = next[key[j]]++;
        out_x[p] = xs[j];
        out_y[p] = ys[j];
        out_z[p] = zs[j];
        out_perm[p] = perm[j];
      }
    }
  }
}

// Point j's coordinate v (dimension d) as a fine-grid coordinate folded into [0, nf):
// periodic, so [-3pi, 3pi) folds exactly; anything else is an error naming the point.
template <typename T>
inline T folded_coordinate(T v, double to_grid, double nf, int d, std::int64_t j) {
  const T three_pi = 3 * std::numbers::pi_v<T>;  // the bound as T, so -3pi in T is inside
  if (!(v >= -three_pi && v < three_pi))
    fail("NUFFT point " + std::to_string(j) + " has coordinate " + "xyz"[d] + " = " +
         std::to_string(static_cast<double>(v)) + ", outside [-3pi, 3pi)");
  double g = static_cast<double>(v) * to_grid;
  while (g < 0) g += nf;
  while (g >= nf) g -= nf;
  T t = static_cast<T>(g);
  if (t >= static_cast<T>(nf)) t = 0;  // rounding up to nf is the point 0
  return t;
}

// Grid index -> bin, per dimension.
std::array<std::vector<int>, 3> bins_of_grid_points(const Bins& bins, const std::array<std::int64_t, 3>& nf) {
  std::array<std::vector<int>, 3> bin_of;
  for (int d = 0; d < 3; ++d) {
    bin_of[d].resize(static_cast<std::size_t>(nf[d]));
    for (int b = 0; b < bins.count[d]; ++b)
      for (std::int64_t i = bins.edge[d][b]; i < bins.edge[d][b + 1]; ++i) bin_of[d][static_cast<std::size_t>(i)] = b;
  }
  return bin_of;
}

// From each thread's point count per bin: start[k], bin k's first sorted position
// (start[bins] = all points), and each thread's first position in each bin (threads in
// order within a bin, so the sort is stable).
std::vector<std::vector<std::int64_t>> bin_offsets(const std::vector<std::vector<std::int64_t>>& counts,
                                                   std::vector<std::int64_t>& start) {
  const std::size_t keys = counts.front().size();
  start.assign(keys + 1, 0);
  std::vector<std::vector<std::int64_t>> offset(counts.size(), std::vector<std::int64_t>(keys));
  std::int64_t pos = 0;
  for (std::size_t k = 0; k < keys; ++k) {
    start[k] = pos;
    for (std::size_t t = 0; t < counts.size(); ++t) {
      offset[t][k] = pos;
      pos += counts[t][k];
    }
  }
  start[keys] = pos;
  return offset;
}

}  // namespace

template <typename T>
Points<T> Plan<T>::sort_points(std::int64_t n, const T* x, const T* y, const T* z, Points<T> reuse) const {
  const State& s = *s_;
  if (n < 0) fail("NUFFT point count must not be negative");
  // A point set no one else holds lends its arrays: no fresh pages for the kernel to zero
  // (a fifth of the local refinement's time when every batch allocated its own).
  auto pts = reuse.d_ && reuse.d_.use_count() == 1 ? std::move(reuse.d_) : std::make_shared<typename Points<T>::Data>();
  pts->nf = s.nf;
  pts->width = s.kernel.width;
  pts->n = n;
  const T* coords[3] = {x, y, z};
  const int n_keys = s.bins.count[0] * s.bins.count[1] * s.bins.count[2];
  const auto bin_of = bins_of_grid_points(s.bins, s.nf);
  // The loops below run over every point: their constants live in locals, which the
  // compiler keeps in registers (through members it reloads them, fearing aliased stores).
  const double nfd[3] = {static_cast<double>(s.nf[0]), static_cast<double>(s.nf[1]), static_cast<double>(s.nf[2])};
  const double to_grid[3] = {nfd[0] / (2 * std::numbers::pi), nfd[1] / (2 * std::numbers::pi),
                             nfd[2] / (2 * std::numbers::pi)};
  const int* const bin_x = bin_of[0].data();
  const int* const bin_y = bin_of[1].data();
  const int* const bin_z = bin_of[2].data();
  const int bins_x = s.bins.count[0], bins_y = s.bins.count[1];
  auto fold = [&](int d, std::int64_t j) -> T { return folded_coordinate(coords[d][j], to_grid[d], nfd[d], d, j); };

  auto bin_index = [&](const T* folded) {
    return bin_x[static_cast<std::int64_t>(folded[0])] +
           bins_x * (bin_y[static_cast<std::int64_t>(folded[1])] + bins_y * bin_z[static_cast<std::int64_t>(folded[2])]);
  };
  const int threads = s.threads;
  std::vector<std::vector<std::int64_t>> counts(threads, std::vector<std::int64_t>(n_keys, 0));
  std::string error;
  // One chunk per thread, in order: the sort is stable, so the permutation does not depend
  // on the thread count, and every chunk is done even if fewer threads run.
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    const std::int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
    try {
      std::int64_t* const count = counts[t].data();
      for (std::int64_t j = lo; j < hi; ++j) {
        const T folded[3] = {fold(0, j), fold(1, j), fold(2, j)};
        ++count[bin_index(folded)];
      }
    } catch (const Error& e) {
#pragma omp critical
      if (error.empty()) error = e.what();
    }
  }
  if (!error.empty()) fail(error);

  auto offset = bin_offsets(counts, pts->start);
  pts->reserve(n);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    const std::int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
    std::int64_t* const off = offset[t].data();
    T* const xs = pts->xs.get();
    T* const ys = pts->ys.get();
    T* const zs = pts->zs.get();
    std::int64_t* const perm = pts->perm.get();
    for (std::int64_t j = lo; j < hi; ++j) {
      const T folded[3] = {fold(0, j), fold(1, j), fold(2, j)};
      const std::int64_t p = off[bin_index(folded)]++;
      perm[p] = j;
      xs[p] = folded[0];
      ys[p] = folded[1];
      zs[p] = folded[2];
    }
  }
  order_by_kernel_start(s.bins, s.kernel.width, threads, pts->start, pts->xs.get(), pts->ys.get(), pts->zs.get(),
                        pts->perm.get());
  Points<T> out;
  out.d_ = std::move(pts);
  return out;
}

template <typename T>
void Plan<T>::execute(complex* c, complex* f, int batch) {
  execute(s_->current, c, f, batch);
}

template <typename T>
void Plan<T>::execute(const Points<T>& points, complex* c, complex* f, int batch) {
  State& s = *s_;
  if (batch < 1) fail("NUFFT batch must be at least 1");
  static const typename Points<T>::Data no_points{};
  const auto& pts = points.d_ ? *points.d_ : no_points;
  if (points.d_ && (pts.nf != s.nf || pts.width != s.kernel.width))
    fail("NUFFT points were sorted for a plan with another fine grid or kernel");
  for (int v = 0; v < batch; ++v) {
    complex* cv = c + static_cast<std::int64_t>(v) * pts.n;
    complex* fv = f + static_cast<std::int64_t>(v) * s.n_modes();
    if (s.type == 1) {
      if (pts.n == 0) {
        std::fill(fv, fv + s.n_modes(), complex(0));
        continue;
      }
      s.spread(pts, cv);
      s.accumulating = false;  // execute() takes the grid over
      s.fft->execute(s.grid.get());
      s.grid_to_modes(fv);
    } else {
      if (pts.n == 0) continue;
      s.accumulating = false;
      s.modes_to_grid(fv);
      s.fft->execute(s.grid.get());
      s.interpolate(pts, cv);
    }
  }
}

template <typename T>
void Plan<T>::execute_with_gradient(const Points<T>& points, complex* c, complex* gradient, complex* f) {
  State& s = *s_;
  if (s.type != 2) fail("NUFFT execute_with_gradient is for type 2 plans");
  if (!points.d_ || points.d_->n == 0) return;
  const auto& pts = *points.d_;
  if (pts.nf != s.nf || pts.width != s.kernel.width)
    fail("NUFFT points were sorted for a plan with another fine grid or kernel");
  s.accumulating = false;
  s.modes_to_grid(f);
  s.fft->execute(s.grid.get());
  const SpreadContext<T> ctx = s.context(pts);
  // Fine-grid units per unit of x.
  const std::array<T, 3> scale{static_cast<T>(static_cast<double>(s.nf[0]) / (2 * std::numbers::pi)),
                               static_cast<T>(static_cast<double>(s.nf[1]) / (2 * std::numbers::pi)),
                               static_cast<T>(static_cast<double>(s.nf[2]) / (2 * std::numbers::pi))};
  constexpr std::int64_t chunk = 4096;
  const std::int64_t n_chunks = (pts.n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(s.threads) schedule(dynamic, 4)
  for (std::int64_t i = 0; i < n_chunks; ++i)
    interp_gradient(ctx, s.grid.get(), i * chunk, std::min(pts.n, (i + 1) * chunk), scale, c, gradient);
}

template <typename T>
void Plan<T>::spread_add(const Points<T>& points, const complex* c) {
  State& s = *s_;
  if (s.type != 1) fail("NUFFT spread_add is for type 1 plans");
  if (!points.d_) return;
  if (points.d_->nf != s.nf || points.d_->width != s.kernel.width)
    fail("NUFFT points were sorted for a plan with another fine grid or kernel");
  s.spread(*points.d_, c, !s.accumulating);
  s.accumulating = true;
}

template <typename T>
void Plan<T>::finish(complex* f) {
  State& s = *s_;
  if (s.type != 1) fail("NUFFT finish is for type 1 plans");
  if (!s.accumulating) {
    std::fill(f, f + s.n_modes(), complex(0));
    return;
  }
  s.fft->execute(s.grid.get());
  s.grid_to_modes(f);
  s.accumulating = false;
}

template <typename T>
int Plan<T>::type() const { return s_->type; }
template <typename T>
std::int64_t Plan<T>::n_points() const { return s_->current.size(); }
template <typename T>
std::int64_t Plan<T>::n_modes() const { return s_->n_modes(); }
template <typename T>
std::array<std::int64_t, 3> Plan<T>::modes() const { return s_->modes; }
template <typename T>
std::array<std::int64_t, 3> Plan<T>::fine_grid() const { return s_->nf; }
template <typename T>
const KernelParams& Plan<T>::kernel() const { return s_->kernel; }
template <typename T>
int Plan<T>::threads() const { return s_->threads; }

template class Points<float>;
template class Points<double>;
template class Plan<float>;
template class Plan<double>;

}  // namespace spire::nufft
