#include "phasing/phasing.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "phasing/common.hpp"
#include "phasing/schedule.hpp"

namespace spire::phasing {
namespace {

void check_size(const char* what, std::size_t got, std::int64_t want) {
  if (static_cast<std::int64_t>(got) != want)
    fail(std::string("phasing: ") + what + " has " + std::to_string(got) +
         " values, expected " + std::to_string(want));
}

// Index j of an axis in FFT order -> its signed frequency (or offset), -n/2..n/2.
int signed_index(int j, int n) { return j <= n / 2 ? j : j - n; }

// The real n^3 array (x fastest) and its half spectrum n x n x (n/2+1), for FFTW's guru
// interface: r2c (real_to_half) and c2r (half_to_real).
FftDims real_to_half(std::int64_t n) {
  const std::int64_t h = n / 2 + 1;
  return {{n, n * n, n * h}, {n, n, h}, {n, 1, 1}};
}
FftDims half_to_real(std::int64_t n) {
  const std::int64_t h = n / 2 + 1;
  return {{n, n * h, n * n}, {n, h, n}, {n, 1, 1}};
}

// The weight of column kx of the half spectrum in a sum over the full one (n odd: no Nyquist
// plane): kx = 0 once, the others for themselves and their conjugates.
double weight(std::int64_t kx) { return kx == 0 ? 1.0 : 2.0; }

// One coefficient's Fourier projection, the c2r's 1/n^3 folded in: keep g's phase, set its
// modulus to a (phase 0 where g = 0); a < 0 (unmeasured) leaves g free. Returns (|g| - a)^2,
// 0 where unmeasured.
template <typename T>
double project_one(std::complex<T>& g, T a, T inv_n) {
  if (a < 0) {
    g *= inv_n;
    return 0;
  }
  const T m = std::sqrt(std::norm(g));
  const double d = static_cast<double>(m) - static_cast<double>(a);
  g = m > 0 ? g * (a * inv_n / m) : std::complex<T>(a * inv_n, 0);
  return d * d;
}

constexpr auto unchanged = [](auto v) { return v; };

}  // namespace

// Grids below this many voxels phase on one thread: an iteration is a few parallel loops and
// two FFTs of tens of microseconds, which fork-joins only slow down (bench/phasing, float,
// 800 iterations: n = 21 0.12 s on 1 thread, 0.18 s on 2; n = 31 0.77 s and 0.55 s), and
// which another process on the cores turns into seconds (spinning or sleeping threads).
constexpr std::int64_t kThreadedVoxels = 25 * 25 * 25;

template <typename T>
Phaser<T>::Phaser(int n, int threads, Planning planning)
    : n_(n), threads_(threads > 0 ? threads : omp_get_max_threads()) {
  if (n < 3 || n % 2 == 0) fail("phasing: grid size must be odd and >= 3, got " + std::to_string(n));
  const std::int64_t nn = n;
  if (nn * nn * nn < kThreadedVoxels) threads_ = 1;
  size_ = nn * nn * nn;
  half_ = nn * nn * (nn / 2 + 1);
  rho_ = aligned_zeros<T>(static_cast<std::size_t>(size_));
  real_ = aligned_zeros<T>(static_cast<std::size_t>(size_));
  spectrum_ = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(half_));
  // Planning may overwrite real_ and spectrum_; every step fills them before reading.
  forward_ = std::make_unique<FftPlanReal<T>>(real_to_half(nn), FftDims{}, real_.get(), spectrum_.get(),
                                              threads_, planning);
  backward_ = std::make_unique<FftPlanReal<T>>(half_to_real(nn), FftDims{}, spectrum_.get(), real_.get(),
                                               threads_, planning);
  amplitude_.assign(static_cast<std::size_t>(half_), T(0));
  support_.assign(static_cast<std::size_t>(size_), 1);
}

template <typename T>
Phaser<T>::~Phaser() = default;

template <typename T>
void Phaser<T>::set_autocorrelation(std::span<const T> autocorrelation) {
  check_size("autocorrelation", autocorrelation.size(), size_);
  permute(n_, true, autocorrelation.data(), real_.get(), threads_, unchanged);
  forward_->execute(real_.get(), spectrum_.get());
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < half_; ++i) {
    // A centrosymmetric autocorrelation has a real transform; noise makes it slightly
    // complex and negative, which no |F|^2 can be. (Re FFT of real data is even in k.)
    amplitude_[i] = std::sqrt(std::max(spectrum_[i].real(), T(0)));
  }
  amplitude_norm2_ = mask_unmeasured();
}

