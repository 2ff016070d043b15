// Under mpirun: one generation's slicing and matching (distributed::OrientationSearch) over
// the ranks, with the per-rank figures the run script tabulates: times, bytes fetched and read
// in place, the transfer time hidden behind matching, memory (formula, allocation, peak RSS).
// Usage: bench_distributed IMAGES REFERENCES SIDE BATCH GRID STRATEGY STREAMS RANKS_PER_NODE
//                          SPLIT KEEP_POINTS REPS
// Images are random (matching's cost does not depend on their content); the autocorrelation
// is a smooth random blob; the detector is SIDE x SIDE pixels (0.08 m at 0.2 m, 4600 eV).
// The last line (rank 0) is one JSON object.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "distributed/search.hpp"
#include "distributed/team.hpp"
#include "geometry/detector.hpp"

using namespace spire;

namespace {

// kB from /proc/self/status (0 where absent).
std::int64_t status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const distributed::Session session(argc, argv);
  if (argc < 12) {
    fmt::print(stderr, "usage: bench_distributed IMAGES REFERENCES SIDE BATCH GRID STRATEGY STREAMS RANKS_PER_NODE SPLIT KEEP_POINTS REPS\n");
    return 2;
  }
  const std::int64_t n_images = std::atoll(argv[1]), references = std::atoll(argv[2]), side = std::atoll(argv[3]),
                     batch = std::atoll(argv[4]), n = std::atoll(argv[5]);
  const std::string strategy = argv[6];
  const int streams = std::atoi(argv[7]), per_node = std::atoi(argv[8]);
  const std::int64_t split = std::atoll(argv[9]);
  const bool keep_points = std::atoi(argv[10]) != 0;
  const int reps = std::max(1, std::atoi(argv[11]));
  try {
    const auto team = distributed::Team::world(per_node);
    const auto det = geometry::Detector::square(side, 0.08, 0.2);
    const auto pixels = geometry::reciprocal_positions(det, 12398.4198e-10 / 4600);
    double s_ext = 0;
    for (const auto& p : pixels) s_ext = std::max(s_ext, std::hypot(p[0], p[1], p[2]));
    const auto P = static_cast<std::int64_t>(pixels.size());
    const auto mine = team.images(n_images);
    std::vector<float> images(static_cast<std::size_t>(mine.count * P));
    std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(team.rank()));
    std::uniform_real_distribution<float> u(0.0f, 10.0f);
    for (auto& v : images) v = u(rng);
    // A smooth blob plus noise, the same on every rank.
    std::vector<float> autocorrelation(static_cast<std::size_t>(n * n * n));
    std::mt19937_64 arng(7);
    std::normal_distribution<float> g;
    const double h = static_cast<double>(n / 2);
    for (std::int64_t z = 0; z < n; ++z)
      for (std::int64_t y = 0; y < n; ++y)
        for (std::int64_t x = 0; x < n; ++x) {
          const double r2 = (std::pow(static_cast<double>(x) - h, 2) + std::pow(static_cast<double>(y) - h, 2) +
                             std::pow(static_cast<double>(z) - h, 2)) / (h * h);
          autocorrelation[static_cast<std::size_t>(x + n * (y + n * z))] =
              static_cast<float>(std::exp(-8 * r2)) * (1.0f + 0.1f * g(arng));
        }
    const auto refs = geometry::reference_orientations(static_cast<std::size_t>(references));

    distributed::SearchOptions o;
    o.strategy = value_of(distributed::kStrategyNames, strategy).value();
    o.split_size = split;
    o.n_streams = streams;
    o.slicing.batch_size = batch;
    o.slicing.tolerance = 1e-5;
    o.slicing.keep_points = keep_points;
    o.matching.scale = matching::Scale::per_slice;
    const auto t0 = std::chrono::steady_clock::now();
    const matching::ImageSet<float> set{mine.count, static_cast<std::int64_t>(pixels.size()), images, {}, {}, {}};
    distributed::OrientationSearch search(team, refs, pixels, s_ext, n, set, o);
    team.barrier();
    const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Best of reps (by the slowest rank's wall time), all figures from that rep.
    distributed::SearchStats best;
    double best_wall = 1e300;
    for (int r = 0; r < reps; ++r) {
      search.run(autocorrelation);
      const auto& st = search.stats();
      const double wall = team.max(st.slicing_s + st.matching_s);
      if (wall < best_wall) best_wall = wall, best = st;
    }
    const auto formula = distributed::memory_per_rank(search.plan(), team.rank(), P, std::min(batch, references),
                                                      mine.count, 1, keep_points);
    const auto allocated = search.allocated();
    const std::vector<double> mine_figures = {
        best.slicing_s, best.matching_s, best.pipeline_s, best.fetch_s, best.compute_s, best.fetch_busy_s,
        best.fetch_exposed_s, static_cast<double>(best.bytes_fetched), static_cast<double>(best.bytes_local),
        static_cast<double>(formula.total()), static_cast<double>(allocated.window + allocated.transfer),
        static_cast<double>(status_kb("VmHWM")) * 1024, static_cast<double>(status_kb("RssAnon")) * 1024,
        static_cast<double>(status_kb("RssShmem")) * 1024, static_cast<double>(mine.count),
        static_cast<double>(search.plan().held[static_cast<std::size_t>(team.rank())].count)};
    const auto all = team.gather(std::span<const double>(mine_figures));
    if (team.lead()) {
      const std::vector<std::string> keys = {"slicing_s", "matching_s", "pipeline_s", "fetch_s", "compute_s",
                                             "fetch_busy_s", "fetch_exposed_s", "bytes_fetched", "bytes_local",
                                             "memory_formula_bytes", "window_and_transfer_bytes", "peak_rss_bytes",
                                             "rss_anon_bytes", "rss_shmem_bytes", "images", "held_references"};
      nlohmann::json j;
      j["strategy"] = strategy;
      j["streams"] = streams;
      j["ranks"] = team.size();
      j["nodes"] = team.n_nodes();
      j["images"] = n_images;
      j["references"] = references;
      j["pixels"] = P;
      j["batch"] = batch;
      j["grid"] = n;
      j["split_size"] = split;
      j["keep_points"] = keep_points;
      j["omp_threads"] = omp_get_max_threads();
      j["setup_s"] = setup_s;
      j["wall_s"] = best_wall;
      for (std::size_t k = 0; k < keys.size(); ++k) {
        std::vector<double> per_rank;
        for (int r = 0; r < team.size(); ++r) per_rank.push_back(all[static_cast<std::size_t>(r) * keys.size() + k]);
        j["per_rank"][keys[k]] = per_rank;
      }
      fmt::print("{}\n", j.dump());
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_distributed (rank {}): {}\n", session.rank(), e.what());
    session.abort(2);
  }
  return 0;
}
