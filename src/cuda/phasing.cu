// Phasing on the GPU (see phasing.hpp).
#include "cuda/phasing.hpp"

#include <cufft.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "cuda/check.hpp"
#include "cuda/launch.cuh"
#include "phasing/common.hpp"
#include "phasing/schedule.hpp"

namespace spire::cuda {
namespace {

using C = cufftDoubleComplex;

__global__ void amplitude_from_work(std::int64_t total, const C* work, double* amp) {
  SPIRE_INDEX;
  if (i < total) amp[i] = sqrt(fmax(work[i].x, 0.0));
}

__global__ void amplitude_from_intensity(std::int64_t total, const double* intensity, double* amp) {
  SPIRE_INDEX;
  if (i < total) amp[i] = sqrt(fmax(intensity[i], 0.0));
}

__global__ void mask_unmeasured(int n, double r2, double* amp, double* norm2) {
  const std::int64_t nn = n;
  SPIRE_INDEX;
  double v = 0;
  if (i < nn * nn * nn) {
    const int x = static_cast<int>(i % nn), y = static_cast<int>((i / nn) % nn), z = static_cast<int>(i / (nn * nn));
    auto k = [n](int j) { return static_cast<double>(j <= n / 2 ? j : j - n); };
    if (k(x) * k(x) + k(y) * k(y) + k(z) * k(z) > r2)
      amp[i] = -1;
    else
      v = amp[i] * amp[i];
  }
  block_add(v, norm2);
}

__global__ void real_to_work(std::int64_t total, const double* rho, C* work) {
  SPIRE_INDEX;
  if (i < total) work[i] = make_cuDoubleComplex(rho[i], 0);
}

__global__ void abs_to_work(std::int64_t total, const double* rho, C* work) {
  SPIRE_INDEX;
  if (i < total) work[i] = make_cuDoubleComplex(fabs(rho[i]), 0);
}

__global__ void project(std::int64_t total, const double* amp, double inv_n, C* work, double* num) {
  SPIRE_INDEX;
  double d2 = 0;
  if (i < total) {
    const C g = work[i];
    const double a = amp[i];
    if (a < 0) {
      work[i] = make_cuDoubleComplex(g.x * inv_n, g.y * inv_n);
    } else {
      const double m = sqrt(g.x * g.x + g.y * g.y);
      const double d = m - a;
      d2 = d * d;
      work[i] = m > 0 ? make_cuDoubleComplex(g.x * (a * inv_n / m), g.y * (a * inv_n / m))
                      : make_cuDoubleComplex(a * inv_n, 0);
    }
  }
  block_add(d2, num);
}

// ER (hio = false) or HIO update of rho from work's real part; work gets the new rho for
// the next iteration's forward FFT.
__global__ void update(std::int64_t total, const unsigned char* support, bool positivity, bool hio, double beta,
                       double* rho, C* work) {
  SPIRE_INDEX;
  if (i >= total) return;
  const double p = work[i].x;
  const bool keep = support[i] && (!positivity || p >= 0);
  const double r = keep ? p : (hio ? rho[i] - beta * p : 0.0);
  rho[i] = r;
  work[i] = make_cuDoubleComplex(r, 0);
}

__global__ void blur(int n, const double* g, double inv_n, C* work) {
  const std::int64_t nn = n;
  SPIRE_INDEX;
  if (i >= nn * nn * nn) return;
  const std::int64_t x = i % nn, y = (i / nn) % nn, z = i / (nn * nn);
  const double s = g[x] * g[y] * g[z] * inv_n;
  work[i].x *= s;
  work[i].y *= s;
}

__global__ void intensity_to_work(std::int64_t total, const double* amp, C* work) {
  SPIRE_INDEX;
  if (i >= total) return;
  const double a = fmax(amp[i], 0.0);
  work[i] = make_cuDoubleComplex(a * a, 0);
}

__global__ void peak_of(std::int64_t total, const C* work, unsigned long long* peak) {
  SPIRE_INDEX;
  if (i >= total) return;
  // Non-negative doubles order as their bit patterns.
  const double v = fmax(work[i].x, 0.0);
  atomicMax(peak, static_cast<unsigned long long>(__double_as_longlong(v)));
}

__global__ void threshold(std::int64_t total, const C* work, double cut, unsigned char* support) {
  SPIRE_INDEX;
  if (i < total) support[i] = work[i].x > cut;
}

__global__ void power_to_work(std::int64_t total, double inv_n, C* work) {
  SPIRE_INDEX;
  if (i >= total) return;
  const C g = work[i];
  work[i] = make_cuDoubleComplex((g.x * g.x + g.y * g.y) * inv_n, 0);
}

__global__ void work_real(std::int64_t total, const C* work, double* out) {
  SPIRE_INDEX;
  if (i < total) out[i] = work[i].x;
}

}  // namespace

struct DevicePhaser::State {
  int n = 0;
  std::int64_t size = 0;
  stream_t stream = nullptr;
  cufftHandle plan = 0;
  bool have_plan = false;
  double measured_radius = std::numeric_limits<double>::infinity();
  double amplitude_norm2 = 0;
  DeviceBuffer<C> work;
  DeviceBuffer<double> rho, amp, scratch, errors, gauss;
  DeviceBuffer<unsigned char> support;
  DeviceBuffer<unsigned long long> peak;
  std::vector<double> host_errors;

