#include "merging/merging.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace spire::merging {
namespace {

bool smooth(int m) {
  for (int p : {2, 3, 5, 7})
    while (m % p == 0) m /= p;
  return m == 1;
}

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

}  // namespace

int toeplitz_fft_size(int n) {
  int m = std::max(2 * n - 1, 1);
  while (!smooth(m)) ++m;
  return m;
}

// ---------------------------------------------------------------------------- Toeplitz

// The convolution y = K * x on the L^3 torus, with real x and y, of which only the n^3
// corner of x is nonzero and only the n^3 corner of y is kept, is done one axis at a time
// (axis 1 = l1, fastest) on half spectra (k1 < Lh = L/2+1, real-data transforms along
// axis 1), skipping every line that is zero on the way in or not needed on the way out:
//  1. per plane i3 < n: r2c of the n rows i2 < n along axis 1, then complex transforms of
//     the Lh columns along axis 2 (input rows i2 >= n zero) into `mid` (n planes);
//  2. per slab k2 < L: the n rows i3 < n of mid, zero-padded to L, transformed along axis 3,
//     multiplied by the kernel's (real) spectrum, transformed back; rows i3 < n go back;
//  3. per plane i3 < n: back along axis 2, then c2r of the n rows i2 < n along axis 1.
// Steps 1 and 3 do n^2 real and n Lh complex line transforms, step 2 2 L Lh, against 3 L^2
// complex ones each way for a full complex 3D FFT; each plane or slab (L Lh complex) is
// worked on in one thread's cache, so memory is swept only through mid (n L Lh complex)
// and the spectrum. The line transforms are FFTW plans made once (single-threaded, run
// concurrently on per-thread buffers); threads split planes and slabs.
template <typename S>
struct Toeplitz<S>::State {
  int n = 0, L = 0, Lh = 0, threads = 1;
  std::int64_t plane = 0;  // stride of mid's planes: L Lh rounded up to 64 bytes (alignment)
  // The kernel's spectrum / L^3 (real: K is even), ordered by slab: k1 + Lh (k3 + L k2).
  AlignedArray<S> spectrum;
  AlignedArray<std::complex<S>> mid;  // planes i3 < n: k1 + Lh k2 (+ plane i3)
  struct Work {
    AlignedArray<S> rows;  // n rows of L reals (x then zeros; c2r output on the way back)
    AlignedArray<std::complex<S>> half;  // L x Lh, rows i2 >= n zero: r2c output of rows
    AlignedArray<std::complex<S>> slab;  // L x Lh: one slab of step 2
  };
  std::vector<Work> work;  // one per thread
  std::unique_ptr<FftPlanReal<S>> rows_r2c, rows_c2r;  // n rows along axis 1
  // Lh columns of an L x Lh array: forward out of place (half -> mid), in place both ways.
  std::unique_ptr<FftPlanMany<S>> columns_to_mid, columns_forward, columns_backward;
  std::unique_ptr<FftPlanReal<S>> kernel_r2c;  // 3D r2c of the wrapped kernel (set_kernel)

  std::int64_t half_size() const { return std::int64_t{L} * L * (L / 2 + 1); }
  std::int64_t cube() const { return std::int64_t{L} * L * L; }
};

