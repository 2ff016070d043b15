#pragma once
// A short run of both NUFFT types in both precisions against the direct sum: what
// `spire selfcheck` prints, so a user can see on their machine that the transforms hold
// their tolerance and how fast they run.
#include <string>
#include <vector>

namespace spire::nufft {

struct CheckResult {
  std::string precision;
  int type = 0;
  double tolerance = 0;
  double error = 0;       // relative l2 error against the direct sum
  int width = 0;
  double seconds = 0;     // one execute
  bool passed = false;    // error within 10x the tolerance
};

std::vector<CheckResult> self_check(int n_modes, long n_points, int threads);

}  // namespace spire::nufft
