#pragma once
// Soft assignment (orientations.assignment = soft): in the grid stages (search, refine) each
// image is merged at its best orientations.candidates references, each with its posterior
// weight, instead of at its best alone (Dragonfly's EMC weighs every orientation so; here the
// top k, the rest counting as 0).
//
//   w_ij = exp(-beta (s_ij - s_i,min)) / sum_j' exp(-beta (s_ij' - s_i,min)),  j over the top k,
// s the matching score (matching.hpp, a cost; for the poisson metric the negative
// log-likelihood, so beta = 1 is the posterior under a uniform prior). Deterministic
// annealing: beta = min(1, beta_start * beta_growth^g) in the g-th grid generation of the run
// (g = 0, 1, ...), soft while the model is poor, the posterior once it has improved. Each
// image's weights sum to 1, so it counts as one image in the merge (merging per reference:
// backend.hpp, merge_candidates). Weights below kWeightCut of the image's largest are set to
// 0 before they are normalised: they would cost a reference's points in the merge and move
// nothing.
//
// Units: beta in 1 / score units. Deterministic (a function of the scores). The local stage
// is hard: its orientations are continuous, one per image.
#include <cstdint>
#include <vector>

#include "reconstruct/backend.hpp"
#include "reconstruct/settings.hpp"
#include "reconstruct/stages.hpp"

namespace spire::reconstruct {

inline constexpr double kWeightCut = 1e-3;

struct SoftAssignment {
  std::int64_t k = 1;
  std::vector<std::int64_t> references;  // this rank's images x k (Candidates' layout)
  std::vector<float> weights;
  double beta = 0;
  double effective_sum = 0;  // sum over this rank's images of 1 / sum_j w_ij^2 (effective candidates)

  Candidates candidates() const { return {k, references, weights}; }
};

// The inverse temperature of the next grid generation after `history`.
double assignment_beta(const Settings::Orientations& o, const std::vector<Generation>& history);

// The weights of the matches' candidates (Matches::top_k > 1) at inverse temperature beta.
SoftAssignment soft_assignment(const Matches& matches, double beta);

}  // namespace spire::reconstruct
