// Merging on the GPU (see merging.hpp): type-1 NUFFT sums, cuFFT Toeplitz, CG on the device.
#include "cuda/merging.hpp"

#include <cufft.h>

#include <cmath>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "cuda/check.hpp"
#include "cuda/launch.cuh"
#include "cuda/nufft.hpp"

namespace spire::cuda {
namespace {

template <typename S>
using complex_t = std::conditional_t<std::is_same_v<S, float>, cufftComplex, cufftDoubleComplex>;

template <typename S>
void fft_exec(cufftHandle plan, complex_t<S>* data, int direction) {
  if constexpr (std::is_same_v<S, float>)
    check_fft(cufftExecC2C(plan, data, data, direction), "cufftExecC2C");
  else
    check_fft(cufftExecZ2Z(plan, data, data, direction), "cufftExecZ2Z");
}

// Lag m (mode order, (2n-1)^3) to m mod L.
template <typename C>
__global__ void scatter_kernel(int n, int L, const double* kernel, C* work) {
  const std::int64_t nk = 2 * n - 1;
  SPIRE_INDEX;
  if (i >= nk * nk * nk) return;
  const std::int64_t i1 = i % nk, i2 = (i / nk) % nk, i3 = i / (nk * nk), h = n - 1;
  const std::int64_t g = (i1 - h + L) % L + L * ((i2 - h + L) % L + std::int64_t{L} * ((i3 - h + L) % L));
  work[g].x = kernel[i];
  work[g].y = 0;
}

template <typename S, typename C>
__global__ void take_spectrum(std::int64_t total, const C* work, S scale, S* spectrum) {
  SPIRE_INDEX;
  if (i < total) spectrum[i] = work[i].x * scale;
}

template <typename S, typename C>
__global__ void scatter_corner(int n, int L, const S* x, C* work) {
  SPIRE_INDEX;
  const std::int64_t nn = n;
  if (i >= nn * nn * nn) return;
  const std::int64_t i1 = i % nn, i2 = (i / nn) % nn, i3 = i / (nn * nn);
  C v;
  v.x = x[i];
  v.y = 0;
  work[i1 + L * (i2 + std::int64_t{L} * i3)] = v;
}

template <typename S, typename C>
__global__ void multiply_spectrum(std::int64_t total, const S* spectrum, C* work) {
  SPIRE_INDEX;
  if (i >= total) return;
  work[i].x *= spectrum[i];
  work[i].y *= spectrum[i];
}

template <typename S, typename C>
__global__ void gather_corner(int n, int L, const C* work, S* y) {
  SPIRE_INDEX;
  const std::int64_t nn = n;
  if (i >= nn * nn * nn) return;
  const std::int64_t i1 = i % nn, i2 = (i / nn) % nn, i3 = i / (nn * nn);
  y[i] = work[i1 + L * (i2 + std::int64_t{L} * i3)].x;
}

// c_j = w_j (1 + i b_j); flags a value, weight or point out of its range.
__global__ void make_strengths(std::int64_t m, const float* px, const float* py, const float* pz, const float* b,
                               const float* w, float2* c, unsigned long long* bad) {
  SPIRE_INDEX;
  if (i >= m) return;
  const float bound = 3.14159265358979323846f * (1 + 8 * 1.1920929e-7f);
  const float wi = w ? w[i] : 1.0f;
  if (!(fabsf(px[i]) <= bound && fabsf(py[i]) <= bound && fabsf(pz[i]) <= bound) || !isfinite(b[i]) ||
      !(wi >= 0 && isfinite(wi)))
    atomicMin(bad, static_cast<unsigned long long>(i));
  c[i] = make_float2(wi, wi * b[i]);
}

// K(m) += (Re f(m) + Re f(-m)) / 2; rhs(l) += (Im f(l) + Im f(-l)) / 2.
__global__ void add_sums(int n, const float2* f, double* kernel, double* rhs) {
  const std::int64_t nk = 2 * n - 1, total = nk * nk * nk;
  SPIRE_INDEX;
  if (i >= total) return;
  kernel[i] += 0.5 * (static_cast<double>(f[i].x) + static_cast<double>(f[total - 1 - i].x));
  const std::int64_t nn = n, h = n / 2;
  if (i < nn * nn * nn) {
    const std::int64_t i1 = i % nn, i2 = (i / nn) % nn, i3 = i / (nn * nn);
    const std::int64_t k = (i1 + h) + nk * ((i2 + h) + nk * (i3 + h));
    rhs[i] += 0.5 * (static_cast<double>(f[k].y) + static_cast<double>(f[total - 1 - k].y));
  }
}

__global__ void check_finite(std::int64_t total, const double* v, unsigned long long* bad) {
  SPIRE_INDEX;
  if (i < total && !isfinite(v[i])) atomicMin(bad, static_cast<unsigned long long>(i));
}

template <typename S>
__global__ void start_cg(std::int64_t total, const double* rhs, const double* x0, const unsigned char* support,
                         double lambda, S* b, S* x) {
  SPIRE_INDEX;
  if (i >= total) return;
  const bool in = !support || support[i];
  const double start = x0 ? x0[i] : 0.0;
  x[i] = in ? static_cast<S>(start) : S(0);
  b[i] = in ? static_cast<S>(rhs[i] + lambda * start) : S(0);
}

template <typename S>
__global__ void add_lambda(std::int64_t total, const unsigned char* support, S lambda, const S* in, S* out) {
  SPIRE_INDEX;
  if (i >= total) return;
  out[i] = !support || support[i] ? out[i] + lambda * in[i] : S(0);
}

template <typename S>
__global__ void dot_kernel(std::int64_t total, const S* a, const S* b, double* out) {
  double s = 0;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x)
    s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  block_add(s, out);
}

template <typename S>
__global__ void residual_start(std::int64_t total, const S* b, const S* q, S* r, S* p) {
  SPIRE_INDEX;
  if (i >= total) return;
  r[i] = b[i] - q[i];
  p[i] = r[i];
}

template <typename S>
__global__ void cg_update(std::int64_t total, S alpha, const S* p, const S* q, S* x, S* r) {
  SPIRE_INDEX;
  if (i >= total) return;
  x[i] += alpha * p[i];
  r[i] -= alpha * q[i];
}

template <typename S>
__global__ void cg_direction(std::int64_t total, S beta, const S* r, S* p) {
  SPIRE_INDEX;
  if (i < total) p[i] = r[i] + beta * p[i];
}

template <typename S>
__global__ void to_double(std::int64_t total, const S* x, double* y) {
  SPIRE_INDEX;
  if (i < total) y[i] = static_cast<double>(x[i]);
}

// merging::conjugate_gradient's operations on device vectors of n3 values: M = the Toeplitz
// convolution plus lambda inside the support (0 outside); dot products accumulated in double
// and returned to the host (each synchronises the stream).
template <typename S>
struct CgOps {
  DeviceToeplitz<S>& toeplitz;
  const unsigned char* support;  // nullptr: everything
  S lambda;
  std::int64_t n3;
  DeviceBuffer<double>& scratch;
  stream_t stream;

