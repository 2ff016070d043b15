// Every GPU stage against the CPU implementation on the same inputs. Without a device (or a
// build without CUDA) every test here is SKIPPED, never passed.
#include <gtest/gtest.h>

#include "cuda/device.hpp"

#ifndef SPIRE_HAVE_CUDA

TEST(CudaGpu, BuiltWithoutCuda) { GTEST_SKIP() << "spire was built without the CUDA back end"; }

#else

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "cuda/matching.hpp"
#include "cuda/merging.hpp"
#include "cuda/nufft.hpp"
#include "cuda/phasing.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "merging/merging.hpp"
#include "nufft/nufft.hpp"
#include "phasing/phasing.hpp"
#include "reconstruct/reconstruct.hpp"
#include "slicing/slicing.hpp"

using namespace spire;
using cfloat = std::complex<float>;

namespace {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << cuda::describe();
  }
};

template <typename T>
cuda::DeviceBuffer<T> to_device(const std::vector<T>& v) {
  cuda::DeviceBuffer<T> d;
  d.upload(v.data(), v.size());
  cuda::synchronize(nullptr);
  return d;
}
template <typename T>
std::vector<T> to_host(const cuda::DeviceBuffer<T>& d, std::size_t n) {
  std::vector<T> v(n);
  d.download(v.data(), n);
  return v;
}

template <typename A, typename B>
double rel_l2(const std::vector<A>& a, const std::vector<B>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += std::norm(std::complex<double>(a[i]) - std::complex<double>(b[i]));
    den += std::norm(std::complex<double>(b[i]));
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Points {
  std::vector<float> x, y, z;
  std::vector<cfloat> c, f;
};

Points random_points(std::int64_t n, std::int64_t n_modes, unsigned seed, double range) {
  Points p;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> pos(-range, range);
  std::normal_distribution<double> g;
  for (std::int64_t j = 0; j < n; ++j) {
    p.x.push_back(static_cast<float>(pos(rng)));
    p.y.push_back(static_cast<float>(pos(rng)));
    p.z.push_back(static_cast<float>(pos(rng)));
    p.c.emplace_back(static_cast<float>(g(rng)), static_cast<float>(g(rng)));
  }
  for (std::int64_t k = 0; k < n_modes; ++k) p.f.emplace_back(static_cast<float>(g(rng)), static_cast<float>(g(rng)));
  return p;
}

// Poison outputs so an unwritten element cannot pass.
template <typename T>
void poison(cuda::DeviceBuffer<T>& d) {
  std::vector<unsigned char> bad(d.size() * sizeof(T), 0xff);  // NaN for floats
  cuda::copy_to_device(d.data(), bad.data(), bad.size(), nullptr);
  cuda::synchronize(nullptr);
}

}  // namespace

// ---------------------------------------------------------------------------- NUFFT

TEST_F(Gpu, NufftType2MatchesTheDirectSumAndTheCpu) {
  for (double tol : {1e-3, 1e-5}) {
    for (int sign : {1, -1}) {
      const std::array<std::int64_t, 3> modes{16, 13, 11};
      const std::int64_t nm = modes[0] * modes[1] * modes[2], n = 3000;
      auto p = random_points(n, nm, 7 + static_cast<unsigned>(sign + 1), 3 * std::numbers::pi);
      std::vector<cfloat> direct(static_cast<std::size_t>(n)), cpu(direct.size());
      nufft::direct_type2<float>(n, p.x.data(), p.y.data(), p.z.data(), direct.data(), sign, modes, p.f.data());
      nufft::Options o;
      o.planning = Planning::estimate;
      nufft::Plan<float> plan(2, modes, sign, tol, o);
      plan.set_points(n, p.x.data(), p.y.data(), p.z.data());
      plan.execute(cpu.data(), p.f.data());

      cuda::DeviceNufft gpu(2, modes, sign, tol);
      auto dx = to_device(p.x), dy = to_device(p.y), dz = to_device(p.z);
      auto df = to_device(p.f);
      cuda::DeviceBuffer<cfloat> dc(static_cast<std::size_t>(n));
      poison(dc);
      gpu.set_points(n, dx.data(), dy.data(), dz.data());
      gpu.execute(dc.data(), df.data());
      const auto out = to_host(dc, static_cast<std::size_t>(n));
      EXPECT_LT(rel_l2(out, direct), 10 * tol) << "tol " << tol << " sign " << sign;
      EXPECT_LT(rel_l2(out, cpu), 10 * tol) << "tol " << tol << " sign " << sign;
      // The real-only variant (slicing) writes exactly the real parts.
      cuda::DeviceBuffer<float> dr(static_cast<std::size_t>(n));
      poison(dr);
      gpu.interpolate_real(gpu.points(), dr.data());
      const auto re = to_host(dr, static_cast<std::size_t>(n));
      for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(re[static_cast<std::size_t>(j)], out[static_cast<std::size_t>(j)].real());
    }
  }
}

