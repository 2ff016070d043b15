// spire's side of `bench/matching/run`: NearestSlices::add_batch against a bare cblas_sgemm
// of the same shapes (n_images x batch x n_pixels per batch), in the same process, so the
// ratio shows what the norms and the running argmin cost next to the GEMM.
// Usage: bench_matching [N_IMAGES N_REFS N_PIXELS BATCH REPS METRIC [PHOTONS]]; prints one JSON
// line. With PHOTONS > 0: sparse photon counts (about PHOTONS per image, Poisson), matched as
// sparse rows against the same images dense (the GEMM), side by side, same argmin checked.
#include <cblas.h>
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../timing.hpp"
#include "matching/matching.hpp"

namespace {

using bench::clock_type;
using bench::since;

std::vector<float> photons_like(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Each batch timed on its own for each matcher, the best of `reps` kept per batch; the
// matchers alternate with a pause, so that one's idle threads stop spinning before the other.
template <typename Run>
std::vector<double> best_batch_times(int reps, std::int64_t n_batches, const std::vector<Run*>& runs) {
  std::vector<double> best(runs.size() * n_batches, 1e300);
  for (int r = 0; r < reps; ++r)
    for (std::size_t k = 0; k < runs.size(); ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      for (std::int64_t b = 0; b < n_batches; ++b) {
        const auto t0 = clock_type::now();
        (*runs[k])(b);
        best[k * n_batches + b] = std::min(best[k * n_batches + b], since(t0));
      }
    }
  std::vector<double> total(runs.size(), 0.0);
  for (std::size_t k = 0; k < runs.size(); ++k)
    for (std::int64_t b = 0; b < n_batches; ++b) total[k] += best[k * n_batches + b];
  return total;
}

// Sparse rows against dense ones: the same Poisson counts (about `photons` per image).
int sparse_against_dense(std::int64_t n, std::int64_t m, std::int64_t P, std::int64_t batch, int reps,
                         const spire::matching::Options& options, double photons) {
  std::mt19937_64 rng(3);
  std::poisson_distribution<int> hits(photons / static_cast<double>(P));
  std::vector<float> dense(n * P, 0.0f), values;
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int32_t> pixels;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < P; ++p)
      if (const int k = hits(rng); k > 0)
        dense[i * P + p] = static_cast<float>(k), pixels.push_back(static_cast<std::int32_t>(p)),
                  values.push_back(static_cast<float>(k));
    offsets.push_back(static_cast<std::int64_t>(values.size()));
  }
  const auto slices = photons_like(batch * P, 2);
  spire::matching::NearestSlices<float> gemm(n, P, dense, options);
  spire::matching::NearestSlices<float> sparse({n, P, {}, offsets, pixels, values}, options);
  const std::int64_t n_batches = (m + batch - 1) / batch;
  const auto count_of = [&](std::int64_t b) { return std::min(batch, m - b * batch); };
  auto run = [&](spire::matching::NearestSlices<float>& match) {
    return [&match, &slices, count_of, batch, P](std::int64_t b) {
      if (b == 0) match.reset();
      match.add_batch(b * batch, count_of(b), std::span<const float>(slices.data(), count_of(b) * P));
    };
  };
  auto run_gemm = run(gemm), run_sparse = run(sparse);
  using Fn = std::function<void(std::int64_t)>;
  Fn a = run_gemm, b = run_sparse;
  a(0), b(0);  // warm up
  const auto t = best_batch_times<Fn>(reps, n_batches, {&a, &b});
  const bool same = gemm.indices() == sparse.indices();
  fmt::print(
      "{{\"mode\": \"sparse\", \"metric\": \"{}\", \"n_images\": {}, \"n_refs\": {}, \"n_pixels\": {}, \"batch\": {}, "
      "\"reps\": {}, \"threads\": {}, \"photons_per_image\": {:.1f}, \"nonzero_per_image\": {:.1f}, "
      "\"dense_gemm_s\": {:.4f}, \"sparse_s\": {:.4f}, \"speedup\": {:.2f}, \"same_argmin\": {}}}\n",
      spire::name_of(spire::matching::kMetricNames, options.metric), n, m, P, batch, reps,
      omp_get_max_threads(), [&] { double s = 0; for (float v : values) s += v; return s / static_cast<double>(n); }(),
      static_cast<double>(values.size()) / static_cast<double>(n), t[0], t[1], t[0] / t[1], same);
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto arg = [&](int i, std::int64_t fallback) { return argc > i ? std::atoll(argv[i]) : fallback; };
  const std::int64_t n = arg(1, 2000), m = arg(2, 10000), P = arg(3, 16384), batch = arg(4, 1000);
  const int reps = static_cast<int>(arg(5, 2));
  const std::string metric_name = argc > 6 ? argv[6] : "euclidean";
  spire::matching::Options options;
  options.metric = metric_name == "poisson" ? spire::matching::Metric::poisson : spire::matching::Metric::euclidean;