template <typename S>
Toeplitz<S>::Toeplitz(int n, int fft_size, int threads, Planning planning)
    : s_(std::make_unique<State>()) {
  if (n < 1 || n % 2 == 0) fail("Toeplitz: grid size n must be odd and positive, got " + std::to_string(n));
  if (fft_size < 2 * n - 1)
    fail("Toeplitz: FFT size " + std::to_string(fft_size) + " is below 2n-1 = " +
         std::to_string(2 * n - 1) + " (lags would alias)");
  State& s = *s_;
  s.n = n;
  s.L = fft_size;
  s.Lh = fft_size / 2 + 1;
  s.threads = resolve_threads(threads);
  const std::int64_t L = s.L, Lh = s.Lh, nn = n;
  constexpr std::int64_t per64 = std::max<std::int64_t>(1, 64 / sizeof(std::complex<S>));
  s.plane = (L * Lh + per64 - 1) / per64 * per64;
  s.spectrum = aligned_zeros<S>(static_cast<std::size_t>(s.half_size()));
  s.mid = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(nn * s.plane));
  s.work.resize(static_cast<std::size_t>(s.threads));
  for (auto& w : s.work) {
    w.rows = aligned_zeros<S>(static_cast<std::size_t>(nn * L));
    w.half = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(L * Lh));
    w.slab = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(L * Lh));
  }
  // Plans are made on thread 0's buffers and mid; the others have the same alignment.
  S* rows = s.work[0].rows.get();
  std::complex<S>*half = s.work[0].half.get(), *slab = s.work[0].slab.get();
  const FftDims column = {{L, Lh, Lh}}, columns = {{Lh, 1, 1}};
  s.rows_r2c = std::make_unique<FftPlanReal<S>>(FftDims{{L, 1, 1}}, FftDims{{nn, L, Lh}}, rows, half, 1,
                                                planning);
  s.rows_c2r = std::make_unique<FftPlanReal<S>>(FftDims{{L, 1, 1}}, FftDims{{nn, Lh, L}}, slab, rows, 1,
                                                planning);
  s.columns_to_mid = std::make_unique<FftPlanMany<S>>(column, columns, -1, half, s.mid.get(), 1, planning);
  s.columns_forward = std::make_unique<FftPlanMany<S>>(column, columns, -1, slab, slab, 1, planning);
  s.columns_backward = std::make_unique<FftPlanMany<S>>(column, columns, +1, slab, slab, 1, planning);
  {
    // Planned on scratch arrays (FFTW_MEASURE overwrites them), executed on set_kernel's.
    AlignedArray<S> real = aligned_zeros<S>(static_cast<std::size_t>(s.cube()));
    AlignedArray<std::complex<S>> spec = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(s.half_size()));
    s.kernel_r2c = std::make_unique<FftPlanReal<S>>(FftDims{{L, L * L, L * Lh}, {L, L, Lh}, {L, 1, 1}},
                                                    FftDims{}, real.get(), spec.get(), s.threads, planning);
  }
  // Measuring may have written into `half`, whose rows i2 >= n must stay zero.
  for (auto& w : s.work) std::fill_n(w.half.get(), L * Lh, std::complex<S>(0));
}

template <typename S>
Toeplitz<S>::~Toeplitz() = default;
template <typename S>
Toeplitz<S>::Toeplitz(Toeplitz&&) noexcept = default;
template <typename S>
Toeplitz<S>& Toeplitz<S>::operator=(Toeplitz&&) noexcept = default;

template <typename S>
void Toeplitz<S>::set_kernel(std::span<const double> kernel) {
  State& s = *s_;
  const std::int64_t nk = 2 * std::int64_t{s.n} - 1, L = s.L, Lh = s.Lh;
  if (static_cast<std::int64_t>(kernel.size()) != nk * nk * nk)
    fail("Toeplitz: kernel has " + std::to_string(kernel.size()) + " values, expected (2n-1)^3 = " +
         std::to_string(nk * nk * nk));
  // Lag m goes to m mod L: with L >= 2n-1 the lags of the n^3 corner never collide.
  AlignedArray<S> wrapped = aligned_zeros<S>(static_cast<std::size_t>(s.cube()));
  const std::int64_t h = s.n - 1;
  S* w = wrapped.get();
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t i3 = 0; i3 < nk; ++i3)
    for (std::int64_t i2 = 0; i2 < nk; ++i2) {
      const std::int64_t g3 = (i3 - h + L) % L, g2 = (i2 - h + L) % L;
      for (std::int64_t i1 = 0; i1 < nk; ++i1) {
        const std::int64_t g1 = (i1 - h + L) % L;
        w[g1 + L * (g2 + L * g3)] = static_cast<S>(kernel[static_cast<std::size_t>(i1 + nk * (i2 + nk * i3))]);
      }
    }
  AlignedArray<std::complex<S>> spec = aligned_uninitialized<std::complex<S>>(static_cast<std::size_t>(s.half_size()));
  const std::complex<S>* f = spec.get();
  s.kernel_r2c->execute(w, spec.get());
  // The imaginary part is the kernel's odd part (rounding only): dropped.
  const S scale = static_cast<S>(1.0 / static_cast<double>(s.cube()));
  S* sp = s.spectrum.get();
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t k2 = 0; k2 < L; ++k2)
    for (std::int64_t k3 = 0; k3 < L; ++k3)
      for (std::int64_t k1 = 0; k1 < Lh; ++k1) sp[k1 + Lh * (k3 + L * k2)] = f[k1 + Lh * (k2 + L * k3)].real() * scale;
}