TEST_F(Gpu, NufftType1MatchesTheDirectSumAndTheCpuWithBothSpreaders) {
  for (double tol : {1e-3, 1e-5, 1e-6}) {
    for (bool global : {false, true}) {
      const std::array<std::int64_t, 3> modes{15, 16, 17};
      const std::int64_t nm = modes[0] * modes[1] * modes[2], n = 20000;
      // Crowded near the origin as merging's Ewald spheres are, plus the full range.
      auto p = random_points(n, nm, 11, 3 * std::numbers::pi);
      for (std::int64_t j = 0; j < n / 2; ++j) p.x[static_cast<std::size_t>(j)] *= 0.01f;
      std::vector<cfloat> direct(static_cast<std::size_t>(nm)), cpu(direct.size());
      nufft::direct_type1<float>(n, p.x.data(), p.y.data(), p.z.data(), p.c.data(), -1, modes, direct.data());
      nufft::Options o;
      o.planning = Planning::estimate;
      nufft::Plan<float> plan(1, modes, -1, tol, o);
      plan.set_points(n, p.x.data(), p.y.data(), p.z.data());
      plan.execute(p.c.data(), cpu.data());

      cuda::DeviceNufft gpu(1, modes, -1, tol);
      gpu.force_global_spread(global);
      auto dx = to_device(p.x), dy = to_device(p.y), dz = to_device(p.z);
      auto dc = to_device(p.c);
      cuda::DeviceBuffer<cfloat> df(static_cast<std::size_t>(nm));
      poison(df);
      gpu.set_points(n, dx.data(), dy.data(), dz.data());
      gpu.execute(dc.data(), df.data());
      const auto out = to_host(df, static_cast<std::size_t>(nm));
      EXPECT_LT(rel_l2(out, direct), 10 * tol) << "tol " << tol << (global ? " global" : " shared");
      EXPECT_LT(rel_l2(out, cpu), 10 * tol) << "tol " << tol << (global ? " global" : " shared");
      // In parts: the same sum.
      const auto first = gpu.sort_points(n / 3, dx.data(), dy.data(), dz.data());
      const auto rest = gpu.sort_points(n - n / 3, dx.data() + n / 3, dy.data() + n / 3, dz.data() + n / 3);
      gpu.spread_add(first, dc.data());
      gpu.spread_add(rest, dc.data() + n / 3);
      poison(df);
      gpu.finish(df.data());
      EXPECT_LT(rel_l2(to_host(df, static_cast<std::size_t>(nm)), out), 1e-6);
    }
  }
}

TEST_F(Gpu, NufftNamesAPointOutsideTheRange) {
  std::vector<float> x{0.1f, 10.0f, 0.2f}, y{0, 0, 0}, z{0, 0, 0};
  auto dx = to_device(x), dy = to_device(y), dz = to_device(z);
  cuda::DeviceNufft gpu(2, {8, 8, 8}, 1, 1e-4);
  try {
    gpu.set_points(3, dx.data(), dy.data(), dz.data());
    FAIL() << "accepted x = 10";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("point 1"), std::string::npos) << e.what();
  }
}

