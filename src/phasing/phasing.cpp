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

}  // namespace

template <typename T>
Phaser<T>::Phaser(int n, int threads, Planning planning)
    : n_(n), threads_(threads > 0 ? threads : omp_get_max_threads()) {
  if (n < 3 || n % 2 == 0) fail("phasing: grid size must be odd and >= 3, got " + std::to_string(n));
  size_ = std::int64_t{n} * n * n;
  work_ = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size_));
  forward_ = std::make_unique<FftPlan3<T>>(n, n, n, -1, work_.get(), threads_, planning);
  backward_ = std::make_unique<FftPlan3<T>>(n, n, n, +1, work_.get(), threads_, planning);
  rho_.assign(static_cast<std::size_t>(size_), T(0));
  amplitude_.assign(static_cast<std::size_t>(size_), T(0));
  support_.assign(static_cast<std::size_t>(size_), 1);
}

template <typename T>
Phaser<T>::~Phaser() = default;

template <typename T>
void Phaser<T>::set_autocorrelation(std::span<const T> autocorrelation) {
  check_size("autocorrelation", autocorrelation.size(), size_);
  permute(n_, true, autocorrelation.data(), work_.get(), threads_,
          [](T v) { return std::complex<T>(v, 0); });
  forward_->execute(work_.get());
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) {
    // A centrosymmetric autocorrelation has a real transform; noise makes it slightly
    // complex and negative, which no |F|^2 can be.
    amplitude_[i] = std::sqrt(std::max(work_[i].real(), T(0)));
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
  const std::int64_t nn = n_;
  double norm2 = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(+ : norm2)
  for (int z = 0; z < n_; ++z)
    for (int y = 0; y < n_; ++y)
      for (int x = 0; x < n_; ++x) {
        const auto k = [this](int j) { return static_cast<double>(j <= n_ / 2 ? j : j - n_); };
        T& a = amplitude_[static_cast<std::size_t>(x + nn * (y + nn * z))];
        if (k(x) * k(x) + k(y) * k(y) + k(z) * k(z) > r2)
          a = T(-1);
        else
          norm2 += static_cast<double>(a) * static_cast<double>(a);
      }
  return norm2;
}

template <typename T>
void Phaser<T>::set_intensity(std::span<const T> intensity) {
  check_size("intensity", intensity.size(), size_);
  permute(n_, true, intensity.data(), amplitude_.data(), threads_,
          [](T v) { return std::sqrt(std::max(v, T(0))); });
  amplitude_norm2_ = mask_unmeasured();
}

template <typename T>
void Phaser<T>::require_constraint() const {
  phasing::require_constraint(amplitude_norm2_);
}

template <typename T>
void Phaser<T>::blur_work(double sigma) {
  // Transfer function of a unit-mass Gaussian, separable; 1/N of the inverse FFT folded in.
  const std::vector<double> transfer = gaussian_transfer(n_, sigma);
  const std::vector<T> g(transfer.begin(), transfer.end());
  const T inv_n = T(1) / static_cast<T>(size_);
  const std::int64_t nn = n_;
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (int z = 0; z < n_; ++z)
    for (int y = 0; y < n_; ++y) {
      const T gzy = g[z] * g[y] * inv_n;
      std::complex<T>* row = work_.get() + nn * (y + nn * z);
      for (int x = 0; x < n_; ++x) row[x] *= gzy * g[x];
    }
}

template <typename T>
std::vector<std::uint8_t> Phaser<T>::support_from_autocorrelation(double fraction,
                                                                  double sigma) {
  require_constraint();
  check_support_arguments(fraction, sigma);
  // The blurred autocorrelation is the inverse FFT of intensity x Gaussian transfer (the
  // unmeasured region counts as 0).
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) {
    const T a = std::max(amplitude_[i], T(0));
    work_[i] = a * a;
  }
  blur_work(sigma);
  backward_->execute(work_.get());
  T peak = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(max : peak)
  for (std::int64_t i = 0; i < size_; ++i) peak = std::max(peak, work_[i].real());
  const T cut = static_cast<T>(fraction) * peak;
  std::vector<std::uint8_t> s(static_cast<std::size_t>(size_));
  permute(n_, false, work_.get(), s.data(), threads_,
          [cut](const std::complex<T>& v) -> std::uint8_t { return v.real() > cut; });
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
  permute(n_, true, density.data(), rho_.data(), threads_, [](T v) { return v; });
}

