// Soft assignment (reconstruct/assignment.hpp): the weights and their schedule, the merge of
// candidates against an independent merge of every (image, candidate) pair, its hard limit,
// and a loop that runs soft.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "merging/merging.hpp"
#include "reconstruct/assignment.hpp"
#include "reconstruct/reconstruct.hpp"
#include "simulated.hpp"
#include "slicing/slicing.hpp"

using namespace spire;


// beta = min(1, beta_start growth^g) over the grid generations so far; the weights are the
// softmax of -beta score over each image's candidates, cut below kWeightCut of the largest
// and normalised, and the effective count is 1 / sum w^2.
TEST(Assignment, WeightsAndTheirSchedule) {
  auto st = reconstruct::load_settings("", {"orientations.beta_start=0.1", "orientations.beta_growth=3"});
  std::vector<reconstruct::Generation> history(1);  // the start: not a grid generation
  EXPECT_DOUBLE_EQ(reconstruct::assignment_beta(st.orientations, history), 0.1);
  history.push_back({}), history.back().stage = reconstruct::Stage::search;
  EXPECT_NEAR(reconstruct::assignment_beta(st.orientations, history), 0.3, 1e-12);
  history.push_back({}), history.back().stage = reconstruct::Stage::refine;
  EXPECT_NEAR(reconstruct::assignment_beta(st.orientations, history), 0.9, 1e-12);
  history.push_back({}), history.back().stage = reconstruct::Stage::refine;
  EXPECT_EQ(reconstruct::assignment_beta(st.orientations, history), 1.0);

  const std::vector<std::int64_t> refs{4, 7, 1, 2, 9, 3};
  const std::vector<float> scores{10, 10 + std::log(2.f), 30, 5, 5, 5};  // image 0: 2:1 and e^-20; image 1: even
  reconstruct::Matches m;
  m.top_k = 3, m.candidates = refs, m.candidate_scores = scores;
  const auto a = reconstruct::soft_assignment(m, 1.0);
  EXPECT_EQ(a.references, refs);
  ASSERT_EQ(a.weights.size(), 6u);
  EXPECT_NEAR(a.weights[0], 2.0 / 3, 1e-6);
  EXPECT_NEAR(a.weights[1], 1.0 / 3, 1e-6);
  EXPECT_EQ(a.weights[2], 0.0f);  // e^-20 of the largest: cut
  for (int j = 3; j < 6; ++j) EXPECT_NEAR(a.weights[j], 1.0 / 3, 1e-6);
  EXPECT_NEAR(a.effective_sum, 1 / (4.0 / 9 + 1.0 / 9) + 3, 1e-5);
  EXPECT_THROW(reconstruct::soft_assignment(reconstruct::Matches{}, 1.0), Error);
}

// merge_candidates: each image at each of its candidates with the candidate's weight (images
// at one reference merged as one set of points) against the merging library fed every
// (image, candidate) pair as its own points with that weight; with one candidate of weight 1
// per image it is merge() at those references, bit for bit.
TEST(Assignment, CandidatesMergeAsEveryPairWeighted) {
  const auto d = reconstruct::test::counted(reconstruct::test::simulated_images(30, 32, 11), 2000, 12);
  const auto st = reconstruct::load_settings("", {"grid.n=25", "orientations.references=200", "orientations.cells=off",
                                                  "runtime.fft_planning=estimate", "merging.tolerance=1e-6",
                                                  "merging.regularisation=0.1", "merging.cg_tolerance=1e-8",
                                                  "merging.cg_iterations=1000"});
  const distributed::Team team;  // outlives the back end, which keeps it
  auto backend = reconstruct::make_backend(d, st, team);
  const auto& references = backend->references();
  const std::int64_t k = 3, N = d.n_images, P = d.n_pixels;
  std::mt19937 rng(13);
  std::uniform_int_distribution<std::int64_t> pick(0, static_cast<std::int64_t>(references.size()) - 1);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  std::vector<std::int64_t> refs(static_cast<std::size_t>(N * k));
  std::vector<float> weights(refs.size());
  for (auto& r : refs) r = pick(rng) % 20;  // few references: several images share each
  for (auto& w : weights) w = u(rng);
  const auto soft = backend->merge_candidates({k, refs, weights}, {}, {});
  ASSERT_TRUE(soft.cg.converged);

  merging::Merger<float> merger(reconstruct::stage_options(st, d, references.size()).merging);
  std::vector<float> x, y, z, values, w;
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t j = 0; j < k; ++j) {
      const auto r = static_cast<std::size_t>(i * k + j);
      slicing::rotated_points<float>(references[static_cast<std::size_t>(refs[r])], d.pixels, d.extent, x, y, z);
      for (std::int64_t p = 0; p < P; ++p)
        values.push_back(d.images[static_cast<std::size_t>(i * P + p)]), w.push_back(weights[r]);
    }
  merger.accumulate(x, y, z, values, w);
  const auto want = merger.solve();
  double num = 0, den = 0;
  for (std::size_t v = 0; v < want.x.size(); ++v)
    num += (soft.x[v] - want.x[v]) * (soft.x[v] - want.x[v]), den += want.x[v] * want.x[v];
  EXPECT_LT(std::sqrt(num / den), 1e-5);

  std::vector<std::int64_t> best(static_cast<std::size_t>(N));
  std::vector<geometry::Quaternion> at(static_cast<std::size_t>(N));
  for (std::int64_t i = 0; i < N; ++i)
    best[static_cast<std::size_t>(i)] = pick(rng), at[static_cast<std::size_t>(i)] = references[static_cast<std::size_t>(best[static_cast<std::size_t>(i)])];
  const std::vector<float> ones(static_cast<std::size_t>(N), 1.0f);
  EXPECT_EQ(backend->merge_candidates({1, best, ones}, {}, {}).x, backend->merge(at, {}).x);
  EXPECT_THROW(backend->merge_candidates({2, best, ones}, {}, {}), Error);
}

