// The loop's schedule (reconstruct/stages.hpp), rule by rule, on made-up histories.
#include <gtest/gtest.h>

#include <vector>

#include "reconstruct/stages.hpp"

using namespace spire;
using reconstruct::Generation;
using reconstruct::Stage;
using reconstruct::Standing;

namespace {

reconstruct::Settings::Generations rules() {
  reconstruct::Settings::Generations r;
  r.max = 30;
  r.stop_change = 1e-3;
  r.stop_reassigned = 0.01;
  r.stop_moved_far = 0.002;
  r.stop_fit = 0.002;
  r.fit_patience = 2;
  r.search_max = 5;
  r.search_improvement = 0.03;
  r.local_max = 2;
  return r;
}

Generation gen(int index, Stage stage, double fit, double change = 0.1, double reassigned = 0.5) {
  Generation g;
  g.index = index;
  g.stage = stage;
  g.fit = fit;
  g.change = change;
  g.reassigned = reassigned;
  return g;
}

Standing refining() {
  Standing s;
  s.refining = true;
  return s;
}

}  // namespace

TEST(Stages, StageOfAGeneration) {
  Standing s;
  EXPECT_EQ(reconstruct::stage_of(0, s, false), Stage::start);
  EXPECT_EQ(reconstruct::stage_of(1, s, false), Stage::search);
  EXPECT_EQ(reconstruct::stage_of(0, s, true), Stage::oracle);
  s.refining = true;
  EXPECT_EQ(reconstruct::stage_of(3, s, false), Stage::refine);
  s.local = true;
  EXPECT_EQ(reconstruct::stage_of(3, s, false), Stage::local);
  EXPECT_EQ(reconstruct::stage_of(3, s, true), Stage::oracle);
  auto r = rules();
  EXPECT_FALSE(reconstruct::initial_standing(r).refining);
  r.search_max = 0;
  EXPECT_TRUE(reconstruct::initial_standing(r).refining);  // no search at all
}

TEST(Stages, TheStartChangesNothingButTheCount) {
  const auto next = reconstruct::next_standing({}, {}, gen(0, Stage::start, -1), rules());
  EXPECT_FALSE(next.refining || next.local || next.finished || next.converged);
  auto r = rules();
  r.max = 1;
  EXPECT_TRUE(reconstruct::next_standing({}, {}, gen(0, Stage::start, -1), r).finished);
  EXPECT_FALSE(reconstruct::next_standing({}, {}, gen(0, Stage::start, -1), r).converged);
}

TEST(Stages, SearchEndsOnASlowFitOrAfterSearchMax) {
  const std::vector<Generation> one = {gen(0, Stage::start, -1), gen(1, Stage::search, 1.0)};
  // The first search generation has nothing to compare with: it goes on.
  EXPECT_FALSE(reconstruct::next_standing({}, {one.data(), 1}, one[1], rules()).refining);
  // 10% better: on; 2% better (< search_improvement 3%): refine; worse: refine.
  EXPECT_FALSE(reconstruct::next_standing({}, one, gen(2, Stage::search, 0.90), rules()).refining);
  EXPECT_TRUE(reconstruct::next_standing({}, one, gen(2, Stage::search, 0.98), rules()).refining);
  EXPECT_TRUE(reconstruct::next_standing({}, one, gen(2, Stage::search, 1.10), rules()).refining);
  // The fifth search generation is the last (search_max 5), however fast it improves.
  std::vector<Generation> four = {gen(0, Stage::start, -1)};
  for (int g = 1; g <= 4; ++g) four.push_back(gen(g, Stage::search, 1.0 - 0.1 * g));
  EXPECT_TRUE(reconstruct::next_standing({}, four, gen(5, Stage::search, 0.3), rules()).refining);
  EXPECT_FALSE(reconstruct::next_standing({}, {four.data(), 4}, gen(4, Stage::search, 0.5), rules()).refining);
}