  // One batch of slices reused for every reference range: the same work, a tenth the memory.
  if (const double sparse_photons = argc > 7 ? std::atof(argv[7]) : 0; sparse_photons > 0)
    return sparse_against_dense(n, m, P, batch, reps, options, sparse_photons);
  const auto images = photons_like(n * P, 1), slices = photons_like(batch * P, 2);
  std::vector<float> cross(n * batch);
  const auto bare_gemm = [&](std::int64_t count) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(count),
                static_cast<blasint>(P), -2.0f, images.data(), static_cast<blasint>(P), slices.data(),
                static_cast<blasint>(P), 0.0f, cross.data(), static_cast<blasint>(count));
  };

  auto t0 = clock_type::now();
  spire::matching::NearestSlices<float> match(n, P, images, options);
  const double setup_s = since(t0);
  const std::int64_t n_batches = (m + batch - 1) / batch;
  const auto count_of = [&](std::int64_t b) { return std::min(batch, m - b * batch); };
  bare_gemm(count_of(0));  // warm up both (thread pools, page faults)
  match.add_batch(0, count_of(0), std::span<const float>(slices.data(), count_of(0) * P));

  // Each batch timed on its own, the best of the repetitions kept per batch, so that a burst
  // of load from other processes spoils one batch of one repetition, not the figure. The two
  // alternate, with a pause between so that the other's idle threads stop spinning.
  const auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); };
  std::vector<double> best_ours(n_batches, 1e300), best_bare(n_batches, 1e300);
  for (int r = 0; r < reps; ++r) {
    settle();
    for (std::int64_t b = 0; b < n_batches; ++b) {
      t0 = clock_type::now();
      bare_gemm(count_of(b));
      best_bare[b] = std::min(best_bare[b], since(t0));
    }
    settle();
    match.reset();
    for (std::int64_t b = 0; b < n_batches; ++b) {
      t0 = clock_type::now();
      match.add_batch(b * batch, count_of(b), std::span<const float>(slices.data(), count_of(b) * P));
      best_ours[b] = std::min(best_ours[b], since(t0));
    }
  }
  double ours_s = 0, bare_s = 0;
  for (std::int64_t b = 0; b < n_batches; ++b) {
    ours_s += best_ours[b];
    bare_s += best_bare[b];
  }
  const double flop = 2.0 * static_cast<double>(n) * static_cast<double>(m) * static_cast<double>(P);
  fmt::print(
      "{{\"metric\": \"{}\", \"n_images\": {}, \"n_refs\": {}, \"n_pixels\": {}, \"batch\": {}, \"reps\": {}, "
      "\"threads\": {}, \"blas_threads\": {}, \"setup_s\": {:.4f}, \"add_batch_s\": {:.4f}, "
      "\"sgemm_s\": {:.4f}, \"add_batch_gflops\": {:.2f}, \"sgemm_gflops\": {:.2f}, \"ratio\": {:.4f}, "
      "\"checksum_index\": {}}}\n",
      metric_name, n, m, P, batch, reps, omp_get_max_threads(), openblas_get_num_threads(), setup_s, ours_s,
      bare_s, flop / ours_s * 1e-9, flop / bare_s * 1e-9, bare_s / ours_s, match.indices()[0]);
}