template <typename S>
void Toeplitz<S>::apply(const S* x, S* y) {
  State& s = *s_;
  const std::int64_t n = s.n, L = s.L, Lh = s.Lh, plane = s.plane;
  const S* sp = s.spectrum.get();
  std::complex<S>* mid = s.mid.get();
#pragma omp parallel num_threads(s.threads)
  {
    typename State::Work& w = s.work[static_cast<std::size_t>(omp_get_thread_num())];
    S* rows = w.rows.get();
    std::complex<S>*half = w.half.get(), *slab = w.slab.get();
    // 1. Planes i3 < n: rows along axis 1 (r2c), then columns along axis 2 into mid.
#pragma omp for schedule(static)
    for (std::int64_t i3 = 0; i3 < n; ++i3) {
      for (std::int64_t i2 = 0; i2 < n; ++i2) {
        std::copy_n(x + n * (i2 + n * i3), n, rows + L * i2);
        std::fill(rows + L * i2 + n, rows + L * (i2 + 1), S(0));  // c2r left data there
      }
      s.rows_r2c->execute(rows, half);
      s.columns_to_mid->execute(half, mid + plane * i3);
    }
    // 2. Slabs k2: along axis 3 (rows i3 >= n zero), multiply, back; keep rows i3 < n.
#pragma omp for schedule(static)
    for (std::int64_t k2 = 0; k2 < L; ++k2) {
      for (std::int64_t i3 = 0; i3 < n; ++i3) std::copy_n(mid + plane * i3 + Lh * k2, Lh, slab + Lh * i3);
      std::fill(slab + Lh * n, slab + Lh * L, std::complex<S>(0));
      s.columns_forward->execute(slab, slab);
      const S* spk = sp + L * Lh * k2;
      for (std::int64_t i = 0; i < L * Lh; ++i) slab[i] *= spk[i];
      s.columns_backward->execute(slab, slab);
      for (std::int64_t i3 = 0; i3 < n; ++i3) std::copy_n(slab + Lh * i3, Lh, mid + plane * i3 + Lh * k2);
    }
    // 3. Planes i3 < n: back along axis 2 in place, then rows i2 < n along axis 1 (c2r).
    // x is not read after step 1's barrier, so y may alias it.
#pragma omp for schedule(static)
    for (std::int64_t i3 = 0; i3 < n; ++i3) {
      std::complex<S>* p = mid + plane * i3;
      s.columns_backward->execute(p, p);
      s.rows_c2r->execute(p, rows);
      for (std::int64_t i2 = 0; i2 < n; ++i2) std::copy_n(rows + L * i2, n, y + n * (i2 + n * i3));
    }
  }
}

template <typename S>
int Toeplitz<S>::n() const {
  return s_->n;
}
template <typename S>
int Toeplitz<S>::fft_size() const {
  return s_->L;
}

template class Toeplitz<float>;
template class Toeplitz<double>;

// ---------------------------------------------------------------------------- CirculantPreconditioner