template <typename T>
void Phaser<T>::set_measured_radius(double radius) {
  check_measured_radius(radius);
  measured_radius_ = radius;
}

template <typename T>
double Phaser<T>::mask_unmeasured() {
  const double r2 = measured_radius_ * measured_radius_;
  const std::int64_t nn = n_, h = nn / 2 + 1;
  double norm2 = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(+ : norm2)
  for (int z = 0; z < n_; ++z)
    for (int y = 0; y < n_; ++y) {
      const double kz = signed_index(z, n_), ky = signed_index(y, n_), kzy = kz * kz + ky * ky;
      T* row = amplitude_.data() + h * (y + nn * z);
      for (std::int64_t x = 0; x < h; ++x) {
        const double kx = static_cast<double>(x);
        if (kzy + kx * kx > r2)
          row[x] = T(-1);
        else
          norm2 += weight(x) * static_cast<double>(row[x]) * static_cast<double>(row[x]);
      }
    }
  return norm2;
}

template <typename T>
void Phaser<T>::set_intensity(std::span<const T> intensity) {
  check_size("intensity", intensity.size(), size_);
  const std::int64_t nn = n_, h = nn / 2 + 1, c = n_ / 2;
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (int z = 0; z < n_; ++z)
    for (int y = 0; y < n_; ++y) {
      // Centred rows of k = (kx, ky, kz) and -k; kx = 0..n/2 runs forward in the one and
      // backward in the other from the centre column.
      const std::int64_t kz = signed_index(z, n_), ky = signed_index(y, n_);
      const T* plus = intensity.data() + c + nn * ((c + ky) + nn * (c + kz));
      const T* minus = intensity.data() + c + nn * ((c - ky) + nn * (c - kz));
      T* row = amplitude_.data() + h * (y + nn * z);
      for (std::int64_t x = 0; x < h; ++x)
        row[x] = std::sqrt(std::max((plus[x] + minus[-x]) / T(2), T(0)));
    }
  amplitude_norm2_ = mask_unmeasured();
}

template <typename T>
void Phaser<T>::require_constraint() const {
  phasing::require_constraint(amplitude_norm2_);
}

template <typename T>
void Phaser<T>::blur_work(double sigma) {
  // Transfer function of a unit-mass Gaussian, separable and even (so the half spectrum's
  // columns take g[kx], kx = 0..n/2); 1/N of the inverse FFT folded in.
  const std::vector<double> transfer = gaussian_transfer(n_, sigma);
  const std::vector<T> g(transfer.begin(), transfer.end());
  const T inv_n = T(1) / static_cast<T>(size_);
  const std::int64_t nn = n_, h = nn / 2 + 1;
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (int z = 0; z < n_; ++z)
    for (int y = 0; y < n_; ++y) {
      const T gzy = g[z] * g[y] * inv_n;
      std::complex<T>* row = spectrum_.get() + h * (y + nn * z);
      for (std::int64_t x = 0; x < h; ++x) row[x] *= gzy * g[x];
    }
}

template <typename T>
T Phaser<T>::blurred_peak(double sigma) {
  blur_work(sigma);
  backward_->execute(spectrum_.get(), real_.get());
  T peak = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(max : peak)
  for (std::int64_t i = 0; i < size_; ++i) peak = std::max(peak, real_[i]);
  return peak;
}

template <typename T>
std::vector<std::uint8_t> Phaser<T>::support_from_autocorrelation(double fraction,
                                                                  double sigma) {
  require_constraint();
  check_support_arguments(fraction, sigma);
  // The blurred autocorrelation is the inverse FFT of intensity x Gaussian transfer (the
  // unmeasured region counts as 0).
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < half_; ++i) {
    const T a = std::max(amplitude_[i], T(0));
    spectrum_[i] = a * a;
  }
  const T cut = static_cast<T>(fraction) * blurred_peak(sigma);
  std::vector<std::uint8_t> s(static_cast<std::size_t>(size_));
  permute(n_, false, real_.get(), s.data(), threads_, [cut](T v) -> std::uint8_t { return v > cut; });
  return s;
}