  void forward() { check_fft(cufftExecZ2Z(plan, work.data(), work.data(), CUFFT_FORWARD), "cufftExecZ2Z"); }
  void backward() { check_fft(cufftExecZ2Z(plan, work.data(), work.data(), CUFFT_INVERSE), "cufftExecZ2Z"); }
  void check_size(const char* what, std::size_t got) const {
    if (static_cast<std::int64_t>(got) != size)
      fail(std::string("GPU phasing: ") + what + " has " + std::to_string(got) + " values, expected " + std::to_string(size));
  }
  void require_constraint() const { phasing::require_constraint(amplitude_norm2); }
  void mask() {
    scratch.zero(stream);
    mask_unmeasured<<<blocks(size), kBlock, 0, stream>>>(n, measured_radius * measured_radius, amp.data(), scratch.data());
    check_launch("mask_unmeasured");
    scratch.download(&amplitude_norm2, 1, stream);
  }
  void blur_work(double sigma) {
    const std::vector<double> g = phasing::gaussian_transfer(n, sigma);
    gauss.upload(g.data(), g.size(), stream);
    blur<<<blocks(size), kBlock, 0, stream>>>(n, gauss.data(), 1.0 / static_cast<double>(size), work.data());
    check_launch("blur");
  }
  double peak_of_work() {
    peak.zero(stream);
    peak_of<<<blocks(size), kBlock, 0, stream>>>(size, work.data(), peak.data());
    check_launch("peak_of");
    unsigned long long bits = 0;
    peak.download(&bits, 1, stream);
    double v;
    static_assert(sizeof(v) == sizeof(bits));
    std::memcpy(&v, &bits, sizeof(v));
    return v;
  }
  void iterate(int iterations, bool hio, double beta, bool positivity) {
    require_constraint();
    if (iterations <= 0) return;
    errors.resize(static_cast<std::size_t>(iterations));
    errors.zero(stream);
    real_to_work<<<blocks(size), kBlock, 0, stream>>>(size, rho.data(), work.data());
    check_launch("real_to_work");
    const double inv_n = 1.0 / static_cast<double>(size);
    for (int it = 0; it < iterations; ++it) {
      forward();
      project<<<blocks(size), kBlock, 0, stream>>>(size, amp.data(), inv_n, work.data(), errors.data() + it);
      check_launch("project");
      backward();
      update<<<blocks(size), kBlock, 0, stream>>>(size, support.data(), positivity, hio, beta, rho.data(), work.data());
      check_launch("update");
    }
    std::vector<double> num(static_cast<std::size_t>(iterations));
    errors.download(num.data(), num.size(), stream);
    for (double v : num) host_errors.push_back(std::sqrt(v / amplitude_norm2));
  }
};

DevicePhaser::DevicePhaser(int n, stream_t stream) : s_(std::make_unique<State>()) {
  if (n < 3 || n % 2 == 0) fail("GPU phasing: grid size must be odd and >= 3, got " + std::to_string(n));
  require_device();
  State& s = *s_;
  s.n = n;
  s.size = std::int64_t{n} * n * n;
  s.stream = stream;
  const auto sz = static_cast<std::size_t>(s.size);
  s.work.resize(sz);
  s.rho.resize(sz);
  s.rho.zero(stream);
  s.amp.resize(sz);
  s.amp.zero(stream);
  s.support.resize(sz);
  check(cudaMemsetAsync(s.support.data(), 1, sz, stream), "memset");
  s.scratch.resize(1);
  s.peak.resize(1);
  check_fft(cufftPlan3d(&s.plan, n, n, n, CUFFT_Z2Z), "cufftPlan3d");
  s.have_plan = true;
  check_fft(cufftSetStream(s.plan, stream), "cufftSetStream");
}

DevicePhaser::~DevicePhaser() {
  if (s_ && s_->have_plan) cufftDestroy(s_->plan);
}
DevicePhaser::DevicePhaser(DevicePhaser&&) noexcept = default;
DevicePhaser& DevicePhaser::operator=(DevicePhaser&&) noexcept = default;

int DevicePhaser::n() const { return s_->n; }

void DevicePhaser::set_measured_radius(double radius) {
  phasing::check_measured_radius(radius);
  s_->measured_radius = radius;
}

void DevicePhaser::set_autocorrelation(std::span<const double> a) {
  State& s = *s_;
  s.check_size("autocorrelation", a.size());
  const auto fft_order = phasing::permuted<double>(s.n, true, a);
  s.rho.upload(fft_order.data(), fft_order.size(), s.stream);  // staging; rho is reset by every run
  real_to_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.rho.data(), s.work.data());
  check_launch("real_to_work");
  s.forward();
  amplitude_from_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.work.data(), s.amp.data());
  check_launch("amplitude_from_work");
  s.mask();
}