// Slicing as the loop does it: the GPU's rotated points are the CPU's, bit for bit, and the
// slices agree with the CPU Slicer to the tolerance.
TEST_F(Gpu, SlicesMatchTheCpuSlicer) {
  const std::int64_t n = 21;
  const auto refs = geometry::reference_orientations(50);
  std::vector<std::array<double, 3>> pixels;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) pixels.push_back({(i - 7.5) / 8, (j - 7.5) / 8, 0.05 * ((i + j) % 3)});
  double s_ext = 0;
  for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  std::vector<float> ac(static_cast<std::size_t>(n * n * n));
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (auto& v : ac) v = g(rng);
  slicing::Options so;
  so.batch_size = 20;
  so.threads = 1;
  slicing::Slicer<float> cpu(refs, pixels, s_ext, n, so);
  cpu.set_autocorrelation(ac);

  std::vector<double> R, px;
  for (const auto& q : refs) {
    const auto m = geometry::rotation_matrix(q);
    R.insert(R.end(), m.begin(), m.end());
  }
  for (const auto& p : pixels) px.insert(px.end(), p.begin(), p.end());
  auto dR = to_device(R), dp = to_device(px);
  const auto total = static_cast<std::size_t>(refs.size() * pixels.size());
  cuda::DeviceBuffer<float> x(total), y(total), z(total);
  cuda::rotated_points(static_cast<std::int64_t>(refs.size()), dR.data(), static_cast<std::int64_t>(pixels.size()), dp.data(),
                       std::numbers::pi / s_ext, x.data(), y.data(), z.data(), nullptr);
  std::vector<float> hx, hy, hz;
  for (const auto& q : refs) slicing::rotated_points<float>(q, pixels, s_ext, hx, hy, hz);
  EXPECT_EQ(to_host(x, total), hx);
  EXPECT_EQ(to_host(y, total), hy);
  EXPECT_EQ(to_host(z, total), hz);

  cuda::DeviceNufft gpu(2, {n, n, n}, 1, so.tolerance);
  std::vector<cfloat> modes(ac.begin(), ac.end());
  auto dm = to_device(modes);
  gpu.load_modes(dm.data());
  for (std::int64_t b = 0; b < cpu.n_batches(); ++b) {
    const auto first = static_cast<std::size_t>(cpu.batch_first(b) * static_cast<std::int64_t>(pixels.size()));
    const auto m = static_cast<std::size_t>(cpu.batch_count(b) * static_cast<std::int64_t>(pixels.size()));
    const auto pts = gpu.sort_points(static_cast<std::int64_t>(m), x.data() + first, y.data() + first, z.data() + first);
    cuda::DeviceBuffer<float> out(m);
    poison(out);
    gpu.interpolate_real(pts, out.data());
    std::vector<float> want(m);
    cpu.slice_batch(b, want.data());
    EXPECT_LT(rel_l2(to_host(out, m), want), 10 * so.tolerance) << "batch " << b;
  }
}

// ---------------------------------------------------------------------------- matching

