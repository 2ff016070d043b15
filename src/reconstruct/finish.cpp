#include "reconstruct/finish.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "phasing/box.hpp"
#include "resolution/align.hpp"

namespace spire::reconstruct {

namespace {
// The half an image belongs to: the parity of its index in the data file.
int half_of(const Data& data, std::int64_t i) { return static_cast<int>((data.first + i) % 2); }
}  // namespace

EveryPixelMerge merge_every_pixel(Backend& backend, const Data& data, State& state, bool halves) {
  const auto t0 = std::chrono::steady_clock::now();
  backend.progress().set_context(halves ? "merging every pixel at the orientations found on the cells (and each half)"
                                        : "merging every pixel at the orientations found on the cells");
  EveryPixelMerge out;
  merging::Solution solution;
  if (halves) {
    auto merged = backend.merge_with_halves(
        state.orientations, state.autocorrelation, [&](std::int64_t i) { return half_of(data, i); }, state.scales);
    solution = std::move(merged.full);
    for (std::size_t h = 0; h < 2; ++h) out.halves[h] = std::move(merged.halves[h].x);
  } else {
    solution = backend.merge(state.orientations, state.autocorrelation, {}, state.scales);
  }
  state.autocorrelation = std::move(solution.x);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.cg_iterations = solution.cg.iterations;
  return out;
}

AveragedPhasing phase_averaged(Backend& backend, const Settings& st, std::span<const double> autocorrelation,
                               std::uint64_t seed) {
  // Every run in one box (phasing/box.hpp), aligned and averaged there, placed on the grid.
  const int n = static_cast<int>(st.grid.n), m = phasing_box_for(st, autocorrelation),
            threads = static_cast<int>(st.runtime.threads);
  const auto boxed = m == n ? std::vector<double>(autocorrelation.begin(), autocorrelation.end())
                            : phasing::crop_centred(autocorrelation, n, m);
  auto schedule = phasing_schedule(st);
  std::vector<std::pair<double, std::vector<double>>> runs;
  backend.progress().begin("phasing runs to average", st.phasing.final_average);
  for (std::int64_t k = 0; k < st.phasing.final_average; ++k) {
    schedule.seed = seed + static_cast<std::uint64_t>(k);
    auto r = backend.phase(boxed, schedule);
    runs.emplace_back(r.fourier_error, std::move(r.density));
    backend.progress().add();
  }
  backend.progress().end();
  std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  AveragedPhasing out;
  out.box = m;
  for (const auto& run : runs) out.fourier_errors.push_back(run.first);
  if (!backend.lead()) return out;
  std::vector<double> mean = runs[0].second;
  for (std::size_t k = 1; k < runs.size(); ++k) {
    const auto aligned = resolution::align<double>(m, runs[k].second, runs[0].second, true, threads);
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += aligned.map[i];
  }
  for (auto& v : mean) v /= static_cast<double>(runs.size());
  out.density = m == n ? std::move(mean) : phasing::pad_centred<double>(mean, m, n);
  return out;
}

HalfMaps half_maps(Backend& backend, const Data& data, const Settings& st,
                   std::span<const geometry::Quaternion> orientations, std::uint64_t seed,
                   std::span<const double> scales, const std::array<std::vector<double>, 2>& merged) {
  if (static_cast<std::int64_t>(orientations.size()) != data.n_images)
    fail("half_maps: one orientation per image is needed");
  HalfMaps halves;
  for (int h = 0; h < 2; ++h) {
    backend.progress().set_context(fmt::format("half map {} of 2", h + 1));
    std::vector<double> merged_here;
    const auto& given = merged[static_cast<std::size_t>(h)];
    if (given.empty())
      merged_here = backend.merge(orientations, {}, [&](std::int64_t i) { return half_of(data, i) == h; }, scales).x;
    const auto& x = given.empty() ? merged_here : given;
    const auto half_seed = seed + static_cast<std::uint64_t>((h + 1) * st.phasing.final_average);
    halves.density[static_cast<std::size_t>(h)] = phase_averaged(backend, st, x, half_seed).density;
  }
  return halves;
}

}  // namespace spire::reconstruct