  void apply(const S* in, S* out) {
    toeplitz.apply(in, out);
    add_lambda<S><<<blocks(n3), kBlock, 0, stream>>>(n3, support, lambda, in, out);
    check_launch("add_lambda");
  }
  double dot(const S* a, const S* b) {
    scratch.zero(stream);
    const unsigned g = std::min<unsigned>(blocks(n3), 1024);
    dot_kernel<S><<<g, kBlock, 0, stream>>>(n3, a, b, scratch.data());
    check_launch("dot_kernel");
    double v = 0;
    scratch.download(&v, 1, stream);
    return v;
  }
  void zero(S* x) { fill_zero(x, static_cast<std::size_t>(n3) * sizeof(S), stream); }
  void start(const S* b, const S* q, S* r, S* p) {
    residual_start<S><<<blocks(n3), kBlock, 0, stream>>>(n3, b, q, r, p);
    check_launch("residual_start");
  }
  void step(S alpha, const S* p, const S* q, S* x, S* r) {
    cg_update<S><<<blocks(n3), kBlock, 0, stream>>>(n3, alpha, p, q, x, r);
    check_launch("cg_update");
  }
  void direction(S beta, const S* r, S* p) {
    cg_direction<S><<<blocks(n3), kBlock, 0, stream>>>(n3, beta, r, p);
    check_launch("cg_direction");
  }
  // r = b - q in S (r given as both outputs of residual_start), then r.r.
  double distance2(const S* b, const S* q, S* r) {
    start(b, q, r, r);
    return dot(r, r);
  }
};

}  // namespace