namespace {

// The CPU's score of image i against slice y, in double (for judging near-ties).
double score(const matching::Options& o, const float* x, const float* y, std::int64_t P) {
  double xx = 0, xy = 0, yy = 0, k = 0, w = 0, klogw = 0;
  for (std::int64_t p = 0; p < P; ++p) {
    xx += double(x[p]) * x[p];
    xy += double(x[p]) * y[p];
    yy += double(y[p]) * y[p];
    const double wp = std::max<double>(y[p], o.poisson_floor);
    k += x[p];
    w += wp;
    klogw += x[p] * std::log(wp);
  }
  if (o.metric == matching::Metric::euclidean)
    return o.scale == matching::Scale::none ? xx + yy - 2 * xy : (xy > 0 && yy > 0 ? xx - xy * xy / yy : xx);
  return o.scale == matching::Scale::none ? w - klogw : -klogw + k * std::log(w) + (k > 0 ? k * (1 - std::log(k)) : 0);
}

void compare_matching(const matching::Options& o, cuda::GemmPrecision prec, std::int64_t N, std::int64_t M, std::int64_t P,
                      const std::vector<float>& images, const std::vector<float>& slices, double near_tie, bool exact) {
  matching::NearestSlices<float> cpu(N, P, images, o);
  auto dimg = to_device(images), dsl = to_device(slices);
  cuda::DeviceNearestSlices gpu(N, P, dimg.data(), o, prec);
  // Three batches of different sizes, added out of order.
  const std::int64_t cuts[4] = {0, M / 3, M / 3 + M / 4, M};
  for (int b : {2, 0, 1}) {
    const std::int64_t first = cuts[b], count = cuts[b + 1] - cuts[b];
    cpu.add_batch(first, count, std::span<const float>(slices).subspan(static_cast<std::size_t>(first * P), static_cast<std::size_t>(count * P)));
    gpu.add_batch(first, count, dsl.data() + first * P);
  }
  std::vector<std::int64_t> idx;
  std::vector<float> sc;
  gpu.results(idx, sc);
  int differ = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const auto gi = idx[static_cast<std::size_t>(i)], ci = cpu.indices()[static_cast<std::size_t>(i)];
    if (gi == ci) continue;
    ++differ;
    ASSERT_GE(gi, 0);
    const double sg = score(o, images.data() + i * P, slices.data() + gi * P, P);
    const double scpu = score(o, images.data() + i * P, slices.data() + ci * P, P);
    EXPECT_LE(std::abs(sg - scpu), near_tie * (std::abs(scpu) + 1)) << "image " << i << ": GPU " << gi << ", CPU " << ci;
  }
  if (exact) {
    EXPECT_EQ(differ, 0);
  }
}

}  // namespace

TEST_F(Gpu, MatchingAgreesWithNearestSlicesForEveryMetric) {
  const std::int64_t N = 300, M = 700, P = 400;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  std::vector<float> slices(static_cast<std::size_t>(M * P)), images(static_cast<std::size_t>(N * P));
  for (auto& v : slices) v = u(rng);
  std::uniform_int_distribution<std::int64_t> pick(0, M - 1);
  std::poisson_distribution<int> noise(1.0);
  for (std::int64_t i = 0; i < N; ++i) {
    const auto j = pick(rng);
    for (std::int64_t p = 0; p < P; ++p)
      images[static_cast<std::size_t>(i * P + p)] = static_cast<float>(noise(rng)) * slices[static_cast<std::size_t>(j * P + p)];
  }
  for (auto metric : {matching::Metric::euclidean, matching::Metric::poisson})
    for (auto scale : {matching::Scale::none, matching::Scale::per_slice}) {
      matching::Options o;
      o.metric = metric;
      o.scale = scale;
      compare_matching(o, cuda::GemmPrecision::fp32, N, M, P, images, slices, 1e-5, false);
    }
}

TEST_F(Gpu, MatchingTiesGoToTheLowestIndexAcrossBatches) {
  const std::int64_t N = 10, M = 64, P = 32;
  std::vector<float> slices(static_cast<std::size_t>(M * P), 0.5f), images(static_cast<std::size_t>(N * P), 1.0f);
  matching::Options o;
  auto dimg = to_device(images), dsl = to_device(slices);
  cuda::DeviceNearestSlices gpu(N, P, dimg.data(), o);
  gpu.add_batch(40, 24, dsl.data() + 40 * P);
  gpu.add_batch(7, 33, dsl.data() + 7 * P);
  gpu.add_batch(0, 7, dsl.data());
  std::vector<std::int64_t> idx;
  std::vector<float> sc;
  gpu.results(idx, sc);
  for (auto i : idx) EXPECT_EQ(i, 0);
}