template <typename T>
void Phaser<T>::random_density(std::uint64_t seed) {
  random_start<T>(seed, support_, rho_);
}

template <typename T>
std::vector<T> Phaser<T>::density() const {
  std::vector<T> d(static_cast<std::size_t>(size_));
  permute(n_, false, rho_.data(), d.data(), threads_, [](T v) { return v; });
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
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) work_[i] = std::complex<T>(rho_[i], 0);
  forward_->execute(work_.get());
  const T inv_n = T(1) / static_cast<T>(size_);
  double num = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(+ : num)
  for (std::int64_t i = 0; i < size_; ++i) {
    const std::complex<T> g = work_[i];
    const T a = amplitude_[i];
    if (a < 0) {  // unmeasured: left free
      work_[i] = g * inv_n;
      continue;
    }
    const T m = std::sqrt(std::norm(g));
    const double d = static_cast<double>(m) - static_cast<double>(a);
    num += d * d;
    work_[i] = m > 0 ? g * (a * inv_n / m) : std::complex<T>(a * inv_n, 0);
  }
  backward_->execute(work_.get());
  return std::sqrt(num / amplitude_norm2_);
}

template <typename T>
void Phaser<T>::er(int iterations, bool positivity) {
  require_constraint();
  for (int it = 0; it < iterations; ++it) {
    errors_.push_back(project_fourier());
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::int64_t i = 0; i < size_; ++i) {
      const T p = work_[i].real();
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
      const T p = work_[i].real();
      rho_[i] = support_[i] && (!positivity || p >= 0) ? p : rho_[i] - b * p;
    }
  }
}

template <typename T>
void Phaser<T>::shrinkwrap(double sigma, double fraction) {
  check_shrinkwrap_arguments(sigma, fraction);
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) work_[i] = std::abs(rho_[i]);
  forward_->execute(work_.get());
  blur_work(sigma);
  backward_->execute(work_.get());
  T peak = 0;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(max : peak)
  for (std::int64_t i = 0; i < size_; ++i) peak = std::max(peak, work_[i].real());
  if (!(peak > 0)) fail("phasing: shrinkwrap on a density that is zero everywhere");
  const T cut = static_cast<T>(fraction) * peak;
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) support_[i] = work_[i].real() > cut;
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
  permute(n_, true, density.data(), work_.get(), threads_,
          [](T v) { return std::complex<T>(v, 0); });
  forward_->execute(work_.get());
  const T inv_n = T(1) / static_cast<T>(size_);
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::int64_t i = 0; i < size_; ++i) work_[i] = std::norm(work_[i]) * inv_n;
  backward_->execute(work_.get());
  std::vector<T> a(static_cast<std::size_t>(size_));
  permute(n_, false, work_.get(), a.data(), threads_,
          [](const std::complex<T>& v) { return v.real(); });
  return a;
}

template <typename T>
std::vector<T> intensity_of(int n, std::span<const T> autocorrelation, int threads, Planning planning) {
  if (n < 1 || n % 2 == 0) fail("phasing: grid size must be odd, got " + std::to_string(n));
  const std::int64_t size = std::int64_t{n} * n * n;
  check_size("autocorrelation", autocorrelation.size(), size);
  const int t = threads > 0 ? threads : omp_get_max_threads();
  auto work = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size));
  FftPlan3<T> forward(n, n, n, -1, work.get(), t, planning);  // planning may overwrite work
  permute(n, true, autocorrelation.data(), work.get(), t, [](T v) { return std::complex<T>(v, 0); });
  forward.execute(work.get());
  std::vector<T> intensity(static_cast<std::size_t>(size));
  permute(n, false, work.get(), intensity.data(), t, [](const std::complex<T>& v) { return v.real(); });
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