TEST(Stages, RefinementEndsOnTheMapTheReassignedOrAStalledFit) {
  const std::vector<Generation> h = {gen(0, Stage::start, -1), gen(1, Stage::search, 1.0), gen(2, Stage::refine, 0.8)};
  auto next = [&](const Generation& g, const reconstruct::Settings::Generations& r = rules()) {
    return reconstruct::next_standing(refining(), h, g, r);
  };
  EXPECT_FALSE(next(gen(3, Stage::refine, 0.7)).local);                   // everything still moving
  EXPECT_TRUE(next(gen(3, Stage::refine, 0.7, 1e-4)).local);              // the map settled
  EXPECT_TRUE(next(gen(3, Stage::refine, 0.7, 0.1, 0.005)).local);        // almost nobody moved
  // ... unless those who moved moved far (images still being found: stop_moved_far 0.02);
  // moved_far -1 (not measured: an older checkpoint's) leaves the rule to reassigned.
  auto far = gen(3, Stage::refine, 0.7, 0.1, 0.005);
  far.moved_far = 0.004;
  EXPECT_FALSE(next(far).local);
  far.moved_far = 0.001;
  EXPECT_TRUE(next(far).local);
  far.moved_far = -1;
  EXPECT_TRUE(next(far).local);
  EXPECT_NEAR(reconstruct::far_move_deg(10000), 28.3, 0.1);  // 4 x (6 pi / m)^(1/3) radians
  EXPECT_FALSE(next(gen(3, Stage::refine, 0.7995)).local);                // one slow step: patience 2
  EXPECT_FALSE(next(gen(3, Stage::refine, 0.7995)).finished);
  auto r = rules();
  r.local_max = 0;  // no local stage: refinement's end is the run's
  const auto done = next(gen(3, Stage::refine, 0.7, 1e-4), r);
  EXPECT_TRUE(done.finished && done.converged && !done.local);
  // Two slow steps in a row (fit_patience 2): stalled.
  auto slow = h;
  slow.push_back(gen(3, Stage::refine, 0.7995));
  EXPECT_TRUE(reconstruct::next_standing(refining(), slow, gen(4, Stage::refine, 0.7990), rules()).local);
  // The search's fits do not count toward refinement's.
  const std::vector<Generation> s2 = {gen(0, Stage::start, -1), gen(1, Stage::search, 0.7995)};
  EXPECT_FALSE(reconstruct::next_standing(refining(), s2, gen(2, Stage::refine, 0.7990), rules()).local);
}

TEST(Stages, LocalStageEndsAfterLocalMaxOrWhenSettled) {
  Standing local = refining();
  local.local = true;
  const std::vector<Generation> h = {gen(0, Stage::start, -1), gen(1, Stage::refine, 0.8)};
  const auto first = reconstruct::next_standing(local, h, gen(2, Stage::local, 0.7), rules());
  EXPECT_FALSE(first.finished);
  auto h2 = h;
  h2.push_back(gen(2, Stage::local, 0.7));
  const auto second = reconstruct::next_standing(local, h2, gen(3, Stage::local, 0.6), rules());
  EXPECT_TRUE(second.finished && second.converged);  // local_max 2
  const auto settled = reconstruct::next_standing(local, h, gen(2, Stage::local, 0.7, 1e-4), rules());
  EXPECT_TRUE(settled.finished && settled.converged);
  // reassigned is no criterion here: every image moves a little.
  EXPECT_FALSE(reconstruct::next_standing(local, h, gen(2, Stage::local, 0.7, 0.1, 0.0), rules()).finished);
}