// TF32 and 3xTF32 are allowed (orientations.gemm) only where the argmin does not change on
// realistic data: slices of a smooth model, images = slices at other orientations with
// Poisson noise, as the loop matches them.
TEST_F(Gpu, Tf32ModesKeepTheArgminOnRealisticSlices) {
  const std::int64_t n = 25;
  std::vector<std::array<double, 3>> pixels;
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) pixels.push_back({(i - 15.5) / 16, (j - 15.5) / 16, 0});
  double s_ext = 0;
  for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  // Autocorrelation of a few Gaussian blobs: a smooth, positive model intensity.
  std::vector<float> ac(static_cast<std::size_t>(n * n * n));
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < n; ++i) {
        const double a = double(i - n / 2), b = double(j - n / 2), c = double(k - n / 2);
        ac[static_cast<std::size_t>(i + n * (j + n * k))] =
            static_cast<float>(std::exp(-(a * a + b * b + c * c) / 8) + 0.5 * std::exp(-((a - 3) * (a - 3) + b * b + (c + 2) * (c + 2)) / 4) +
                               0.5 * std::exp(-((a + 3) * (a + 3) + b * b + (c - 2) * (c - 2)) / 4));
      }
  const auto refs = geometry::reference_orientations(2000);
  slicing::Slicer<float> slicer(refs, pixels, s_ext, n);
  slicer.set_autocorrelation(ac);
  const std::int64_t M = static_cast<std::int64_t>(refs.size()), P = static_cast<std::int64_t>(pixels.size()), N = 500;
  std::vector<float> slices(static_cast<std::size_t>(M * P));
  for (std::int64_t b = 0; b < slicer.n_batches(); ++b) slicer.slice_batch(b, slices.data() + slicer.batch_first(b) * P);
  const auto truth = geometry::random_orientations(static_cast<std::size_t>(N), 4);
  slicing::Slicer<float> truth_slicer(truth, pixels, s_ext, n);
  truth_slicer.set_autocorrelation(ac);
  std::vector<float> images(static_cast<std::size_t>(N * P));
  for (std::int64_t b = 0; b < truth_slicer.n_batches(); ++b)
    truth_slicer.slice_batch(b, images.data() + truth_slicer.batch_first(b) * P);
  float peak = 0;
  for (float v : images) peak = std::max(peak, v);
  std::mt19937 rng(8);
  for (auto& v : images) v = static_cast<float>(std::poisson_distribution<int>(std::max(0.0, 50.0 * v / peak))(rng));
  matching::Options o;
  o.scale = matching::Scale::per_slice;
  for (auto prec : {cuda::GemmPrecision::tf32x3, cuda::GemmPrecision::tf32})
    compare_matching(o, prec, N, M, P, images, slices, 0, true);
}

// ---------------------------------------------------------------------------- merging

TEST_F(Gpu, ToeplitzMatchesTheCpu) {
  const int n = 15, L = merging::toeplitz_fft_size(n), nk = 2 * n - 1;
  std::mt19937 rng(2);
  std::normal_distribution<double> g;
  std::vector<double> kernel(static_cast<std::size_t>(nk * nk * nk)), x(static_cast<std::size_t>(n * n * n));
  for (auto& v : kernel) v = g(rng);
  for (std::size_t i = 0; i < kernel.size() / 2; ++i) kernel[kernel.size() - 1 - i] = kernel[i];  // even
  for (auto& v : x) v = g(rng);
  merging::Toeplitz<double> cpu(n, L, 1, Planning::estimate);
  cpu.set_kernel(kernel);
  std::vector<double> want(x.size());
  cpu.apply(x.data(), want.data());
  cuda::DeviceToeplitz<double> gpu(n, L);
  auto dk = to_device(kernel), dx = to_device(x);
  cuda::DeviceBuffer<double> dy(x.size());
  poison(dy);
  gpu.set_kernel(dk.data());
  gpu.apply(dx.data(), dy.data());
  EXPECT_LT(rel_l2(to_host(dy, x.size()), want), 1e-12);
  cuda::DeviceToeplitz<float> gpu_f(n, L);
  std::vector<float> xf(x.begin(), x.end());
  auto dxf = to_device(xf);
  cuda::DeviceBuffer<float> dyf(x.size());
  gpu_f.set_kernel(dk.data());
  gpu_f.apply(dxf.data(), dyf.data());
  EXPECT_LT(rel_l2(to_host(dyf, x.size()), want), 1e-5);
}