// ---------------------------------------------------------------------------- Toeplitz

template <typename S>
struct DeviceToeplitz<S>::State {
  int n = 0, L = 0;
  stream_t stream = nullptr;
  cufftHandle plan = 0;
  bool have_plan = false;
  DeviceBuffer<complex_t<S>> work;
  DeviceBuffer<S> spectrum;
  std::int64_t grid() const { return std::int64_t{L} * L * L; }
};

template <typename S>
DeviceToeplitz<S>::DeviceToeplitz(int n, int fft_size, stream_t stream) : s_(std::make_unique<State>()) {
  if (n < 1 || n % 2 == 0) fail("GPU Toeplitz: grid size n must be odd and positive, got " + std::to_string(n));
  if (fft_size < 2 * n - 1) fail("GPU Toeplitz: FFT size " + std::to_string(fft_size) + " is below 2n-1 (lags would alias)");
  require_device();
  State& s = *s_;
  s.n = n;
  s.L = fft_size;
  s.stream = stream;
  s.work.resize(static_cast<std::size_t>(s.grid()));
  s.spectrum.resize(static_cast<std::size_t>(s.grid()));
  check_fft(cufftPlan3d(&s.plan, s.L, s.L, s.L, std::is_same_v<S, float> ? CUFFT_C2C : CUFFT_Z2Z), "cufftPlan3d");
  s.have_plan = true;
  check_fft(cufftSetStream(s.plan, stream), "cufftSetStream");
}

template <typename S>
DeviceToeplitz<S>::~DeviceToeplitz() {
  if (s_ && s_->have_plan) cufftDestroy(s_->plan);
}
template <typename S>
DeviceToeplitz<S>::DeviceToeplitz(DeviceToeplitz&&) noexcept = default;
template <typename S>
DeviceToeplitz<S>& DeviceToeplitz<S>::operator=(DeviceToeplitz&&) noexcept = default;

template <typename S>
void DeviceToeplitz<S>::set_kernel(const double* kernel) {
  State& s = *s_;
  const std::int64_t nk = 2 * std::int64_t{s.n} - 1;
  s.work.zero(s.stream);
  scatter_kernel<<<blocks(nk * nk * nk), kBlock, 0, s.stream>>>(s.n, s.L, kernel, s.work.data());
  check_launch("scatter_kernel");
  fft_exec<S>(s.plan, s.work.data(), CUFFT_FORWARD);
  take_spectrum<<<blocks(s.grid()), kBlock, 0, s.stream>>>(s.grid(), s.work.data(),
                                                           static_cast<S>(1.0 / static_cast<double>(s.grid())),
                                                           s.spectrum.data());
  check_launch("take_spectrum");
}

template <typename S>
void DeviceToeplitz<S>::apply(const S* x, S* y) {
  State& s = *s_;
  const std::int64_t n3 = std::int64_t{s.n} * s.n * s.n;
  s.work.zero(s.stream);
  scatter_corner<<<blocks(n3), kBlock, 0, s.stream>>>(s.n, s.L, x, s.work.data());
  check_launch("scatter_corner");
  fft_exec<S>(s.plan, s.work.data(), CUFFT_FORWARD);
  multiply_spectrum<<<blocks(s.grid()), kBlock, 0, s.stream>>>(s.grid(), s.spectrum.data(), s.work.data());
  check_launch("multiply_spectrum");
  fft_exec<S>(s.plan, s.work.data(), CUFFT_INVERSE);
  gather_corner<<<blocks(n3), kBlock, 0, s.stream>>>(s.n, s.L, s.work.data(), y);
  check_launch("gather_corner");
}

template <typename S>
int DeviceToeplitz<S>::n() const { return s_->n; }
template <typename S>
int DeviceToeplitz<S>::fft_size() const { return s_->L; }

