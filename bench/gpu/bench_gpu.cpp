// bench_gpu IMAGES REFS SIDE N BATCH REPS OUTDIR: one M-TIP generation on the GPU
// (GenerationRunner) with per-stage times; matching beside a bare cublasSgemm of the same
// shapes; the GPU NUFFT's slicing (type 2) and merging (type 1) transforms timed alone, their
// points written to OUTDIR for cuFINUFFT to do the same. Last line: one JSON object.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "cuda/device.hpp"
#include "cuda/generation.hpp"
#include "cuda/matching.hpp"
#include "cuda/nufft.hpp"
#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"

using namespace spire;
using clk = std::chrono::steady_clock;

namespace {
double since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
void write(const std::string& path, const std::vector<float>& v) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(v.data(), sizeof(float), v.size(), f);
  std::fclose(f);
}
}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, long long d) { return argc > i ? std::stoll(argv[i]) : d; };
  const std::int64_t N = arg(1, 2500), M = arg(2, 10000), side = arg(3, 128), n = arg(4, 81), batch = arg(5, 1000);
  const int reps = static_cast<int>(arg(6, 3));
  const std::string out = argc > 7 ? argv[7] : "/tmp";
  if (cuda::device_count() == 0) {
    fmt::print("{{\"gpu\": false, \"reason\": \"{}\"}}\n", cuda::describe());
    return 0;
  }
  const auto det = geometry::Detector::square(static_cast<int>(side), 0.08, 0.2);
  geometry::Beam beam;
  beam.photon_energy_ev = 4600;
  const auto pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
  const auto P = static_cast<std::int64_t>(pixels.size());
  double s_ext = 0;
  for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  std::vector<float> images(static_cast<std::size_t>(N * P));
  std::mt19937 rng(1);
  std::exponential_distribution<float> e(1.0f);
  for (auto& v : images) v = e(rng);
  const auto refs = geometry::reference_orientations(static_cast<std::size_t>(M));
  const auto orient = geometry::random_orientations(static_cast<std::size_t>(N), 2);

  slicing::Options so;
  so.batch_size = batch;
  matching::Options mo;
  mo.scale = matching::Scale::per_slice;
  merging::Options ms;
  ms.n = static_cast<int>(n);
  ms.support_radius = static_cast<double>(n / 2);
  ms.nufft_tolerance = 1e-6;
  auto t0 = clk::now();
  cuda::GenerationRunner gpu(N, images, pixels, s_ext, n, refs, true, so, mo, cuda::GemmPrecision::fp32, ms);
  const double setup_s = since(t0);

  std::vector<double> ac(static_cast<std::size_t>(n * n * n));
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < n; ++i) {
        const double r2 = double((i - n / 2) * (i - n / 2) + (j - n / 2) * (j - n / 2) + (k - n / 2) * (k - n / 2));
        ac[static_cast<std::size_t>(i + n * (j + n * k))] = std::exp(-r2 / 50);
      }
  std::vector<double> slice_match, slicing_dev, matching_dev, merge, phase, acorr, total;
  std::vector<std::int64_t> idx;
  std::vector<float> sc;
  phasing::Schedule schedule;
  for (int r = 0; r < reps + 1; ++r) {  // the first is a warm-up
    const auto g0 = clk::now();
    t0 = clk::now();
    const auto times = gpu.slice_and_match(ac, idx, sc);
    const double a = since(t0);
    t0 = clk::now();
    const auto sol = gpu.merge(orient, ac);
    const double b = since(t0);
    t0 = clk::now();
    const auto phased = gpu.phase(sol.x, schedule);
    const double c = since(t0);
    t0 = clk::now();
    gpu.autocorrelation_of(phased.density);
    const double d = since(t0);
    if (r == 0) continue;
    slice_match.push_back(a);
    slicing_dev.push_back(times.slicing_s);
    matching_dev.push_back(times.matching_s);
    merge.push_back(b);
    phase.push_back(c);
    acorr.push_back(d);
    total.push_back(since(g0));
  }

  // Matching alone against a bare SGEMM of the same shapes (N x P by P x batch, M/batch times).
  cuda::DeviceBuffer<float> dimg, dsl(static_cast<std::size_t>(batch * P)), cross(static_cast<std::size_t>(N * batch));
  dimg.upload(images.data(), images.size());
  {
    std::vector<float> sl(static_cast<std::size_t>(batch * P));
    for (auto& v : sl) v = e(rng);
    dsl.upload(sl.data(), sl.size());
  }
  cuda::DeviceNearestSlices nearest(N, P, dimg.data(), mo);
  cublasHandle_t h;
  cublasCreate(&h);
  const float one = 1, zero = 0;
  cuda::Event ev0, ev1;
  std::vector<double> match_ms, sgemm_ms;
  for (int r = 0; r < reps + 1; ++r) {
    ev0.record(nullptr);
    nearest.reset();
    for (std::int64_t first = 0; first < M; first += batch) nearest.add_batch(first, std::min(batch, M - first), dsl.data());
    ev1.record(nullptr);
    const double mm = ev1.elapsed_ms(ev0);
    ev0.record(nullptr);
    for (std::int64_t first = 0; first < M; first += batch) {
      const int cnt = static_cast<int>(std::min(batch, M - first));
      cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, cnt, static_cast<int>(N), static_cast<int>(P), &one, dsl.data(),
                  static_cast<int>(P), dimg.data(), static_cast<int>(P), &zero, cross.data(), cnt);
    }
    ev1.record(nullptr);
    const double gm = ev1.elapsed_ms(ev0);
    if (r == 0) continue;
    match_ms.push_back(mm);
    sgemm_ms.push_back(gm);
  }
  cublasDestroy(h);
  const double flops = 2.0 * static_cast<double>(N) * static_cast<double>(M) * static_cast<double>(P);

  // The NUFFTs alone: slicing's type 2 on one batch, merging's type 1 on every image.
  std::vector<float> x, y, z;
  for (std::int64_t k = 0; k < std::min(batch, M); ++k) slicing::rotated_points<float>(refs[static_cast<std::size_t>(k)], pixels, s_ext, x, y, z);
  const auto n2 = static_cast<std::int64_t>(x.size());
  write(out + "/type2_x.f32", x);
  write(out + "/type2_y.f32", y);
  write(out + "/type2_z.f32", z);
  cuda::DeviceBuffer<float> dx, dy, dz;
  dx.upload(x.data(), x.size());
  dy.upload(y.data(), y.size());
  dz.upload(z.data(), z.size());
  cuda::DeviceNufft t2(2, {n, n, n}, 1, so.tolerance);
  t0 = clk::now();
  const auto p2 = t2.sort_points(n2, dx.data(), dy.data(), dz.data());
  const double sort2 = since(t0);
  std::vector<cuda::cfloat> modes(static_cast<std::size_t>(n * n * n), cuda::cfloat(1, 0));
  cuda::DeviceBuffer<cuda::cfloat> dm, dc(static_cast<std::size_t>(n2));
  dm.upload(modes.data(), modes.size());
  std::vector<double> t2_ms;
  for (int r = 0; r < reps + 1; ++r) {
    ev0.record(nullptr);
    t2.execute(p2, dc.data(), dm.data());
    ev1.record(nullptr);
    if (r > 0) t2_ms.push_back(ev1.elapsed_ms(ev0));
  }
  x.clear();
  y.clear();
  z.clear();
  for (std::int64_t i = 0; i < N; ++i) slicing::rotated_points<float>(orient[static_cast<std::size_t>(i)], pixels, s_ext, x, y, z);
  const auto n1 = static_cast<std::int64_t>(x.size());
  write(out + "/type1_x.f32", x);
  write(out + "/type1_y.f32", y);
  write(out + "/type1_z.f32", z);
  dx.upload(x.data(), x.size());
  dy.upload(y.data(), y.size());
  dz.upload(z.data(), z.size());
  const std::int64_t nk = 2 * n - 1;
  cuda::DeviceNufft t1(1, {nk, nk, nk}, -1, ms.nufft_tolerance);
  t0 = clk::now();
  const auto p1 = t1.sort_points(n1, dx.data(), dy.data(), dz.data());
  const double sort1 = since(t0);
  std::vector<cuda::cfloat> cv(static_cast<std::size_t>(n1), cuda::cfloat(1, 0.5f));
  cuda::DeviceBuffer<cuda::cfloat> dcv, df(static_cast<std::size_t>(nk * nk * nk));
  dcv.upload(cv.data(), cv.size());
  std::vector<double> t1_ms;
  for (int r = 0; r < reps + 1; ++r) {
    ev0.record(nullptr);
    t1.execute(p1, dcv.data(), df.data());
    ev1.record(nullptr);
    if (r > 0) t1_ms.push_back(ev1.elapsed_ms(ev0));
  }

  const double mmed = median(match_ms), gmed = median(sgemm_ms);
  fmt::print("{{\"gpu\": true, \"device\": \"{}\", \"n_images\": {}, \"n_refs\": {}, \"n_pixels\": {}, \"n\": {}, "
             "\"batch\": {}, \"setup_s\": {:.3f}, \"slice_and_match_s\": {:.4f}, \"slicing_device_s\": {:.4f}, "
             "\"matching_device_s\": {:.4f}, \"merging_s\": {:.4f}, \"phasing_s\": {:.4f}, \"autocorrelation_s\": {:.4f}, "
             "\"generation_s\": {:.4f}, \"matching_ms\": {:.2f}, \"sgemm_ms\": {:.2f}, \"matching_tflops\": {:.1f}, "
             "\"sgemm_tflops\": {:.1f}, \"matching_ratio\": {:.3f}, \"type2_points\": {}, \"type2_sort_s\": {:.4f}, "
             "\"type2_exec_ms\": {:.3f}, \"type2_points_per_s\": {:.4g}, \"type1_points\": {}, \"type1_sort_s\": {:.4f}, "
             "\"type1_exec_ms\": {:.3f}, \"type1_points_per_s\": {:.4g}}}\n",
             cuda::describe(), N, M, P, n, batch, setup_s, median(slice_match), median(slicing_dev), median(matching_dev),
             median(merge), median(phase), median(acorr), median(total), mmed, gmed, flops / mmed / 1e9, flops / gmed / 1e9,
             gmed / mmed, n2, sort2, median(t2_ms), static_cast<double>(n2) / (median(t2_ms) / 1e3), n1, sort1,
             median(t1_ms), static_cast<double>(n1) / (median(t1_ms) / 1e3));
  return 0;
}
