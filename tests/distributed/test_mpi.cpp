// Under mpirun (ctest runs it with 2, 3 and 4 ranks, real or emulated nodes): R ranks give
// the one-rank answer, for every strategy and 1 and 2 streams.
//  - OrientationSearch: the same reference index for every image as one rank alone (scores
//    to float round-off), over two generations; the window and transfer buffers are what
//    memory_per_rank() says; the bytes fetched are the remote targets' slices.
//  - Merging: the Toeplitz kernel and A*Db summed over ranks equal one rank's, to round-off.
//  - The loop: every rank ends with the same State; the last generation's orientations are
//    one rank's search on the same slicing input; in oracle mode the merged autocorrelation
//    is one rank's to round-off; the local stage refines each rank's images as one process
//    refining all of them would.
// Usage: test_distributed_mpi [--ranks-per-node K] [gtest flags]. Only rank 0 prints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "distributed/search.hpp"
#include "distributed/team.hpp"
#include "geometry/detector.hpp"
#include "matching/refine.hpp"
#include "merging/merging.hpp"
#include "phasing/phasing.hpp"
#include "reconstruct/reconstruct.hpp"
#include "simulate/simulate.hpp"
#include "slicing/slicing.hpp"

using namespace spire;
using distributed::Strategy;

namespace {

int g_ranks_per_node = 0;
constexpr int n = 15;
constexpr std::int64_t n_images = 90, references = 300, batch = 40;

struct Dataset {
  std::int64_t P = 0;
  std::vector<float> images;  // all images (every rank makes them; each uses its range)
  std::vector<std::array<double, 3>> pixels;
  std::vector<geometry::Quaternion> truth;
  std::vector<std::vector<float>> autocorrelations;  // two slicing inputs
  double s_ext = 0;
};

const Dataset& dataset() {
  static const Dataset d = [] {
    Dataset s;
    const auto atoms = simulate::centred(simulate::built_in_molecule());
    const auto det = geometry::Detector::square(24, 0.08, 0.2);
    geometry::Beam beam;
    beam.photons_per_pulse = 1e14;
    beam.radius_m = 0.1e-6;
    s.P = det.size();
    s.truth = geometry::random_orientations(n_images, 9);
    s.images.resize(static_cast<std::size_t>(n_images * s.P));
    simulate::PatternSimulator(atoms, det, beam, 1e-5, 0).patterns(s.truth, s.images.data());
    // Photon noise. On noise-free images the per-slice score |x|^2 - <x,y>^2/|y|^2 is a
    // difference of terms 10^4 times larger than itself, and the float GEMM's rounding, which
    // depends on the matrix shapes (OpenBLAS picks kernels by size; NearestSlices splits
    // images by thread), decides between near-tied references: measured, 6 of 90 images
    // change reference between matching all 90 images at once and in four blocks, in ONE
    // process. With noise the scores are well above that rounding.
    std::mt19937_64 rng(11);
    for (auto& v : s.images) v = static_cast<float>(std::poisson_distribution<int>(v)(rng));
    s.pixels = geometry::reciprocal_positions(det, beam.wavelength_m());
    for (const auto& p : s.pixels) s.s_ext = std::max(s.s_ext, std::hypot(p[0], p[1], p[2]));
    const auto model = simulate::reference_model(atoms, det, beam.wavelength_m(), n, 1e-5);
    phasing::Phaser<double> phaser(n, 1, Planning::estimate);
    const std::vector<double> density(model.density.data.begin(), model.density.data.end());
    const auto a = phaser.autocorrelation_of(density);
    s.autocorrelations.emplace_back(a.begin(), a.end());
    // A blurred second model: another generation's input.
    std::vector<double> blurred(density.size());
    for (std::size_t i = 0; i < density.size(); ++i)
      blurred[i] = 0.5 * density[i] + 0.25 * (density[(i + 1) % density.size()] + density[(i + density.size() - 1) % density.size()]);
    const auto b = phaser.autocorrelation_of(blurred);
    s.autocorrelations.emplace_back(b.begin(), b.end());
    return s;
  }();
  return d;
}

struct Config {
  Strategy strategy;
  int streams;
};
std::vector<Config> configs() {
  std::vector<Config> c;
  for (Strategy s : {Strategy::replicated, Strategy::distributed, Strategy::hybrid})
    for (int streams : {1, 2}) c.push_back({s, streams});
  return c;
}
std::string name(const Config& c) {
  return std::string(name_of(distributed::kStrategyNames, c.strategy)) + ", " + std::to_string(c.streams) + " stream(s)";
}
// Hybrid: a copy over half the nodes when that makes whole groups of more than one node,
// else over all of them.
std::int64_t split_for(const distributed::Team& team) {
  const int nodes = team.n_nodes();
  const int g = nodes >= 4 && nodes % 2 == 0 ? nodes / 2 : nodes;
  return (references + g - 1) / g;
}

distributed::SearchOptions search_options(const Config& c, std::int64_t split) {
  distributed::SearchOptions o;
  o.strategy = c.strategy;
  o.split_size = split;
  o.n_streams = c.streams;
  o.slicing.batch_size = batch;
  o.slicing.threads = 1;
  o.slicing.keep_points = c.streams == 1;  // both slicing paths
  o.matching.scale = matching::Scale::per_slice;
  o.matching.threads = 1;
  o.matching.top_k = 2;  // the runner-up tells a near-tie from a wrong answer
  return o;
}

// One rank's answer, computed on the lead: each image's best two (index, score).
struct Solo {
  std::vector<std::int64_t> indices;
  std::vector<float> scores;
  // Whether `index` is this image's answer: its best, or its runner-up when that scores
  // within float rounding of the best (the GEMM's shape-dependent rounding decides such
  // near-ties; counted in near_ties).
  bool agrees(std::size_t image, std::int64_t index, std::int64_t& near_ties) const {
    if (index == indices[2 * image]) return true;
    const double best = scores[2 * image], second = scores[2 * image + 1];
    if (index == indices[2 * image + 1] && std::abs(second - best) <= 1e-4 * std::abs(best)) {
      ++near_ties;
      return true;
    }
    return false;
  }
};
Solo solo_search(std::span<const float> autocorrelation) {
  const auto& d = dataset();
  const auto refs = geometry::reference_orientations(references);
  const distributed::Team alone;
  const matching::ImageSet<float> images{n_images, static_cast<std::int64_t>(d.pixels.size()), d.images, {}, {}, {}};
  distributed::OrientationSearch search(alone, refs, d.pixels, d.s_ext, n, images,
                                        search_options({Strategy::distributed, 1}, 0));
  search.run(autocorrelation);
  return {search.indices(), search.scores()};
}

// This rank's images (its contiguous range) with their truth, as `spire reconstruct` reads them.
reconstruct::Data rank_data(const distributed::Team& team) {
  const auto& d = dataset();
  const auto mine = team.images(n_images);
  reconstruct::Data data;
  data.n_images = mine.count;
  data.n_pixels = d.P;
  data.images.assign(d.images.begin() + mine.first * d.P, d.images.begin() + (mine.first + mine.count) * d.P);
  data.pixels = d.pixels;
  data.truth.assign(d.truth.begin() + mine.first, d.truth.begin() + mine.first + mine.count);
  reconstruct::prepare(data, team);
  return data;
}

std::vector<double> as_doubles(const std::vector<std::int64_t>& v) { return {v.begin(), v.end()}; }
std::vector<double> as_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

double relative_difference(std::span<const double> a, std::span<const double> b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace

TEST(Mpi, SearchGivesTheOneRankOrientations) {
  const auto team = distributed::Team::world(g_ranks_per_node);
  const auto& d = dataset();
  const auto refs = geometry::reference_orientations(references);
  const auto mine = team.images(n_images);
  const std::span<const float> my_images(d.images.data() + mine.first * d.P, static_cast<std::size_t>(mine.count * d.P));
  static std::map<int, Solo> solo;  // per slicing input, on the lead
  if (team.lead() && solo.empty())
    for (int g = 0; g < 2; ++g) solo[g] = solo_search(d.autocorrelations[static_cast<std::size_t>(g)]);
  std::map<int, std::vector<double>> first_indices, first_scores;  // of the first configuration
  for (const auto& c : configs()) {
    SCOPED_TRACE(name(c));
    const matching::ImageSet<float> images{mine.count, static_cast<std::int64_t>(d.pixels.size()), my_images, {}, {}, {}};
    distributed::OrientationSearch search(team, refs, d.pixels, d.s_ext, n, images, search_options(c, split_for(team)));
    // Memory: the formula is what was allocated; bytes fetched are the remote targets' slices.
    const auto& plan = search.plan();
    const auto formula = distributed::memory_per_rank(plan, team.rank(), d.P, batch, mine.count, 1, c.streams == 1);
    double bad = 0;
    bad += search.allocated().window != formula.window;
    bad += search.allocated().transfer != formula.transfer;
    std::int64_t remote = 0, local = 0;
    if (!plan.streaming(team.rank()))
      for (int t : plan.order[static_cast<std::size_t>(team.rank())])
        (plan.same_node(team.rank(), t) ? local : remote) += 4 * plan.held[static_cast<std::size_t>(t)].count * d.P;
    for (int g = 0; g < 2; ++g) {
      search.run(d.autocorrelations[static_cast<std::size_t>(g)]);
      bad += search.stats().bytes_fetched != remote;
      bad += search.stats().bytes_local != local;
      const auto indices = team.gather(std::span<const double>(as_doubles(search.indices())));
      const auto scores = team.gather(std::span<const double>(as_doubles(search.scores())));
      if (team.lead()) {
        // Every strategy and stream count on these ranks: bit for bit the same (same batches,
        // same image blocks, so the same GEMMs).
        if (!first_indices.count(g)) first_indices[g] = indices, first_scores[g] = scores;
        EXPECT_EQ(indices, first_indices[g]) << "generation " << g;
        EXPECT_EQ(scores, first_scores[g]) << "generation " << g;
        const auto& s = solo[g];
        ASSERT_EQ(indices.size(), s.indices.size());
        std::int64_t differ = 0, near_ties = 0;
        double worst = 0;
        for (std::size_t i = 0; i < indices.size() / 2; ++i) {
          differ += !s.agrees(i, static_cast<std::int64_t>(indices[2 * i]), near_ties);
          worst = std::max(worst, std::abs(scores[2 * i] - s.scores[2 * i]) / std::abs(static_cast<double>(s.scores[2 * i])));
        }
        EXPECT_EQ(differ, 0) << "generation " << g << ": images whose reference differs from one rank's";
        EXPECT_LE(near_ties, 2) << "generation " << g;
        EXPECT_LT(worst, 1e-4) << "generation " << g << ": scores to float round-off";
        if (near_ties) std::cout << name(c) << ", generation " << g << ": " << near_ties << " near-tie(s) resolved otherwise than on one rank\n";
      }
    }
    EXPECT_EQ(team.max(bad), 0) << "allocations or bytes read differ from the plan on some rank";
  }
}

TEST(Mpi, MergedSumsAreOneRanks) {
  const auto team = distributed::Team::world(g_ranks_per_node);
  const auto& d = dataset();
  const auto mine = team.images(n_images);
  merging::Options ms;
  ms.n = n;
  ms.nufft.threads = 1;
  ms.nufft.planning = Planning::estimate;
  auto accumulate = [&](merging::Merger<float>& m, std::int64_t first, std::int64_t count) {
    std::vector<float> x, y, z;
    for (std::int64_t i = first; i < first + count; ++i) slicing::rotated_points<float>(d.truth[static_cast<std::size_t>(i)], d.pixels, d.s_ext, x, y, z);
    m.accumulate(x, y, z, std::span<const float>(d.images).subspan(static_cast<std::size_t>(first * d.P), static_cast<std::size_t>(count * d.P)));
  };
  merging::Merger<float> merger(ms);
  accumulate(merger, mine.first, mine.count);
  team.sum(merger.kernel());
  team.sum(merger.rhs());
  if (team.lead()) {
    merging::Merger<float> alone(ms);
    accumulate(alone, 0, n_images);
    const double dk = relative_difference(merger.kernel(), alone.kernel());
    const double dr = relative_difference(merger.rhs(), alone.rhs());
    std::cout << "merged sums over " << team.size() << " ranks vs one: kernel " << dk << ", rhs " << dr << "\n";
    EXPECT_LT(dk, 1e-5);
    EXPECT_LT(dr, 1e-5);
  }
}

TEST(Mpi, LoopAgreesWithOneRank) {
  const auto team = distributed::Team::world(g_ranks_per_node);
  const auto& d = dataset();
  const auto data = rank_data(team);
  // Every strategy, streams alternating (the search test above covers all six pairs).
  for (const auto& c : {Config{Strategy::replicated, 2}, Config{Strategy::distributed, 1}, Config{Strategy::hybrid, 2}}) {
    SCOPED_TRACE(name(c));
    const auto st = reconstruct::load_settings(
        "", {"grid.n=15", "generations.max=3", "generations.search_max=1", "orientations.references=300",
             "orientations.metric=euclidean",  // solo_search's metric (auto would take poisson for these counts)
             "orientations.batch_size=40", "phasing.loops=2", "runtime.fft_planning=estimate", "runtime.threads=1",
             "merging.regularisation=0.1", std::string("distribution.strategy=") + std::string(name_of(distributed::kStrategyNames, c.strategy)),
             "distribution.split_size=" + std::to_string(split_for(team)), "distribution.n_streams=" + std::to_string(c.streams)});
    std::vector<double> last_input;  // what the last generation sliced
    const auto r = reconstruct::run(data, st, [&](const reconstruct::Generation& g, const reconstruct::State& s) {
      if (g.index == 1) last_input = s.slicing_input;
    }, nullptr, team);
    ASSERT_EQ(r.generations.size(), 3u);
    // Every rank holds the same State (the lead's, bit for bit).
    double differs = 0;
    for (auto values : {r.autocorrelation, r.density, r.slicing_input}) {
      auto lead = values;
      team.broadcast(lead);
      differs += lead != values;
    }
    for (const auto& g : r.generations) {
      std::vector<double> v = {g.fit, g.change, g.reassigned, g.fourier_error, g.median_error_deg, double(g.cg_iterations)}, lead = v;
      team.broadcast(lead);
      differs += lead != v;
    }
    EXPECT_EQ(team.max(differs), 0) << "ranks disagree on the State";
    // The last generation's orientations are one rank's search on the same input.
    const auto found = team.gather(r.orientations);
    if (team.lead()) {
      const std::vector<float> input(last_input.begin(), last_input.end());
      const auto s = solo_search(input);
      const auto refs = geometry::reference_orientations(references);
      std::int64_t differ = 0, near_ties = 0;
      ASSERT_EQ(found.size(), static_cast<std::size_t>(n_images));
      for (std::size_t i = 0; i < found.size(); ++i) {
        std::int64_t index = -1;  // the reference the loop assigned
        for (std::size_t k = 0; k < refs.size(); ++k)
          if (refs[k].w == found[i].w && refs[k].x == found[i].x && refs[k].y == found[i].y && refs[k].z == found[i].z) index = static_cast<std::int64_t>(k);
        differ += !s.agrees(i, index, near_ties);
      }
      EXPECT_EQ(differ, 0);
      EXPECT_LE(near_ties, 2);
    }
  }
  // Oracle mode: no search, the merged autocorrelation is one rank's.
  const auto st = reconstruct::load_settings("", {"grid.n=15", "generations.max=2", "orientations.oracle=true",
                                                  "phasing.loops=1", "runtime.fft_planning=estimate", "runtime.threads=1",
                                                  "merging.regularisation=0.1", "merging.cg_tolerance=1e-10", "merging.cg_iterations=500"});
  const auto r = reconstruct::run(data, st, {}, nullptr, team);
  if (team.lead()) {
    reconstruct::Data all;
    all.n_images = n_images;
    all.n_pixels = d.P;
    all.images = d.images;
    all.pixels = d.pixels;
    all.truth = d.truth;
    reconstruct::prepare(all);
    const auto one = reconstruct::run(all, st);
    const double diff = relative_difference(r.autocorrelation, one.autocorrelation);
    std::cout << "oracle loop over " << team.size() << " ranks vs one: merged autocorrelation differs by " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
  }
}

// The local stage on R ranks: each rank refines its own images, as one process refining all
// of them from the same starts (the grid search on the same slicing input and the previous
// orientations) would, to double round-off.
TEST(Mpi, LocalStageRefinesAsOneProcess) {
  const auto team = distributed::Team::world(g_ranks_per_node);
  const auto& d = dataset();
  const auto data = rank_data(team);
  // Refinement converges at once (stop_reassigned = stop_moved_far = 1): generation 3 is local.
  const auto st = reconstruct::load_settings(
      "", {"grid.n=15", "generations.max=4", "generations.search_max=1", "generations.stop_reassigned=1",
           "generations.stop_moved_far=1", "orientations.references=300", "orientations.batch_size=40", "orientations.metric=euclidean",
           "phasing.loops=2", "runtime.fft_planning=estimate", "runtime.threads=1", "merging.regularisation=0.1",
           "distribution.strategy=distributed", "distribution.n_streams=2", "orientations.local_tolerance=1e-3"});
  std::vector<double> input;                   // what generation 3 sliced
  std::vector<geometry::Quaternion> previous;  // every image's orientation after generation 2
  const auto r = reconstruct::run(data, st, [&](const reconstruct::Generation& g, const reconstruct::State& s) {
    if (g.index == 2) input = s.slicing_input, previous = team.gather(s.orientations);
  }, nullptr, team);
  ASSERT_EQ(r.generations.size(), 4u);
  EXPECT_EQ(r.generations[3].stage, reconstruct::Stage::local);
  const auto found = team.gather(r.orientations);
  if (team.lead()) {
    const std::vector<float> a(input.begin(), input.end());
    const auto solo = solo_search(a);
    const auto refs = geometry::reference_orientations(references);
    std::vector<geometry::Quaternion> starts;
    for (std::int64_t i = 0; i < n_images; ++i) starts.push_back(refs[solo.indices[2 * i]]), starts.push_back(previous[i]);
    matching::Options mo;
    mo.scale = matching::Scale::per_slice;
    matching::RefineOptions ro;
    ro.steps = static_cast<int>(st.orientations.local_steps);
    ro.first_step = 0.6 * geometry::covering_radius_lower_bound(static_cast<std::size_t>(references));
    ro.batch_size = batch;
    ro.tolerance = st.orientations.local_tolerance;
    ro.threads = 1;
    std::vector<geometry::Quaternion> one(static_cast<std::size_t>(n_images));
    std::vector<double> scores(one.size());
    matching::refine_orientations<float>(a, n, d.pixels, d.s_ext, d.images, starts, 2, mo, ro, one, scores);
    std::int64_t differ = 0;
    for (std::int64_t i = 0; i < n_images; ++i) differ += geometry::angle_between(found[i], one[i]) > 1e-6;
    EXPECT_LE(differ, 2) << "images refined elsewhere than one process puts them (near-ties of the grid search aside)";
  }
}

int main(int argc, char** argv) {
  const distributed::Session session(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--ranks-per-node") == 0) g_ranks_per_node = std::atoi(argv[i + 1]);
  if (session.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  // Any rank's failure fails the run (its messages are the lead's, or a wrong exit code).
  const auto team = distributed::Team::world(0);
  return team.max(failed) > 0 ? 1 : 0;
}
