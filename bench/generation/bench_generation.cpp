// spire's side of `bench/generation/run`: one whole M-TIP generation on a data file, its
// per-stage times, and in the same process the limits each stage is measured against:
//  - matching: a bare cblas_sgemm of the same shapes (images x batch x pixels, every batch);
//  - slicing: the type-2 NUFFT of one batch of references alone (execute on sorted points);
//  - merging: the type-1 NUFFT of every image at its matched orientation (sorting, spreading
//    in chunks of 256 images as the loop does, one FFT per 2^25 points).
// The NUFFTs' points are written to OUTDIR as raw float32 (x, y, z files) so FINUFFT can do
// exactly the same transforms (bench/generation/finufft_generation.py).
// Usage: bench_generation DATA.h5 OUTDIR [IMAGES REFERENCES N]; prints one JSON line.
#include <cblas.h>
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../timing.hpp"
#include "io/dataset.hpp"
#include "nufft/nufft.hpp"
#include "reconstruct/reconstruct.hpp"
#include "slicing/slicing.hpp"

namespace {

using bench::clock_type;
using bench::since;

void write_raw(const std::filesystem::path& path, const std::vector<float>& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: bench_generation DATA.h5 OUTDIR [IMAGES REFERENCES N]\n");
    return 2;
  }
  const std::string path = argv[1];
  const std::filesystem::path outdir = argv[2];
  const auto arg = [&](int i, std::int64_t fallback) { return argc > i ? std::atoll(argv[i]) : fallback; };
  const std::int64_t want = arg(3, 2000), refs = arg(4, 10000), n = arg(5, 81);
  std::filesystem::create_directories(outdir);