void DevicePhaser::set_intensity(std::span<const double> intensity) {
  State& s = *s_;
  s.check_size("intensity", intensity.size());
  const auto fft_order = phasing::permuted<double>(s.n, true, intensity);
  s.rho.upload(fft_order.data(), fft_order.size(), s.stream);
  amplitude_from_intensity<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.rho.data(), s.amp.data());
  check_launch("amplitude_from_intensity");
  s.mask();
}

std::vector<std::uint8_t> DevicePhaser::support_from_autocorrelation(double fraction, double sigma) {
  State& s = *s_;
  s.require_constraint();
  phasing::check_support_arguments(fraction, sigma);
  intensity_to_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.amp.data(), s.work.data());
  check_launch("intensity_to_work");
  s.blur_work(sigma);
  s.backward();
  const double cut = fraction * s.peak_of_work();
  DeviceBuffer<unsigned char> sup(static_cast<std::size_t>(s.size));
  threshold<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.work.data(), cut, sup.data());
  check_launch("threshold");
  std::vector<std::uint8_t> fft_order(static_cast<std::size_t>(s.size));
  sup.download(fft_order.data(), fft_order.size(), s.stream);
  return phasing::permuted<std::uint8_t>(s.n, false, fft_order);
}

void DevicePhaser::set_support(std::span<const std::uint8_t> support) {
  State& s = *s_;
  s.check_size("support", support.size());
  auto fft_order = phasing::permuted<std::uint8_t>(s.n, true, support);
  for (auto& v : fft_order) v = v != 0;
  s.support.upload(fft_order.data(), fft_order.size(), s.stream);
  synchronize(s.stream);  // fft_order is a temporary
}

void DevicePhaser::set_density(std::span<const double> density) {
  State& s = *s_;
  s.check_size("density", density.size());
  const auto fft_order = phasing::permuted<double>(s.n, true, density);
  s.rho.upload(fft_order.data(), fft_order.size(), s.stream);
  synchronize(s.stream);
}

void DevicePhaser::random_density(std::uint64_t seed) {
  State& s = *s_;
  // The CPU's draw, in FFT order over the support, so both back ends start alike.
  std::vector<std::uint8_t> sup(static_cast<std::size_t>(s.size));
  s.support.download(sup.data(), sup.size(), s.stream);
  std::vector<double> rho(sup.size());
  phasing::random_start<double>(seed, sup, rho);
  s.rho.upload(rho.data(), rho.size(), s.stream);
  synchronize(s.stream);
}

void DevicePhaser::er(int iterations, bool positivity) { s_->iterate(iterations, false, 0, positivity); }

void DevicePhaser::hio(int iterations, double beta, bool positivity) {
  phasing::check_beta(beta);
  s_->iterate(iterations, true, beta, positivity);
}

void DevicePhaser::shrinkwrap(double sigma, double fraction) {
  State& s = *s_;
  phasing::check_shrinkwrap_arguments(sigma, fraction);
  abs_to_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.rho.data(), s.work.data());
  check_launch("abs_to_work");
  s.forward();
  s.blur_work(sigma);
  s.backward();
  const double peak = s.peak_of_work();
  if (!(peak > 0)) fail("phasing: shrinkwrap on a density that is zero everywhere");
  threshold<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.work.data(), fraction * peak, s.support.data());
  check_launch("threshold");
}

std::vector<double> DevicePhaser::density() const {
  const State& s = *s_;
  std::vector<double> fft_order(static_cast<std::size_t>(s.size));
  s.rho.download(fft_order.data(), fft_order.size(), s.stream);
  return phasing::permuted<double>(s.n, false, fft_order);
}

std::vector<std::uint8_t> DevicePhaser::support() const {
  const State& s = *s_;
  std::vector<std::uint8_t> fft_order(static_cast<std::size_t>(s.size));
  s.support.download(fft_order.data(), fft_order.size(), s.stream);
  return phasing::permuted<std::uint8_t>(s.n, false, fft_order);
}

const std::vector<double>& DevicePhaser::fourier_errors() const { return s_->host_errors; }

phasing::Result<double> DevicePhaser::run(const phasing::Schedule& sc, std::span<const double> start_density,
                                          std::span<const std::uint8_t> start_support) {
  s_->require_constraint();
  return phasing::run_schedule<double>(*this, s_->host_errors, sc, start_density, start_support);
}

std::vector<double> DevicePhaser::autocorrelation_of(std::span<const double> density) {
  State& s = *s_;
  s.check_size("density", density.size());
  const auto fft_order = phasing::permuted<double>(s.n, true, density);
  DeviceBuffer<double> d;
  d.upload(fft_order.data(), fft_order.size(), s.stream);
  real_to_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, d.data(), s.work.data());
  check_launch("real_to_work");
  s.forward();
  power_to_work<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, 1.0 / static_cast<double>(s.size), s.work.data());
  check_launch("power_to_work");
  s.backward();
  work_real<<<blocks(s.size), kBlock, 0, s.stream>>>(s.size, s.work.data(), d.data());
  check_launch("work_real");
  std::vector<double> out(fft_order.size());
  d.download(out.data(), out.size(), s.stream);
  return phasing::permuted<double>(s.n, false, out);
}

}  // namespace spire::cuda