template <typename T>
void Phaser<T>::set_support(std::span<const std::uint8_t> support) {
  check_size("support", support.size(), size_);
  permute(n_, true, support.data(), support_.data(), threads_,
          [](std::uint8_t v) -> std::uint8_t { return v != 0; });
}

template <typename T>
void Phaser<T>::set_density(std::span<const T> density) {
  check_size("density", density.size(), size_);
  permute(n_, true, density.data(), rho_.get(), threads_, unchanged);
}

template <typename T>
void Phaser<T>::random_density(std::uint64_t seed) {
  random_start<T>(seed, support_, std::span<T>(rho_.get(), static_cast<std::size_t>(size_)));
}

template <typename T>
std::vector<T> Phaser<T>::density() const {
  std::vector<T> d(static_cast<std::size_t>(size_));
  permute(n_, false, rho_.get(), d.data(), threads_, unchanged);
  return d;
}

template <typename T>
std::vector<std::uint8_t> Phaser<T>::support() const {
  std::vector<std::uint8_t> s(static_cast<std::size_t>(size_));
  permute(n_, false, support_.data(), s.data(), threads_, [](std::uint8_t v) { return v; });
  return s;
}

template <typename T>
double Phaser<T>::project_fourier() {
  forward_->execute(rho_.get(), spectrum_.get());  // r2c keeps rho_
  const T inv_n = T(1) / static_cast<T>(size_);
  const std::int64_t h = n_ / 2 + 1, rows = std::int64_t{n_} * n_;
  double num = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(+ : num)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::complex<T>* g = spectrum_.get() + h * r;
    const T* a = amplitude_.data() + h * r;
    for (std::int64_t x = 0; x < h; ++x) num += weight(x) * project_one(g[x], a[x], inv_n);
  }
  backward_->execute(spectrum_.get(), real_.get());
  return std::sqrt(num / amplitude_norm2_);
}

template <typename T>
void Phaser<T>::er(int iterations, bool positivity) {
  require_constraint();
  for (int it = 0; it < iterations; ++it) {
    errors_.push_back(project_fourier());
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < size_; ++i) {
      const T p = real_[i];
      rho_[i] = support_[i] && (!positivity || p >= 0) ? p : T(0);
    }
  }
}

template <typename T>
void Phaser<T>::hio(int iterations, double beta, bool positivity) {
  require_constraint();
  check_beta(beta);
  const T b = static_cast<T>(beta);
  for (int it = 0; it < iterations; ++it) {
    errors_.push_back(project_fourier());
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < size_; ++i) {
      const T p = real_[i];
      rho_[i] = support_[i] && (!positivity || p >= 0) ? p : rho_[i] - b * p;
    }
  }
}

template <typename T>
void Phaser<T>::shrinkwrap(double sigma, double fraction) {
  check_shrinkwrap_arguments(sigma, fraction);
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) real_[i] = std::abs(rho_[i]);
  forward_->execute(real_.get(), spectrum_.get());
  const T peak = blurred_peak(sigma);
  if (!(peak > 0)) fail("phasing: shrinkwrap on a density that is zero everywhere");
  const T cut = static_cast<T>(fraction) * peak;
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) support_[i] = real_[i] > cut;
}

template <typename T>
Result<T> Phaser<T>::run(const Schedule& s, std::span<const T> start_density,
                         std::span<const std::uint8_t> start_support) {
  require_constraint();
  return run_schedule<T>(*this, errors_, s, start_density, start_support);
}

template <typename T>
std::vector<T> Phaser<T>::autocorrelation_of(std::span<const T> density) {
  check_size("density", density.size(), size_);
  permute(n_, true, density.data(), real_.get(), threads_, unchanged);
  forward_->execute(real_.get(), spectrum_.get());
  const T inv_n = T(1) / static_cast<T>(size_);
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < half_; ++i) spectrum_[i] = std::norm(spectrum_[i]) * inv_n;
  backward_->execute(spectrum_.get(), real_.get());
  std::vector<T> a(static_cast<std::size_t>(size_));
  permute(n_, false, real_.get(), a.data(), threads_, unchanged);
  return a;
}

