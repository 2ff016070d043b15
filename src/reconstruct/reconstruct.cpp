#include "reconstruct/reconstruct.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "matching/matching.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "slicing/slicing.hpp"

namespace spire::reconstruct {
namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

double median_orientation_error(const std::vector<geometry::Quaternion>& found,
                                const std::vector<geometry::Quaternion>& truth) {
  if (found.size() != truth.size() || found.empty()) return -1;
  // The reconstruction's frame is the model's turned by some Q: found_i = truth_i Q. Take as
  // Q the relative rotation truth_i^-1 found_i that most images agree with (within 10 deg).
  const std::size_t n = found.size(), candidates = std::min<std::size_t>(n, 64);
  std::vector<geometry::Quaternion> rel(n);
  for (std::size_t i = 0; i < n; ++i) rel[i] = geometry::product(geometry::conjugate(truth[i]), found[i]);
  const double agree = 10 * std::numbers::pi / 180;
  std::size_t best = 0, best_count = 0;
  for (std::size_t c = 0; c < candidates; ++c) {
    const std::size_t j = c * n / candidates;
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) count += geometry::angle_between(rel[i], rel[j]) < agree;
    if (count > best_count) best = j, best_count = count;
  }
  const geometry::Quaternion Q = rel[best], turn{0, 0, 0, 1};
  std::vector<double> e;
  for (std::size_t i = 0; i < n; ++i) {
    const auto expected = geometry::product(truth[i], Q);
    e.push_back(std::min(geometry::angle_between(found[i], expected),
                         geometry::angle_between(found[i], geometry::product(turn, expected))));
  }
  std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(n / 2), e.end());
  return e[n / 2] * 180 / std::numbers::pi;
}

Result run(const Data& data, const Settings& st, const std::function<void(const Generation&)>& progress) {
  const std::int64_t N = data.n_images, P = data.n_pixels, n = st.grid.n;
  if (N < 1 || P < 1 || static_cast<std::int64_t>(data.images.size()) != N * P)
    fail("reconstruct: the images do not match their count and size");
  if (st.orientations.oracle && static_cast<std::int64_t>(data.truth.size()) != N)
    fail("reconstruct: orientations.oracle needs the true orientations in the data file");
  double s_ext = 0;
  for (const auto& p : data.pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
  const int threads = static_cast<int>(st.runtime.threads);

  const auto refs = geometry::reference_orientations(static_cast<std::size_t>(st.orientations.references));
  slicing::Options so;
  so.batch_size = st.orientations.batch_size;
  so.tolerance = st.slicing.tolerance;
  so.threads = threads;
  std::unique_ptr<slicing::Slicer<float>> slicer;
  if (!st.orientations.oracle) slicer = std::make_unique<slicing::Slicer<float>>(refs, data.pixels, s_ext, n, so);

  merging::Settings ms;
  ms.n = static_cast<int>(n);
  ms.rho = st.merging.regularisation;
  ms.support_radius = static_cast<double>(n / 2);  // the autocorrelation fills at most the ball
  ms.max_iterations = static_cast<int>(st.merging.cg_iterations);
  ms.tolerance = st.merging.cg_tolerance;
  ms.cg_precision = st.merging.precision == "float" ? merging::CgPrecision::float32 : merging::CgPrecision::float64;
  ms.nufft_tolerance = std::max(st.merging.tolerance, 1e-7);  // float points
  ms.nufft.threads = threads;
  ms.nufft.planning = parse_planning(st.runtime.fft_planning);
  merging::Merger<float> merger(ms);

  phasing::Phaser<double> phaser(static_cast<int>(n), threads, parse_planning(st.runtime.fft_planning));
  phasing::Schedule schedule;
  schedule.loops = static_cast<int>(st.phasing.loops);
  schedule.hio_iterations = static_cast<int>(st.phasing.hio_iterations);
  schedule.er_iterations = static_cast<int>(st.phasing.er_iterations);
  schedule.beta = st.phasing.beta;
  schedule.shrinkwrap_fraction = st.phasing.shrinkwrap_fraction;
  schedule.seed = st.runtime.seed;

  matching::Options mo;
  mo.metric = st.orientations.metric == "poisson" ? matching::Metric::poisson : matching::Metric::euclidean;
  mo.scale = st.orientations.scale == "per_slice" ? matching::Scale::per_slice : matching::Scale::none;
  mo.threads = threads;
  matching::NearestSlices<float> nearest(N, P, data.images, mo);

  Result result;
  // The random start draws from its own stream: the same seed must not reproduce the
  // orientations a simulation with that seed drew (that would hand the loop the truth).
  const std::uint64_t start_seed = st.runtime.seed * 0x9e3779b97f4a7c15ULL + 0x5eed0f5ca1ab1eULL;
  result.orientations = st.orientations.oracle
                            ? data.truth
                            : geometry::random_orientations(static_cast<std::size_t>(N), start_seed);
  std::vector<float> slices, x, y, z, slicing_input;
  constexpr std::int64_t kChunk = 256;  // images per merging NUFFT: bounds the point buffers
  for (int g = 0; g < st.generations.max; ++g) {
    Generation gen;
    gen.index = g;
    // 1-2: slicing and matching, from the second generation on.
    if (g > 0 && !st.orientations.oracle) {
      slicer->set_autocorrelation(slicing_input);
      nearest.reset();
      for (std::int64_t b = 0; b < slicer->n_batches(); ++b) {
        auto t0 = clock_type::now();
        slices.resize(static_cast<std::size_t>(slicer->batch_count(b) * P));
        slicer->slice_batch(b, slices.data());
        gen.slicing_s += since(t0);
        t0 = clock_type::now();
        nearest.add_batch(slicer->batch_first(b), slicer->batch_count(b), slices);
        gen.matching_s += since(t0);
      }
      for (std::int64_t i = 0; i < N; ++i) result.orientations[i] = refs[nearest.indices()[i]];
    }
    // 3: merging.
    auto t0 = clock_type::now();
    merger.reset();
    for (std::int64_t first = 0; first < N; first += kChunk) {
      const std::int64_t count = std::min(kChunk, N - first);
      x.clear();
      y.clear();
      z.clear();
      for (std::int64_t i = first; i < first + count; ++i)
        slicing::rotated_points<float>(result.orientations[i], data.pixels, s_ext, x, y, z);
      merger.accumulate(x, y, z, std::span<const float>(data.images).subspan(first * P, count * P));
    }
    const auto solution = merger.solve(result.autocorrelation);
    result.autocorrelation = solution.x;
    gen.cg_iterations = solution.cg.iterations;
    gen.merging_s = since(t0);
    // 4: phasing, warm-started from the last density.
    t0 = clock_type::now();
    phaser.set_autocorrelation(result.autocorrelation);
    auto phased = phaser.run(schedule, result.density);
    const auto next_ac = phaser.autocorrelation_of(phased.density);
    slicing_input.assign(next_ac.begin(), next_ac.end());
    gen.phasing_s = since(t0);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < phased.density.size(); ++i) {
      const double prev = result.density.empty() ? 0 : result.density[i];
      num += (phased.density[i] - prev) * (phased.density[i] - prev);
      den += phased.density[i] * phased.density[i];
    }
    gen.change = den > 0 ? std::sqrt(num / den) : 0;
    result.density = std::move(phased.density);
    if (!data.truth.empty()) gen.median_error_deg = median_orientation_error(result.orientations, data.truth);
    result.generations.push_back(gen);
    if (progress) progress(gen);
    if (g > 0 && gen.change < st.generations.stop_change) break;
  }
  return result;
}

}  // namespace spire::reconstruct