TEST(Stages, OracleStopsWhenTheMapSettlesAndMaxEndsAnyRun) {
  EXPECT_FALSE(reconstruct::next_standing({}, {}, gen(0, Stage::oracle, -1, 0.0), rules()).finished);  // g 0
  const std::vector<Generation> h = {gen(0, Stage::oracle, -1)};
  EXPECT_TRUE(reconstruct::next_standing({}, h, gen(1, Stage::oracle, -1, 1e-4), rules()).converged);
  EXPECT_FALSE(reconstruct::next_standing({}, h, gen(1, Stage::oracle, -1, 1e-2), rules()).finished);
  auto r = rules();
  r.max = 2;
  const auto capped = reconstruct::next_standing({}, h, gen(1, Stage::oracle, -1, 1e-2), r);
  EXPECT_TRUE(capped.finished);
  EXPECT_FALSE(capped.converged);  // a resume with a larger max goes on
}

// The fits of the 5,000-image run that stopped refinement too early (one 0.15% step).
TEST(Stages, SlowGenerationsCountsTheStepsBelowStopFitAtTheEnd) {
  using reconstruct::slow_generations;
  EXPECT_EQ(slow_generations(std::vector<double>{}, 0.002), 0);
  EXPECT_EQ(slow_generations(std::vector<double>{0.6021}, 0.002), 0);
  EXPECT_EQ(slow_generations(std::vector<double>{0.6021, 0.6004}, 0.002), 0);          // 0.28%
  EXPECT_EQ(slow_generations(std::vector<double>{0.6021, 0.6004, 0.5995}, 0.002), 1);  // 0.15%
  EXPECT_EQ(slow_generations(std::vector<double>{0.6021, 0.6004, 0.5995, 0.5990}, 0.002), 2);
  EXPECT_EQ(slow_generations(std::vector<double>{0.6021, 0.6020, 0.5980}, 0.002), 0);  // a fast step ends it
  EXPECT_EQ(slow_generations(std::vector<double>{0.6, 0.61, 0.62}, 0.002), 2);         // worse counts as slow
  EXPECT_EQ(slow_generations(std::vector<double>{0.6, 0.6, 0.6}, 0.0), 0);             // stop_fit 0: never
}

TEST(Stages, StopReasonNamesTheRuleThatHeldAndItsSetting) {
  Standing running = refining();
  EXPECT_EQ(reconstruct::stop_reason(running, {}, rules()), "");  // not finished
  Standing done = running;
  done.finished = done.converged = true;
  // Two local generations: local_max.
  std::vector<Generation> h = {gen(0, Stage::start, -1), gen(1, Stage::refine, 0.8), gen(2, Stage::local, 0.7),
                               gen(3, Stage::local, 0.6)};
  const auto by_count = reconstruct::stop_reason(done, h, rules());
  EXPECT_NE(by_count.find("converged: 2 local generations ran (generations.local_max = 2)"), std::string::npos)
      << by_count;
  EXPECT_EQ(by_count.find("stop_change"), std::string::npos) << by_count;
  // One local generation whose map settled.
  h.resize(3);
  h.back().change = 1e-4;
  const auto settled = reconstruct::stop_reason(done, h, rules());
  EXPECT_NE(settled.find("below generations.stop_change = 0.001"), std::string::npos) << settled;
  EXPECT_EQ(settled.find("local_max"), std::string::npos) << settled;
  // Refinement with local_max = 0, ended by the reassigned fraction and a stalled fit.
  auto r = rules();
  r.local_max = 0;
  h = {gen(0, Stage::start, -1), gen(1, Stage::refine, 0.8), gen(2, Stage::refine, 0.7999),
       gen(3, Stage::refine, 0.7998, 0.1, 0.001)};
  const auto refine = reconstruct::stop_reason(done, h, r);
  EXPECT_NE(refine.find("below generations.stop_reassigned = 0.01"), std::string::npos) << refine;
  EXPECT_NE(refine.find("generations.fit_patience = 2"), std::string::npos) << refine;
  // generations.max before any rule.
  Standing capped = running;
  capped.finished = true;
  EXPECT_EQ(reconstruct::stop_reason(capped, h, rules()),
            "stopped at generations.max = 30 before the stopping rules were met");
}