template <typename S>
struct CirculantPreconditioner<S>::State {
  int n = 0, threads = 1;
  std::int64_t half = 0;  // n n (n/2+1)
  std::vector<double> eigenvalues;   // c(k) + lambda on the half spectrum
  std::vector<S> inverse;            // 1 / (eigenvalue n^3)
  AlignedArray<S> real;              // n^3
  AlignedArray<std::complex<S>> spectrum;
  std::unique_ptr<FftPlanReal<S>> forward, backward;
  std::unique_ptr<FftPlanReal<double>> kernel_forward;  // set_kernel, in double
};

template <typename S>
CirculantPreconditioner<S>::CirculantPreconditioner(int n, int threads, Planning planning)
    : s_(std::make_unique<State>()) {
  if (n < 1 || n % 2 == 0) fail("CirculantPreconditioner: grid size n must be odd and positive, got " + std::to_string(n));
  State& s = *s_;
  const std::int64_t nn = n, nh = nn / 2 + 1;
  s.n = n;
  s.threads = resolve_threads(threads);
  s.half = nn * nn * nh;
  s.real = aligned_zeros<S>(static_cast<std::size_t>(nn * nn * nn));
  s.spectrum = aligned_zeros<std::complex<S>>(static_cast<std::size_t>(s.half));
  const FftDims real_to_half = {{nn, nn * nn, nn * nh}, {nn, nn, nh}, {nn, 1, 1}};
  const FftDims half_to_real = {{nn, nn * nh, nn * nn}, {nn, nh, nn}, {nn, 1, 1}};
  s.forward = std::make_unique<FftPlanReal<S>>(real_to_half, FftDims{}, s.real.get(), s.spectrum.get(), s.threads,
                                               planning);
  s.backward = std::make_unique<FftPlanReal<S>>(half_to_real, FftDims{}, s.spectrum.get(), s.real.get(), s.threads,
                                                planning);
  AlignedArray<double> real = aligned_zeros<double>(static_cast<std::size_t>(nn * nn * nn));
  AlignedArray<std::complex<double>> spec = aligned_zeros<std::complex<double>>(static_cast<std::size_t>(s.half));
  s.kernel_forward = std::make_unique<FftPlanReal<double>>(real_to_half, FftDims{}, real.get(), spec.get(), s.threads,
                                                           Planning::estimate);
}

template <typename S>
CirculantPreconditioner<S>::~CirculantPreconditioner() = default;
template <typename S>
CirculantPreconditioner<S>::CirculantPreconditioner(CirculantPreconditioner&&) noexcept = default;
template <typename S>
CirculantPreconditioner<S>& CirculantPreconditioner<S>::operator=(CirculantPreconditioner&&) noexcept = default;