namespace {

// full <- Re of the full spectrum (FFT order, n^3) from the half one: Re F(-k) = Re F(k).
template <typename T>
void even_real_part(int n, const std::complex<T>* half, T* full, int threads) {
  const std::int64_t nn = n, h = nn / 2 + 1;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y) {
      const std::complex<T>* row = half + h * (y + nn * z);
      const std::complex<T>* mirror = half + h * ((n - y) % n + nn * ((n - z) % n));
      T* out = full + nn * (y + nn * z);
      for (std::int64_t x = 0; x < nn; ++x) out[x] = x < h ? row[x].real() : mirror[nn - x].real();
    }
}

}  // namespace

template <typename T>
std::vector<T> intensity_of(int n, std::span<const T> autocorrelation, int threads, Planning planning) {
  if (n < 1 || n % 2 == 0) fail("phasing: grid size must be odd, got " + std::to_string(n));
  const std::int64_t nn = n, size = nn * nn * nn;
  check_size("autocorrelation", autocorrelation.size(), size);
  const int t = threads > 0 ? threads : omp_get_max_threads();
  auto real = aligned_zeros<T>(static_cast<std::size_t>(size));
  auto half = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(nn * nn * (nn / 2 + 1)));
  // Planning may overwrite both arrays: fill after.
  FftPlanReal<T> forward(real_to_half(nn), FftDims{}, real.get(), half.get(), t, planning);
  permute(n, true, autocorrelation.data(), real.get(), t, unchanged);
  forward.execute(real.get(), half.get());
  even_real_part(n, half.get(), real.get(), t);
  std::vector<T> intensity(static_cast<std::size_t>(size));
  permute(n, false, real.get(), intensity.data(), t, unchanged);
  return intensity;
}

template <typename T>
std::array<int, 3> recentre(int n, std::span<T> density, std::span<std::uint8_t> support) {
  const std::int64_t nn = n, size = nn * nn * nn;
  check_size("density", density.size(), size);
  if (!support.empty()) check_size("support", support.size(), size);
  // Circular mean per axis: the phase of the first Fourier coefficient of the marginal.
  std::array<std::vector<double>, 3> marginal;
  for (auto& m : marginal) m.assign(n, 0.0);
  double total = 0;
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const double w = std::max(0.0, static_cast<double>(density[x + nn * (y + nn * z)]));
        marginal[0][x] += w;
        marginal[1][y] += w;
        marginal[2][z] += w;
        total += w;
      }
  std::array<int, 3> shift{0, 0, 0};
  if (!(total > 0)) return shift;
  for (int d = 0; d < 3; ++d) {
    double c = 0, s = 0;
    for (int i = 0; i < n; ++i) {
      const double phi = 2 * std::numbers::pi * i / n;
      c += marginal[d][i] * std::cos(phi);
      s += marginal[d][i] * std::sin(phi);
    }
    const double mean = std::atan2(s, c) * n / (2 * std::numbers::pi);
    int sh = static_cast<int>(std::lround(n / 2 - mean)) % n;
    if (sh > n / 2) sh -= n;
    if (sh < -n / 2) sh += n;
    shift[d] = sh;
  }
  auto wrap = [n](int i) { return ((i % n) + n) % n; };
  auto apply = [&](auto data) {
    using V = std::remove_cvref_t<decltype(data[0])>;
    std::vector<V> copy(data.begin(), data.end());
    for (int z = 0; z < n; ++z)
      for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x)
          data[wrap(x + shift[0]) + nn * (wrap(y + shift[1]) + nn * wrap(z + shift[2]))] =
              copy[x + nn * (y + nn * z)];
  };
  apply(density);
  if (!support.empty()) apply(support);
  return shift;
}

template class Phaser<float>;
template class Phaser<double>;
template std::vector<float> intensity_of<float>(int, std::span<const float>, int, Planning);
template std::vector<double> intensity_of<double>(int, std::span<const double>, int, Planning);
template std::array<int, 3> recentre<float>(int, std::span<float>, std::span<std::uint8_t>);
template std::array<int, 3> recentre<double>(int, std::span<double>, std::span<std::uint8_t>);

}  // namespace spire::phasing