// A run with a soft assignment: the grid generations hold beta on its schedule and more than
// one candidate per image early; the local stage is hard; the orientations end nearer the
// truth than a hard assignment's in as many generations. Refused on the GPU back end.
TEST(Assignment, ALoopRunsSoft) {
  const auto d = reconstruct::test::counted(reconstruct::test::simulated_images(300, 32, 21), 3000, 22);
  const auto st = reconstruct::load_settings(
      "", {"grid.n=25", "orientations.references=2000", "runtime.fft_planning=estimate", "orientations.assignment=soft",
           "orientations.beta_start=0.01", "orientations.beta_growth=4", "generations.max=8", "phasing.final_average=2"});
  const auto state = reconstruct::run(d, st);
  int grid = 0;
  for (const auto& g : state.generations) {
    if (g.stage == reconstruct::Stage::search || g.stage == reconstruct::Stage::refine) {
      EXPECT_NEAR(g.beta, std::min(1.0, 0.01 * std::pow(4.0, grid)), 1e-12) << g.index;
      EXPECT_GE(g.candidates, 1.0);
      ++grid;
    } else {
      EXPECT_EQ(g.beta, 0.0);
    }
  }
  ASSERT_GE(grid, 2);
  EXPECT_GT(state.generations[1].candidates, 1.5);
  const double error = reconstruct::median_orientation_error(state.orientations, d.truth);
  auto hard_settings = st;
  hard_settings.orientations.assignment = reconstruct::Assignment::hard;
  const auto hard = reconstruct::run(d, hard_settings);
  const double hard_error = reconstruct::median_orientation_error(hard.orientations, d.truth);
  std::cout << "300 images of 3,000 photons on 32 x 32 pixels, " << state.generations.size()
            << " generations: median error " << error << " deg soft, " << hard_error << " deg hard\n";
  EXPECT_LT(error, 30.0);  // measured 21.3 soft, 65.4 hard (not converged in 8 generations)
  EXPECT_LT(error, hard_error);
  auto gpu = st;
  gpu.runtime.device = reconstruct::Device::cuda;
  EXPECT_THROW(reconstruct::check_backend(gpu, 1), Error);
}

// orientations.assignment = auto (the default): soft for photon counts (the poisson metric) on
// the CPU back end, hard for intensities, for orientations.metric = euclidean and on the GPU;
// a setting of hard or soft is kept as it is.
TEST(Assignment, TheSettingsRule) {
  using reconstruct::Assignment;
  const auto on = [](std::vector<std::string> overrides, bool counts) {
    return reconstruct::assignment_for(reconstruct::load_settings("", overrides), counts);
  };
  EXPECT_EQ(on({}, true), Assignment::soft);
  EXPECT_EQ(on({}, false), Assignment::hard);
  EXPECT_EQ(on({"orientations.metric=euclidean"}, true), Assignment::hard);
  EXPECT_EQ(on({"orientations.metric=poisson"}, false), Assignment::soft);
  EXPECT_EQ(on({"runtime.device=cuda"}, true), Assignment::hard);
  EXPECT_EQ(on({"orientations.assignment=hard"}, true), Assignment::hard);
  EXPECT_EQ(on({"orientations.assignment=soft"}, false), Assignment::soft);
}

// The sparse-data warning follows the measured frontier (docs/sparse.md): at a measured image
// count the photons found to converge, between two log-log interpolated, outside them the
// nearest; orientations.min_photons overrides it; no warning for intensities or oracle runs.
TEST(Frontier, TheWarningFollowsTheMeasuredFrontier) {
  const auto defaults = reconstruct::load_settings("", {});
  for (const auto& [images, photons] :
       {std::pair{2000.0, 800.0}, {5000.0, 400.0}, {10000.0, 400.0}, {20000.0, 400.0}, {50000.0, 200.0}})
    EXPECT_NEAR(reconstruct::photons_needed(images), photons, 1e-9 * photons) << images;
  EXPECT_EQ(reconstruct::photons_needed(100), reconstruct::photons_needed(2000));
  EXPECT_EQ(reconstruct::photons_needed(1e6), reconstruct::photons_needed(50000));
  const double between = reconstruct::photons_needed(std::sqrt(20000.0 * 50000.0));  // geometric mean of the counts
  EXPECT_NEAR(between, std::sqrt(reconstruct::photons_needed(20000) * reconstruct::photons_needed(50000)), 1e-9 * between);
  const auto warning = reconstruct::sparse_warning(true, 300, 10000, defaults);
  EXPECT_NE(warning.find("300.0 photons per image"), std::string::npos) << warning;
  EXPECT_NE(warning.find("measured to need with 10000 images"), std::string::npos) << warning;
  EXPECT_EQ(reconstruct::sparse_warning(true, 300, 50000, defaults), "");
  EXPECT_EQ(reconstruct::sparse_warning(false, 3, 10, defaults), "");
  const auto strict = reconstruct::load_settings("", {"orientations.min_photons=1000"});
  EXPECT_NE(reconstruct::sparse_warning(true, 900, 50000, strict).find("orientations.min_photons = 1000"), std::string::npos);
  const auto oracle = reconstruct::load_settings("", {"orientations.oracle=true"});
  EXPECT_EQ(reconstruct::sparse_warning(true, 3, 10, oracle), "");
}