template <typename S>
void CirculantPreconditioner<S>::set_kernel(std::span<const double> kernel, double lambda) {
  State& s = *s_;
  const std::int64_t n = s.n, nk = 2 * n - 1, h = n - 1;
  if (static_cast<std::int64_t>(kernel.size()) != nk * nk * nk)
    fail("CirculantPreconditioner: kernel has " + std::to_string(kernel.size()) + " values, expected (2n-1)^3 = " +
         std::to_string(nk * nk * nk));
  if (!(lambda >= 0)) fail("CirculantPreconditioner: lambda must be >= 0");
  // Fold lag m onto m mod n with T. Chan's weights; one thread per plane g3 (two lags each).
  std::vector<double> weight(static_cast<std::size_t>(nk));
  for (std::int64_t i = 0; i < nk; ++i) weight[static_cast<std::size_t>(i)] = static_cast<double>(n - std::abs(i - h)) / static_cast<double>(n);
  AlignedArray<double> folded = aligned_zeros<double>(static_cast<std::size_t>(n * n * n));
  double* f = folded.get();
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t g3 = 0; g3 < n; ++g3)
    for (std::int64_t i3 = 0; i3 < nk; ++i3) {
      if ((i3 - h + n) % n != g3) continue;
      for (std::int64_t i2 = 0; i2 < nk; ++i2) {
        const std::int64_t g2 = (i2 - h + n) % n;
        const double w32 = weight[static_cast<std::size_t>(i3)] * weight[static_cast<std::size_t>(i2)];
        const double* row = kernel.data() + nk * (i2 + nk * i3);
        double* out = f + n * (g2 + n * g3);
        for (std::int64_t i1 = 0; i1 < nk; ++i1) out[(i1 - h + n) % n] += w32 * weight[static_cast<std::size_t>(i1)] * row[i1];
      }
    }
  AlignedArray<std::complex<double>> spec = aligned_uninitialized<std::complex<double>>(static_cast<std::size_t>(s.half));
  s.kernel_forward->execute(f, spec.get());
  double largest = 0;
  for (std::int64_t k = 0; k < s.half; ++k) largest = std::max(largest, spec[static_cast<std::size_t>(k)].real());
  const double floor = 1e-6 * largest, cube = static_cast<double>(n * n * n);
  s.eigenvalues.resize(static_cast<std::size_t>(s.half));
  s.inverse.resize(static_cast<std::size_t>(s.half));
  for (std::int64_t k = 0; k < s.half; ++k) {
    const double e = std::max(spec[static_cast<std::size_t>(k)].real(), floor) + lambda;  // the imaginary part: rounding
    s.eigenvalues[static_cast<std::size_t>(k)] = e;
    s.inverse[static_cast<std::size_t>(k)] = e > 0 ? static_cast<S>(1.0 / (e * cube)) : S(0);
  }
}

template <typename S>
void CirculantPreconditioner<S>::apply(const S* r, S* z) {
  State& s = *s_;
  if (s.inverse.empty()) fail("CirculantPreconditioner: apply before set_kernel");
  const std::int64_t n3 = std::int64_t{s.n} * s.n * s.n;
  std::copy_n(r, n3, s.real.get());
  s.forward->execute(s.real.get(), s.spectrum.get());
  std::complex<S>* sp = s.spectrum.get();
  const S* inv = s.inverse.data();
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t k = 0; k < s.half; ++k) sp[k] *= inv[k];
  s.backward->execute(s.spectrum.get(), s.real.get());
  std::copy_n(s.real.get(), n3, z);
}

template <typename S>
std::span<const double> CirculantPreconditioner<S>::eigenvalues() const {
  return s_->eigenvalues;
}

template class CirculantPreconditioner<float>;
template class CirculantPreconditioner<double>;

// ---------------------------------------------------------------------------- Merger

template <typename T>
struct Merger<T>::State {
  Options settings;
  int threads = 1;
  std::int64_t nk = 0;  // 2n-1
  nufft::Plan<T> plan;
  nufft::Points<T> chunk_points;  // the last chunk's sorted points, whose storage the next reuses
  std::vector<std::complex<T>> strengths;  // accumulate's chunk of D (1 + i b), reused
  std::vector<double> kernel, rhs;
  std::vector<unsigned char> support;  // empty: everything
  std::unique_ptr<Toeplitz<float>> toeplitz_f;
  std::unique_ptr<Toeplitz<double>> toeplitz_d;
  std::unique_ptr<CirculantPreconditioner<float>> preconditioner_f;  // Options::preconditioner
  std::unique_ptr<CirculantPreconditioner<double>> preconditioner_d;
  std::int64_t pending = 0;  // points spread onto the NUFFT grid, not yet in kernel/rhs

  // One FFT for everything spread since the last flush, added to kernel and rhs.
  void flush();
  // The sums are being read: flush, and give back the chunk's point storage until the next
  // accumulation.
  void settle() {
    flush();
    chunk_points = {};
    strengths = {};
  }

  State(const Options& s, std::int64_t nk_)
      : settings(s), threads(resolve_threads(s.nufft.threads)), nk(nk_),
        plan(1, {nk_, nk_, nk_}, -1, s.nufft_tolerance, s.nufft) {}