  spire::io::DatasetReader reader(path);
  const auto& info = reader.info();
  spire::reconstruct::Data data;
  data.n_images = std::min<std::int64_t>(want, static_cast<std::int64_t>(info.n_images));
  data.n_pixels = static_cast<std::int64_t>(info.pixels());
  data.images.resize(static_cast<std::size_t>(data.n_images * data.n_pixels));
  reader.read_images(0, static_cast<std::size_t>(data.n_images), data.images.data());
  for (std::int64_t p = 0; p < data.n_pixels; ++p)
    data.pixels.push_back({info.pixel_position_reciprocal[3 * p], info.pixel_position_reciprocal[3 * p + 1],
                           info.pixel_position_reciprocal[3 * p + 2]});
  spire::reconstruct::prepare(data);
  const std::int64_t N = data.n_images, P = data.n_pixels;
  double s_ext = 0;
  for (const auto& p : data.pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));

  // Two generations: 0 merges and phases the random start, 1 is a full search generation.
  const auto st = spire::reconstruct::load_settings(
      "", {fmt::format("grid.n={}", n), fmt::format("orientations.references={}", refs), "generations.max=2"});
  auto t0 = clock_type::now();
  const auto state = spire::reconstruct::run(data, st);
  const double run_s = since(t0);
  const auto& g = state.generations.at(1);
  const auto tol = spire::reconstruct::tolerances(st, data.counts);  // what the run used

  // Matching's limit: the bare GEMM of every batch, same shapes, same process.
  const std::int64_t batch = st.orientations.batch_size;
  std::vector<float> slices(static_cast<std::size_t>(batch * P)), cross(static_cast<std::size_t>(N * batch));
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (auto& v : slices) v = u(rng);
  const auto gemm = [&](std::int64_t count) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(N), static_cast<blasint>(count),
                static_cast<blasint>(P), -2.0f, data.images.data(), static_cast<blasint>(P), slices.data(),
                static_cast<blasint>(P), 0.0f, cross.data(), static_cast<blasint>(count));
  };
  gemm(batch);  // warm-up
  t0 = clock_type::now();
  for (std::int64_t first = 0; first < refs; first += batch) gemm(std::min(batch, refs - first));
  const double sgemm_s = since(t0);

  // Slicing's NUFFT alone: one batch of references, points sorted once (as the Slicer does).
  const auto references = spire::geometry::reference_orientations(static_cast<std::size_t>(refs));
  std::vector<float> x, y, z;
  for (std::int64_t r = 0; r < std::min(batch, refs); ++r)
    spire::slicing::rotated_points<float>(references[r], data.pixels, s_ext, x, y, z);
  const std::int64_t slice_points = static_cast<std::int64_t>(x.size());
  spire::nufft::Options no;
  spire::nufft::Plan<float> type2(2, {n, n, n}, +1, tol.slicing, no);
  const auto sorted = type2.sort_points(slice_points, x.data(), y.data(), z.data());
  std::vector<std::complex<float>> modes(static_cast<std::size_t>(n * n * n)), values(static_cast<std::size_t>(slice_points));
  for (auto& v : modes) v = {u(rng), 0.f};
  double slicing_nufft_s = 1e30;
  for (int rep = 0; rep < 2; ++rep) {
    t0 = clock_type::now();
    type2.execute(sorted, values.data(), modes.data());
    slicing_nufft_s = std::min(slicing_nufft_s, since(t0));
  }
  write_raw(outdir / "slicing_x.f32", x);
  write_raw(outdir / "slicing_y.f32", y);
  write_raw(outdir / "slicing_z.f32", z);

  // Merging's NUFFT: every image at its matched orientation, as the loop does it.
  const std::int64_t nk = 2 * n - 1;
  const double merge_tol = std::max(tol.merging, 1e-7);
  spire::nufft::Plan<float> type1(1, {nk, nk, nk}, -1, merge_tol, no);
  x.clear(), y.clear(), z.clear();
  for (std::int64_t i = 0; i < N; ++i)
    spire::slicing::rotated_points<float>(state.orientations[i], data.pixels, s_ext, x, y, z);
  const std::int64_t merge_points = static_cast<std::int64_t>(x.size());
  std::vector<std::complex<float>> strengths(static_cast<std::size_t>(256 * P)), f(static_cast<std::size_t>(nk * nk * nk));
  for (auto& v : strengths) v = {1.f, u(rng)};
  t0 = clock_type::now();
  std::int64_t pending = 0;
  for (std::int64_t first = 0; first < merge_points; first += 256 * P) {
    const std::int64_t count = std::min(256 * P, merge_points - first);
    type1.spread_add(type1.sort_points(count, x.data() + first, y.data() + first, z.data() + first), strengths.data());
    if ((pending += count) >= (std::int64_t{1} << 25)) type1.finish(f.data()), pending = 0;
  }
  if (pending > 0) type1.finish(f.data());
  const double merging_nufft_s = since(t0);
  write_raw(outdir / "merging_x.f32", x);
  write_raw(outdir / "merging_y.f32", y);
  write_raw(outdir / "merging_z.f32", z);

  const double flops = 2.0 * static_cast<double>(N) * static_cast<double>(refs) * static_cast<double>(P);
  fmt::print(
      "{{\"images\": {}, \"pixels\": {}, \"references\": {}, \"n\": {}, \"batch\": {}, \"threads\": {}, "
      "\"generation_s\": {:.3f}, \"slicing_s\": {:.3f}, \"matching_s\": {:.3f}, \"merging_s\": {:.3f}, "
      "\"phasing_s\": {:.3f}, \"start_generation_s\": {:.3f}, \"run_s\": {:.3f}, \"cg_iterations\": {}, "
      "\"sgemm_s\": {:.3f}, \"matching_gflops\": {:.1f}, \"sgemm_gflops\": {:.1f}, \"matching_vs_sgemm\": {:.3f}, "
      "\"slicing_nufft_points\": {}, \"slicing_nufft_tolerance\": {}, \"slicing_nufft_s\": {:.4f}, "
      "\"merging_nufft_points\": {}, \"merging_nufft_modes\": {}, \"merging_nufft_tolerance\": {}, \"merging_nufft_s\": {:.4f}}}\n",
      N, P, refs, n, batch, omp_get_max_threads(), g.slicing_s + g.matching_s + g.merging_s + g.phasing_s, g.slicing_s,
      g.matching_s, g.merging_s, g.phasing_s,
      state.generations[0].merging_s + state.generations[0].phasing_s, run_s, g.cg_iterations, sgemm_s,
      flops / g.matching_s * 1e-9, flops / sgemm_s * 1e-9, sgemm_s / g.matching_s, slice_points,
      tol.slicing, slicing_nufft_s, merge_points, nk, merge_tol, merging_nufft_s);
  return 0;
}
