#include "reconstruct/assignment.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "matching/matching.hpp"

namespace spire::reconstruct {

double assignment_beta(const Settings::Orientations& o, const std::vector<Generation>& history) {
  const auto g = std::count_if(history.begin(), history.end(),
                               [](const Generation& h) { return h.stage == Stage::search || h.stage == Stage::refine; });
  return std::min(1.0, o.beta_start * std::pow(o.beta_growth, static_cast<double>(g)));
}

SoftAssignment soft_assignment(const Matches& matches, double beta) {
  if (matches.top_k < 2 || matches.candidates.size() != matches.candidate_scores.size() ||
      matches.candidates.size() % static_cast<std::size_t>(matches.top_k) != 0)
    fail("reconstruct: a soft assignment needs the matches' candidates (top_k > 1)");
  SoftAssignment a;
  a.k = matches.top_k;
  a.beta = beta;
  a.references.assign(matches.candidates.begin(), matches.candidates.end());
  a.weights = matching::soft_weights<float>(matches.candidate_scores, a.k, beta);
  const std::size_t k = static_cast<std::size_t>(a.k), N = a.weights.size() / k;
  for (std::size_t i = 0; i < N; ++i) {
    float* w = a.weights.data() + i * k;
    const float largest = *std::max_element(w, w + k);
    double total = 0;
    for (std::size_t j = 0; j < k; ++j) total += w[j] = w[j] < kWeightCut * largest ? 0.0f : w[j];
    for (std::size_t j = 0; j < k && total > 0; ++j) w[j] = static_cast<float>(w[j] / total);
    double squares = 0;
    for (std::size_t j = 0; j < k; ++j) squares += double(a.weights[i * k + j]) * a.weights[i * k + j];
    a.effective_sum += squares > 0 ? 1 / squares : 0;
  }
  return a;
}

}  // namespace spire::reconstruct