TEST_F(Gpu, MergerMatchesTheCpuKernelRhsAndSolution) {
  const int n = 15;
  const std::int64_t m = 200000;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> pos(-std::numbers::pi_v<float>, std::numbers::pi_v<float>);
  std::uniform_real_distribution<float> val(0.0f, 3.0f);
  std::vector<float> x(m), y(m), z(m), b(m), w(m);
  for (std::int64_t j = 0; j < m; ++j) {
    const auto u = static_cast<std::size_t>(j);
    x[u] = pos(rng) * 0.7f;
    y[u] = pos(rng) * 0.7f;
    z[u] = pos(rng) * 0.7f;
    b[u] = val(rng);
    w[u] = val(rng) / 3;
  }
  for (auto precision : {merging::CgPrecision::float64, merging::CgPrecision::float32}) {
    merging::Options ms;
    ms.n = n;
    ms.rho = 1e-3;
    ms.support_radius = n / 2;
    ms.cg_precision = precision;
    ms.nufft.planning = Planning::estimate;
    ms.chunk_points = 70000;  // several sorts, one FFT
    merging::Merger<float> cpu(ms);
    cpu.accumulate(x, y, z, b, w);
    cuda::DeviceMerger gpu(ms);
    auto dx = to_device(x), dy = to_device(y), dz = to_device(z), db = to_device(b), dw = to_device(w);
    gpu.accumulate(m, dx.data(), dy.data(), dz.data(), db.data(), dw.data());
    const auto kc = cpu.kernel();
    const auto rc = cpu.rhs();
    EXPECT_LT(rel_l2(gpu.kernel(), std::vector<double>(kc.begin(), kc.end())), 1e-5);
    EXPECT_LT(rel_l2(gpu.rhs(), std::vector<double>(rc.begin(), rc.end())), 1e-5);
    const auto sc = cpu.solve();
    const auto sg = gpu.solve();
    EXPECT_LT(rel_l2(sg.x, sc.x), 1e-4);
    EXPECT_NEAR(sg.lambda, sc.lambda, 1e-5 * sc.lambda);
    EXPECT_EQ(sg.cg.converged, sc.cg.converged);
    EXPECT_NEAR(sg.cg.iterations, sc.cg.iterations, 3);
  }
}

// ---------------------------------------------------------------------------- phasing

namespace {

std::vector<double> blob_density(int n) {
  std::vector<double> d(static_cast<std::size_t>(n * n * n));
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i) {
        const double a = i - n / 2 - 1.5, b = j - n / 2 + 0.5, c = k - n / 2;
        d[static_cast<std::size_t>(i + n * (j + n * k))] =
            std::exp(-(a * a + b * b + c * c) / 6) + 0.6 * std::exp(-((a - 3) * (a - 3) + b * b + (c - 1) * (c - 1)) / 3);
      }
  return d;
}

}  // namespace

TEST_F(Gpu, PhasingStepsMatchTheCpu) {
  const int n = 21;
  const auto rho = blob_density(n);
  phasing::Phaser<double> cpu(n, 1, Planning::estimate);
  const auto ac = cpu.autocorrelation_of(rho);
  cuda::DevicePhaser gpu(n);
  EXPECT_LT(rel_l2(gpu.autocorrelation_of(rho), ac), 1e-12);
  for (auto* p : {&cpu}) p->set_measured_radius(n / 2.0);
  gpu.set_measured_radius(n / 2.0);
  cpu.set_autocorrelation(ac);
  gpu.set_autocorrelation(ac);
  const auto support = cpu.support_from_autocorrelation(0.01, 2.0);
  EXPECT_EQ(gpu.support_from_autocorrelation(0.01, 2.0), support);
  cpu.set_support(support);
  gpu.set_support(support);
  cpu.random_density(3);
  gpu.random_density(3);
  EXPECT_EQ(gpu.density(), cpu.density());
  cpu.er(1);
  gpu.er(1);
  EXPECT_LT(rel_l2(gpu.density(), cpu.density()), 1e-12);
  ASSERT_EQ(gpu.fourier_errors().size(), 1u);
  EXPECT_NEAR(gpu.fourier_errors()[0], cpu.fourier_errors()[0], 1e-12);
  cpu.hio(3, 0.3);
  gpu.hio(3, 0.3);
  EXPECT_LT(rel_l2(gpu.density(), cpu.density()), 1e-11);
  cpu.er(20);
  gpu.er(20);
  EXPECT_LT(rel_l2(gpu.density(), cpu.density()), 1e-9);
  cpu.shrinkwrap(2.0, 0.1);
  gpu.shrinkwrap(2.0, 0.1);
  const auto sc = cpu.support(), sg = gpu.support();
  std::int64_t differ = 0;
  for (std::size_t i = 0; i < sc.size(); ++i) differ += sc[i] != sg[i];
  EXPECT_LE(differ, 2) << "support voxels at the threshold may round either way";
}