  template <typename S>
  Solution solve_in(Toeplitz<S>& toeplitz, CirculantPreconditioner<S>* preconditioner, std::span<const double> x0);
};

void check_options(const Options& s) {
  if (s.n < 1 || s.n % 2 == 0) fail("merging: grid size n must be odd and positive, got " + std::to_string(s.n));
  if (!(s.rho >= 0) || !std::isfinite(s.rho)) fail("merging: rho must be finite and >= 0");
  if (!(s.support_radius >= 0)) fail("merging: support radius must be >= 0");
  if (s.max_iterations < 1) fail("merging: max_iterations must be >= 1");
  if (!(s.tolerance >= 0)) fail("merging: CG tolerance must be >= 0");
  if (s.chunk_points < 1 || s.points_per_fft < 1) fail("merging: chunk_points and points_per_fft must be >= 1");
  if (s.fft_size != 0 && s.fft_size < 2 * s.n - 1)
    fail("merging: fft_size " + std::to_string(s.fft_size) + " is below 2n-1 = " + std::to_string(2 * s.n - 1));
}

std::vector<unsigned char> support_ball(int n, double radius) {
  const std::int64_t nn = n, h = nn / 2;
  std::vector<unsigned char> support(static_cast<std::size_t>(nn * nn * nn));
  const double r2 = radius * radius;
  for (std::int64_t i3 = 0; i3 < nn; ++i3)
    for (std::int64_t i2 = 0; i2 < nn; ++i2)
      for (std::int64_t i1 = 0; i1 < nn; ++i1) {
        const double l1 = static_cast<double>(i1 - h), l2 = static_cast<double>(i2 - h),
                     l3 = static_cast<double>(i3 - h);
        support[static_cast<std::size_t>(i1 + nn * (i2 + nn * i3))] = l1 * l1 + l2 * l2 + l3 * l3 <= r2;
      }
  return support;
}

template <typename T>
Merger<T>::Merger(const Options& settings) {
  check_options(settings);
  const std::int64_t nk = 2 * std::int64_t{settings.n} - 1;
  s_ = std::make_unique<State>(settings, nk);
  State& s = *s_;
  const std::int64_t n = settings.n;
  s.kernel.assign(static_cast<std::size_t>(nk * nk * nk), 0.0);
  s.rhs.assign(static_cast<std::size_t>(n * n * n), 0.0);
  if (settings.support_radius > 0) s.support = support_ball(settings.n, settings.support_radius);
  const int L = settings.fft_size > 0 ? settings.fft_size : toeplitz_fft_size(settings.n);
  const bool circulant = settings.preconditioner == Preconditioner::circulant;
  if (settings.cg_precision == CgPrecision::float32) {
    s.toeplitz_f = std::make_unique<Toeplitz<float>>(settings.n, L, s.threads, settings.nufft.planning);
    if (circulant)
      s.preconditioner_f = std::make_unique<CirculantPreconditioner<float>>(settings.n, s.threads, settings.nufft.planning);
  } else {
    s.toeplitz_d = std::make_unique<Toeplitz<double>>(settings.n, L, s.threads, settings.nufft.planning);
    if (circulant)
      s.preconditioner_d = std::make_unique<CirculantPreconditioner<double>>(settings.n, s.threads, settings.nufft.planning);
  }
}

template <typename T>
Merger<T>::~Merger() = default;
template <typename T>
Merger<T>::Merger(Merger&&) noexcept = default;
template <typename T>
Merger<T>& Merger<T>::operator=(Merger&&) noexcept = default;