template class DeviceToeplitz<float>;
template class DeviceToeplitz<double>;

// ---------------------------------------------------------------------------- Merger

struct DeviceMerger::State {
  merging::Options settings;
  stream_t stream = nullptr;
  std::int64_t nk = 0, n3 = 0;
  DeviceNufft plan;
  DeviceBuffer<double> kernel, rhs, scratch, x0;
  DeviceBuffer<unsigned char> support;  // empty: everything
  DeviceBuffer<float2> c, f;
  DeviceBuffer<unsigned long long> bad;
  std::unique_ptr<DeviceToeplitz<float>> toeplitz_f;
  std::unique_ptr<DeviceToeplitz<double>> toeplitz_d;
  std::int64_t pending = 0;
  std::int64_t bad_offset = 0;  // points before the current accumulate call

  State(const merging::Options& s, stream_t st)
      : settings(s), stream(st), nk(2 * std::int64_t{s.n} - 1), n3(std::int64_t{s.n} * s.n * s.n),
        plan(1, {nk, nk, nk}, -1, s.nufft_tolerance, st, s.nufft.upsampling) {}

  void flush() {
    unsigned long long b = 0;
    bad.download(&b, 1, stream);
    if (b != ~0ull)
      fail("GPU merging: point " + std::to_string(b) + " of an accumulate call has a coordinate outside [-pi, pi], "
           "a non-finite value or a weight that is not finite and >= 0 (reset() to start again)");
    if (pending == 0) return;
    pending = 0;
    plan.finish(reinterpret_cast<cfloat*>(f.data()));
    add_sums<<<blocks(nk * nk * nk), kBlock, 0, stream>>>(settings.n, f.data(), kernel.data(), rhs.data());
    check_launch("add_sums");
  }

  template <typename S>
  merging::Solution solve_in(DeviceToeplitz<S>& toeplitz, std::span<const double> x0_host);
};

DeviceMerger::DeviceMerger(const merging::Options& settings, stream_t stream) {
  merging::check_options(settings);
  require_device();
  s_ = std::make_unique<State>(settings, stream);
  State& s = *s_;
  s.kernel.resize(static_cast<std::size_t>(s.nk * s.nk * s.nk));
  s.rhs.resize(static_cast<std::size_t>(s.n3));
  s.f.resize(static_cast<std::size_t>(s.nk * s.nk * s.nk));
  s.scratch.resize(1);
  s.bad.resize(1);
  if (settings.support_radius > 0) {
    const std::vector<unsigned char> sup = merging::support_ball(settings.n, settings.support_radius);
    s.support.upload(sup.data(), sup.size(), stream);
  }
  const int L = settings.fft_size > 0 ? settings.fft_size : merging::toeplitz_fft_size(settings.n);
  if (settings.cg_precision == merging::CgPrecision::float32)
    s.toeplitz_f = std::make_unique<DeviceToeplitz<float>>(settings.n, L, stream);
  else
    s.toeplitz_d = std::make_unique<DeviceToeplitz<double>>(settings.n, L, stream);
  reset();
}

DeviceMerger::~DeviceMerger() = default;
DeviceMerger::DeviceMerger(DeviceMerger&&) noexcept = default;
DeviceMerger& DeviceMerger::operator=(DeviceMerger&&) noexcept = default;

void DeviceMerger::reset() {
  State& s = *s_;
  if (s.pending > 0) {
    s.plan.finish(reinterpret_cast<cfloat*>(s.f.data()));  // clears the grid
    s.pending = 0;
  }
  s.kernel.zero(s.stream);
  s.rhs.zero(s.stream);
  check(cudaMemsetAsync(s.bad.data(), 0xff, sizeof(unsigned long long), s.stream), "memset");
}