TEST_F(Gpu, PhasingRunFollowsTheSameSchedule) {
  const int n = 21;
  const auto rho = blob_density(n);
  phasing::Phaser<double> cpu(n, 1, Planning::estimate);
  const auto ac = cpu.autocorrelation_of(rho);
  cuda::DevicePhaser gpu(n);
  cpu.set_autocorrelation(ac);
  gpu.set_autocorrelation(ac);
  phasing::Schedule s;
  s.loops = 2;
  const auto rc = cpu.run(s);
  const auto rg = gpu.run(s);
  ASSERT_EQ(rg.fourier_error.size(), rc.fourier_error.size());
  EXPECT_NEAR(rg.fourier_error.front(), rc.fourier_error.front(), 1e-10);
  EXPECT_NEAR(rg.fourier_error.back(), rc.fourier_error.back(), 0.1 * rc.fourier_error.back() + 1e-6);
}

// ---------------------------------------------------------------------------- the loop

TEST_F(Gpu, TheLoopOnTheGpuMatchesTheCpu) {
  // A small dataset of noise-free slices of a blob model.
  const int n = 15;
  std::vector<std::array<double, 3>> pixels;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) pixels.push_back({(i - 7.5) / 8, (j - 7.5) / 8, 0});
  double s_ext = 0;
  for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  phasing::Phaser<double> ph(n, 1, Planning::estimate);
  const auto acd = ph.autocorrelation_of(blob_density(n));
  std::vector<float> ac(acd.begin(), acd.end());
  reconstruct::Data data;
  data.n_images = 200;
  data.n_pixels = static_cast<std::int64_t>(pixels.size());
  data.pixels = pixels;
  data.truth = geometry::random_orientations(200, 6);
  slicing::Slicer<float> sl(data.truth, pixels, s_ext, n);
  sl.set_autocorrelation(ac);
  data.images.resize(static_cast<std::size_t>(data.n_images * data.n_pixels));
  for (std::int64_t b = 0; b < sl.n_batches(); ++b) sl.slice_batch(b, data.images.data() + sl.batch_first(b) * data.n_pixels);
  reconstruct::prepare(data);
  const std::vector<std::string> common = {"grid.n=15", "orientations.references=500", "orientations.batch_size=200",
                                           "generations.max=3", "runtime.fft_planning=estimate", "phasing.loops=2"};
  auto with = [&](const char* device) {
    auto o = common;
    o.push_back(std::string("runtime.device=") + device);
    return reconstruct::load_settings("", o);
  };
  const auto cpu = reconstruct::run(data, with("cpu"));
  const auto gpu = reconstruct::run(data, with("cuda"));
  ASSERT_EQ(gpu.generations.size(), cpu.generations.size());
  // Generation 0 merges at the same random orientations: the same map to float tolerance.
  EXPECT_EQ(gpu.generations[0].cg_iterations, cpu.generations[0].cg_iterations);
  std::int64_t same = 0;
  for (std::size_t i = 0; i < cpu.orientations.size(); ++i) {
    const auto& a = cpu.orientations[i];
    const auto& b = gpu.orientations[i];
    same += a.w == b.w && a.x == b.x && a.y == b.y && a.z == b.z;
  }
  EXPECT_GE(same, static_cast<std::int64_t>(0.95 * static_cast<double>(cpu.orientations.size())));
  EXPECT_LT(rel_l2(gpu.autocorrelation, cpu.autocorrelation), 1e-2);
}

#endif