template <typename T>
void Merger<T>::accumulate(std::span<const T> px, std::span<const T> py, std::span<const T> pz,
                           std::span<const T> values, std::span<const T> weights) {
  State& s = *s_;
  const std::size_t m = px.size();
  if (py.size() != m || pz.size() != m || values.size() != m || (!weights.empty() && weights.size() != m))
    fail("merging: accumulate got " + std::to_string(px.size()) + ", " + std::to_string(py.size()) + ", " +
         std::to_string(pz.size()) + " coordinates, " + std::to_string(values.size()) + " values and " +
         std::to_string(weights.size()) + " weights; they must all be the same length (weights may be empty)");
  // Checked before anything is added, so a bad call leaves the sums as they were. The slack
  // lets a point computed as pi * s / s_ext in T round just past pi.
  const T bound = std::numbers::pi_v<T> * (1 + 8 * std::numeric_limits<T>::epsilon());
  const T* coords[3] = {px.data(), py.data(), pz.data()};
  for (std::size_t j = 0; j < m; ++j) {
    for (int d = 0; d < 3; ++d)
      if (!(std::abs(coords[d][j]) <= bound))
        fail("merging: point " + std::to_string(j) + " has " + "xyz"[d] + " = " +
             std::to_string(static_cast<double>(coords[d][j])) + ", outside [-pi, pi] (scale by pi / s_ext)");
    if (!std::isfinite(values[j]))
      fail("merging: value " + std::to_string(j) + " is not finite (" +
           std::to_string(static_cast<double>(values[j])) + "); give masked pixels weight 0 and any finite value");
    if (!weights.empty() && !(weights[j] >= 0 && std::isfinite(weights[j])))
      fail("merging: weight " + std::to_string(j) + " is " + std::to_string(static_cast<double>(weights[j])) +
           "; weights must be finite and >= 0");
  }

  const std::int64_t chunk = std::min<std::int64_t>(s.settings.chunk_points, static_cast<std::int64_t>(m));
  // Kept between calls: a fresh array every call cost the kernel's page clearing (18% of a
  // merge, perf on 3,000 images).
  std::vector<std::complex<T>>& c = s.strengths;
  if (c.size() < static_cast<std::size_t>(chunk)) c.resize(static_cast<std::size_t>(chunk));
  for (std::int64_t first = 0; first < static_cast<std::int64_t>(m); first += chunk) {
    const std::int64_t count = std::min<std::int64_t>(chunk, static_cast<std::int64_t>(m) - first);
    // Kernel weights in the real part, weighted data in the imaginary part: one NUFFT for both.
#pragma omp parallel for num_threads(s.threads) schedule(static)
    for (std::int64_t j = 0; j < count; ++j) {
      const std::size_t g = static_cast<std::size_t>(first + j);
      const T w = weights.empty() ? T(1) : weights[g];
      c[static_cast<std::size_t>(j)] = {w, w * values[g]};
    }
    s.chunk_points = s.plan.sort_points(count, px.data() + first, py.data() + first, pz.data() + first,
                                        std::move(s.chunk_points));
    s.plan.spread_add(s.chunk_points, c.data());
    s.pending += count;
    if (s.pending >= s.settings.points_per_fft) s.flush();
  }
}

template <typename T>
void Merger<T>::State::flush() {
  if (pending == 0) return;
  pending = 0;
  const std::int64_t total = nk * nk * nk, n = settings.n, h = n / 2;
  std::vector<std::complex<T>> f(static_cast<std::size_t>(total));
  plan.finish(f.data());
  // Mode -m sits at the mirrored index total-1-i (odd grid, centred).
  double* k_sum = kernel.data();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::int64_t i = 0; i < total; ++i)
    k_sum[i] += 0.5 * (static_cast<double>(f[i].real()) + static_cast<double>(f[total - 1 - i].real()));
  double* r_sum = rhs.data();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::int64_t i3 = 0; i3 < n; ++i3)
    for (std::int64_t i2 = 0; i2 < n; ++i2)
      for (std::int64_t i1 = 0; i1 < n; ++i1) {
        // Voxel l = i - h is mode l + n - 1 of the (2n-1)^3 grid.
        const std::int64_t k = (i1 + h) + nk * ((i2 + h) + nk * (i3 + h));
        r_sum[i1 + n * (i2 + n * i3)] +=
            0.5 * (static_cast<double>(f[k].imag()) + static_cast<double>(f[total - 1 - k].imag()));
      }
}