void DeviceMerger::accumulate(std::int64_t m, const float* px, const float* py, const float* pz, const float* values,
                              const float* weights) {
  State& s = *s_;
  if (m < 0) fail("GPU merging: negative point count");
  if (m == 0) return;
  const std::int64_t chunk = std::min<std::int64_t>(s.settings.chunk_points, m);
  s.c.resize(static_cast<std::size_t>(chunk));
  for (std::int64_t first = 0; first < m; first += chunk) {
    const std::int64_t count = std::min(chunk, m - first);
    make_strengths<<<blocks(count), kBlock, 0, s.stream>>>(count, px + first, py + first, pz + first, values + first,
                                                           weights ? weights + first : nullptr, s.c.data(), s.bad.data());
    check_launch("make_strengths");
    const DevicePoints pts = s.plan.sort_points(count, px + first, py + first, pz + first);
    s.plan.spread_add(pts, reinterpret_cast<const cfloat*>(s.c.data()));
    s.pending += count;
    // The sorted points die here: wait until the spreader is done with them.
    synchronize(s.stream);
    if (s.pending >= s.settings.points_per_fft) s.flush();
  }
}

std::vector<double> DeviceMerger::kernel() {
  s_->flush();
  std::vector<double> k(s_->kernel.size());
  s_->kernel.download(k.data(), k.size(), s_->stream);
  return k;
}

std::vector<double> DeviceMerger::rhs() {
  s_->flush();
  std::vector<double> r(s_->rhs.size());
  s_->rhs.download(r.data(), r.size(), s_->stream);
  return r;
}

const merging::Options& DeviceMerger::options() const { return s_->settings; }

template <typename S>
merging::Solution DeviceMerger::State::solve_in(DeviceToeplitz<S>& toeplitz, std::span<const double> x0_host) {
  double weight_sum = 0;
  copy_to_host(&weight_sum, kernel.data() + kernel.size() / 2, sizeof(double), stream);
  if (!(weight_sum > 0)) fail("GPU merging: no data to merge (the weights sum to 0)");
  check(cudaMemsetAsync(bad.data(), 0xff, sizeof(unsigned long long), stream), "memset");
  check_finite<<<blocks(static_cast<std::int64_t>(kernel.size())), kBlock, 0, stream>>>(
      static_cast<std::int64_t>(kernel.size()), kernel.data(), bad.data());
  check_launch("check_finite");
  unsigned long long b = 0;
  bad.download(&b, 1, stream);
  if (b != ~0ull) fail("GPU merging: the Toeplitz kernel is not finite");
  toeplitz.set_kernel(kernel.data());
  const double lambda = settings.rho * weight_sum;
  if (!x0_host.empty()) x0.upload(x0_host.data(), x0_host.size(), stream);
  DeviceBuffer<S> bv(static_cast<std::size_t>(n3)), x(static_cast<std::size_t>(n3)), r(static_cast<std::size_t>(n3)),
      p(static_cast<std::size_t>(n3)), q(static_cast<std::size_t>(n3));
  const unsigned char* sup = support.size() ? support.data() : nullptr;
  start_cg<S><<<blocks(n3), kBlock, 0, stream>>>(n3, rhs.data(), x0_host.empty() ? nullptr : x0.data(), sup, lambda,
                                                 bv.data(), x.data());
  check_launch("start_cg");
  CgOps<S> ops{toeplitz, sup, static_cast<S>(lambda), n3, scratch, stream};
  merging::Solution sol;
  sol.lambda = lambda;
  sol.cg = merging::conjugate_gradient<S>(ops, bv.data(), x.data(), r.data(), p.data(), q.data(),
                                          settings.max_iterations, settings.tolerance);
  DeviceBuffer<double> xd(static_cast<std::size_t>(n3));
  to_double<S><<<blocks(n3), kBlock, 0, stream>>>(n3, x.data(), xd.data());
  check_launch("to_double");
  sol.x.resize(static_cast<std::size_t>(n3));
  xd.download(sol.x.data(), sol.x.size(), stream);
  return sol;
}

merging::Solution DeviceMerger::solve(std::span<const double> x0) {
  State& s = *s_;
  s.flush();
  if (!x0.empty() && static_cast<std::int64_t>(x0.size()) != s.n3)
    fail("GPU merging: x0 has " + std::to_string(x0.size()) + " values, expected n^3 = " + std::to_string(s.n3));
  for (double v : x0)
    if (!std::isfinite(v)) fail("GPU merging: x0 is not finite");
  return s.toeplitz_f ? s.solve_in(*s.toeplitz_f, x0) : s.solve_in(*s.toeplitz_d, x0);
}

}  // namespace spire::cuda
