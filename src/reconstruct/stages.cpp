#include "reconstruct/stages.hpp"

#include <fmt/core.h>

#include "geometry/orientations.hpp"

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace spire::reconstruct {

Standing initial_standing(const Settings::Generations& rules) {
  Standing s;
  s.refining = rules.search_max == 0;
  return s;
}

Stage stage_of(int index, const Standing& standing, bool oracle) {
  if (oracle) return Stage::oracle;
  if (index == 0) return Stage::start;
  if (standing.local) return Stage::local;
  return standing.refining ? Stage::refine : Stage::search;
}

double far_move_deg(std::size_t references) {
  return 4 * geometry::covering_radius_lower_bound(references) * 180 / std::numbers::pi;
}

namespace {
// Refinement's images have settled: few moved, and of those few far (where measured).
bool few_moved(const Generation& g, const Settings::Generations& rules) {
  return g.reassigned < rules.stop_reassigned && (g.moved_far < 0 || g.moved_far < rules.stop_moved_far);
}
}  // namespace

std::int64_t slow_generations(std::span<const double> fits, double stop_fit) {
  std::int64_t slow = 0;
  for (std::size_t k = fits.size(); k > 1; --k) {
    if ((fits[k - 2] - fits[k - 1]) / std::abs(fits[k - 2]) >= stop_fit) break;
    ++slow;
  }
  return slow;
}

Standing next_standing(const Standing& now, std::span<const Generation> history, const Generation& latest,
                       const Settings::Generations& rules) {
  // The fits of latest's stage, in order, latest's last.
  std::vector<double> fits;
  for (const auto& h : history)
    if (h.stage == latest.stage) fits.push_back(h.fit);
  const auto earlier = static_cast<std::int64_t>(fits.size());  // of this stage, before latest
  const double previous_fit = fits.empty() ? std::numeric_limits<double>::quiet_NaN() : fits.back();
  const double improvement = (previous_fit - latest.fit) / std::abs(previous_fit);
  fits.push_back(latest.fit);
  // The fit is noisy: one small step is no proof that the orientations have stopped.
  const bool fit_stalled = slow_generations(fits, rules.stop_fit) >= rules.fit_patience;
  const bool map_settled = latest.change < rules.stop_change;

  Standing next = now;
  switch (latest.stage) {
    case Stage::start: break;
    case Stage::search:
      if (earlier + 1 >= rules.search_max || (earlier > 0 && !(improvement >= rules.search_improvement)))
        next.refining = true;
      break;
    case Stage::refine:
      if (map_settled || few_moved(latest, rules) || fit_stalled) {
        if (rules.local_max > 0)
          next.local = true;
        else
          next.finished = next.converged = true;
      }
      break;
    case Stage::local:
      if (earlier + 1 >= rules.local_max || map_settled || fit_stalled) next.finished = next.converged = true;
      break;
    case Stage::oracle:
      if (latest.index > 0 && map_settled) next.finished = next.converged = true;
      break;
  }
  if (latest.index + 1 >= rules.max) next.finished = true;
  return next;
}

namespace {

// The converging rules that held after `latest` (of stage refine, local or oracle), in words.
std::string settled_because(std::span<const Generation> history, const Generation& latest,
                            const Settings::Generations& rules) {
  std::vector<double> fits;
  std::int64_t of_stage = 0;
  for (const auto& h : history)
    if (h.stage == latest.stage) fits.push_back(h.fit), ++of_stage;
  std::vector<std::string> why;
  if (latest.stage == Stage::local && of_stage >= rules.local_max)
    why.push_back(fmt::format("{} local generation{} ran (generations.local_max = {})", of_stage,
                              of_stage == 1 ? "" : "s", rules.local_max));
  if (latest.change < rules.stop_change)
    why.push_back(fmt::format("the merged map changed by {:.2g}, below generations.stop_change = {:g}", latest.change,
                              rules.stop_change));
  if (latest.stage == Stage::refine && few_moved(latest, rules))
    why.push_back(fmt::format("{:.2g} of the images moved, below generations.stop_reassigned = {:g}{}", latest.reassigned,
                              rules.stop_reassigned,
                              latest.moved_far < 0 ? ""
                                                   : fmt::format(", {:.2g} far, below generations.stop_moved_far = {:g}",
                                                                 latest.moved_far, rules.stop_moved_far)));
  if (latest.stage != Stage::oracle && slow_generations(fits, rules.stop_fit) >= rules.fit_patience)
    why.push_back(fmt::format("the fit improved by less than generations.stop_fit = {:g} in {} generations in a row "
                              "(generations.fit_patience = {})",
                              rules.stop_fit, slow_generations(fits, rules.stop_fit), rules.fit_patience));
  std::string out;
  for (const auto& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

}  // namespace

std::string stop_reason(const Standing& standing, std::span<const Generation> history,
                        const Settings::Generations& rules) {
  if (!standing.finished || history.empty()) return {};
  if (!standing.converged)
    return fmt::format("stopped at generations.max = {} before the stopping rules were met", rules.max);
  return "converged: " + settled_because(history, history.back(), rules);
}

}  // namespace spire::reconstruct
