// The memory estimate: each term against figures computed by hand from the formulas in
// reconstruct/memory.hpp, the refusal's wording, and the per-node sum under MPI. (The
// estimate against a run's measured peak: tests/cli/checks.sh.)
#include <gtest/gtest.h>

#include <map>

#include "reconstruct/memory.hpp"

using namespace spire::reconstruct;

namespace {

Settings small_run() {
  Settings st;
  st.grid.n = 21;
  st.orientations.references = 1000;
  st.orientations.batch_size = 100;
  return st;  // keep_points, local_max = 2, merging.precision = double: the defaults
}

std::map<std::string, double> terms(const MemoryEstimate& e) {
  std::map<std::string, double> out;
  for (const auto& t : e.terms) out[t.what] = t.bytes;
  return out;
}

}  // namespace

TEST(Memory, TermsMatchHandComputedFigures) {
  // 500 images of 1024 pixels; M = 1000, B = 100, n = 21, L = 42 (2 3 7 >= 41).
  const auto e = estimate_memory(small_run(), {500, 1024});
  auto t = terms(e);
  EXPECT_EQ(t["images"], 2'048'000);              // 4 N P
  EXPECT_EQ(terms(estimate_memory(small_run(), {500, 1024, 50}))["images"], 504'000);  // sparse: (20 v + 8) N
  EXPECT_EQ(t["reference set"], 32'000);          // 32 M
  EXPECT_EQ(t["sorted points"], 20'480'000);      // 20 M P
  EXPECT_EQ(t["slices of a batch"], 2'457'600);   // 24 B P
  EXPECT_EQ(t["matching scores"], 206'000);       // 4 N B + 12 N
  EXPECT_EQ(t["local refinement"], 6'553'600);    // 64 B P
  EXPECT_EQ(t["slicing grid"], 592'704);          // 64 n^3
  // 8 82^3 + 16 41^3 + 8 (3 42^3 + 21 42^2) + 44 256 1024
  EXPECT_EQ(t["merging grids"], 4'410'944 + 1'102'736 + 2'074'464 + 11'534'336);
  EXPECT_EQ(t["maps and phasing"], 2'370'816);    // 256 n^3
  EXPECT_EQ(t["program"], kProgramBytes);
  EXPECT_EQ(e.terms.size(), 10u);
  EXPECT_EQ(e.total(), 2'048'000 + 32'000 + 20'480'000 + 2'457'600 + 206'000 + 6'553'600 + 592'704 + 19'122'480 +
                           2'370'816 + kProgramBytes);
  EXPECT_EQ(e.largest().what, "program");
}

TEST(Memory, KeepPointsOffHoldsOneBatchOfPoints) {
  auto st = small_run();
  st.slicing.keep_points = false;
  EXPECT_EQ(terms(estimate_memory(st, {500, 1024}))["sorted points"], 2'048'000);  // 20 B P
}

TEST(Memory, OracleRunsNeitherSliceNorMatch) {
  auto st = small_run();
  st.orientations.oracle = true;
  auto t = terms(estimate_memory(st, {500, 1024}));
  EXPECT_EQ(t.count("sorted points") + t.count("matching scores") + t.count("local refinement"), 0u);
  EXPECT_EQ(t["images"], 2'048'000);
}

TEST(Memory, FloatMergingHalvesTheToeplitzBuffers) {
  auto st = small_run();
  st.merging.precision = spire::merging::CgPrecision::float32;
  EXPECT_EQ(terms(estimate_memory(st, {500, 1024}))["merging grids"], 4'410'944 + 1'102'736 + 1'037'232 + 11'534'336);
}

TEST(Memory, RefusalNamesTheFigureAndTheSetting) {
  auto st = small_run();
  st.orientations.references = 100'000'000;
  const auto e = estimate_memory(st, {20, 1024});
  // Sorted points 20 1e8 1024 = 2.048e12; the total adds 3.2 GB of quaternions and the rest.
  EXPECT_EQ(memory_problem(e, 23.4e9, "this machine"),
            "needs 2.1 TB (orientations.references = 100000000 with slicing.keep_points = true: 2.0 TB of sorted "
            "points); this machine has 23.4 GB available; lower orientations.references or set "
            "slicing.keep_points = false");
  EXPECT_EQ(memory_problem(estimate_memory(small_run(), {500, 1024}), 23.4e9, "this machine"), "");
}

TEST(Memory, RefusalGroupsTheTermsOfOneSetting) {
  auto st = small_run();
  st.orientations.references = 1'000'000;
  st.orientations.batch_size = 1'000'000;
  st.slicing.keep_points = false;
  // B P = 1.024e9: sorted points 20, batch 24, local refinement 64 bytes each; matching 4 N B.
  const std::string problem = memory_problem(estimate_memory(st, {20, 1024}), 1e9, "this machine");
  EXPECT_NE(problem.find("(orientations.batch_size = 1000000: 110.7 GB of sorted points and slices of a batch and "
                         "matching scores and local refinement); this machine has 1.0 GB available; lower "
                         "orientations.batch_size"),
            std::string::npos)
      << problem;
}

TEST(Memory, NodeSumsItsRanksShares) {
  auto st = small_run();
  st.distribution.strategy = spire::distributed::Strategy::distributed;
  const spire::distributed::Layout node{{{0, 1}}};
  auto one = terms(estimate_memory(st, {500, 1024}, node, 0));
  EXPECT_EQ(one["images"], 4.0 * 250 * 1024);      // half the images
  EXPECT_EQ(one["sorted points"], 20.0 * 500 * 1024);  // half the references
  EXPECT_EQ(one["MPI windows"], 4.0 * 500 * 1024);     // its share in the window, no transfer
  auto both = terms(ranks_memory(st, {500, 1024}, node, {0, 1}));
  EXPECT_EQ(both["images"], 2'048'000);
  EXPECT_EQ(both["sorted points"], 20'480'000);
  EXPECT_EQ(both["program"], 2 * kProgramBytes);
}

TEST(Memory, FormatsDecimalUnits) {
  EXPECT_EQ(format_bytes(999), "999 B");
  EXPECT_EQ(format_bytes(1500), "1.5 kB");
  EXPECT_EQ(format_bytes(23.4e9), "23.4 GB");
  EXPECT_EQ(format_bytes(2.1e12), "2.1 TB");
}

TEST(Memory, AvailableMemoryIsReadOnLinux) {
  const auto a = available_memory();
  ASSERT_TRUE(a.has_value());
  EXPECT_GT(*a, 1e6);
}