template <typename T>
void Merger<T>::reset() {
  if (s_->pending > 0) {  // drop what was spread: finish() clears the grid
    std::vector<std::complex<T>> f(static_cast<std::size_t>(s_->plan.n_modes()));
    s_->plan.finish(f.data());
    s_->pending = 0;
  }
  std::fill(s_->kernel.begin(), s_->kernel.end(), 0.0);
  std::fill(s_->rhs.begin(), s_->rhs.end(), 0.0);
}

template <typename T>
std::span<double> Merger<T>::kernel() {
  s_->settle();
  return s_->kernel;
}
template <typename T>
std::span<double> Merger<T>::rhs() {
  s_->settle();
  return s_->rhs;
}
template <typename T>
double Merger<T>::lambda() const {
  s_->flush();
  return s_->settings.rho * s_->kernel[s_->kernel.size() / 2];
}
template <typename T>
const Options& Merger<T>::options() const {
  return s_->settings;
}

template <typename T>
template <typename S>
Solution Merger<T>::State::solve_in(Toeplitz<S>& toeplitz, CirculantPreconditioner<S>* preconditioner,
                                    std::span<const double> x0) {
  const double weight_sum = kernel[kernel.size() / 2];
  if (!(weight_sum > 0)) fail("merging: no data to merge (the weights sum to 0)");
  for (double v : kernel)
    if (!std::isfinite(v)) fail("merging: the Toeplitz kernel is not finite");
  toeplitz.set_kernel(kernel);
  const double lambda = settings.rho * weight_sum;
  const std::size_t size = rhs.size();
  const bool masked = !support.empty();
  auto in_support = [&](std::size_t i) { return !masked || support[i] != 0; };

  // Start and right-hand side inside the support; the operator keeps CG's iterates there.
  std::vector<S> b(size), x(size);
  for (std::size_t i = 0; i < size; ++i) {
    const double start = x0.empty() ? 0.0 : x0[i];
    x[i] = in_support(i) ? static_cast<S>(start) : S(0);
    b[i] = in_support(i) ? static_cast<S>(rhs[i] + lambda * start) : S(0);
  }
  const S lam = static_cast<S>(lambda);
  const std::function<void(const S*, S*)> apply_m = [&](const S* in, S* out) {
    toeplitz.apply(in, out);
    for (std::size_t i = 0; i < size; ++i) out[i] = in_support(i) ? out[i] + lam * in[i] : S(0);
  };
  std::function<void(const S*, S*)> precondition;
  if (preconditioner) {
    preconditioner->set_kernel(kernel, lambda);
    precondition = [&](const S* in, S* out) {
      preconditioner->apply(in, out);
      for (std::size_t i = 0; i < size; ++i)
        if (!in_support(i)) out[i] = S(0);
    };
  }
  Solution sol;
  sol.lambda = lambda;
  sol.cg = conjugate_gradient<S>(apply_m, b, x, settings.max_iterations, settings.tolerance, precondition);
  sol.x.assign(x.begin(), x.end());
  return sol;
}

template <typename T>
Solution Merger<T>::solve(std::span<const double> x0) {
  State& s = *s_;
  s.settle();
  if (!x0.empty() && x0.size() != s.rhs.size())
    fail("merging: x0 has " + std::to_string(x0.size()) + " values, expected n^3 = " + std::to_string(s.rhs.size()));
  for (double v : x0)
    if (!std::isfinite(v)) fail("merging: x0 is not finite");
  return s.toeplitz_f ? s.solve_in(*s.toeplitz_f, s.preconditioner_f.get(), x0)
                      : s.solve_in(*s.toeplitz_d, s.preconditioner_d.get(), x0);
}

template class Merger<float>;
template class Merger<double>;

}  // namespace spire::merging
