#pragma once
// The loop's schedule as pure functions of the history and the settings: which stage a
// generation runs in, and where the run stands after it. No state, no I/O: tested rule by
// rule with made-up histories (tests/reconstruct/test_stages.cpp).
//
// Stages (docs/convergence.md tells what each is for and how it was measured):
//   start   generation 0: merge at random orientations (a spherically averaged start)
//   search  slice the PHASED autocorrelation, match, merge, phase
//   refine  slice the MERGED autocorrelation
//   local   as refine, then each image refined on its own below the reference spacing
//   oracle  evaluation only: merge at the file's true orientations every generation
// Rules, applied after generation g of stage S with fit f (lower is better), relative fit
// improvement d = (f_prev - f) / |f_prev| over the previous generation of S (NaN: none):
//   search -> refine  after search_max search generations, or when d < search_improvement
//                     (from the second search generation on); search_max = 0: no search.
//   refine -> local   (or finished and converged when local_max = 0) when the merged map's
//                     change < stop_change, or reassigned < stop_reassigned while
//                     moved_far < stop_moved_far (or not measured), or the fit has
//                     stalled: slow_generations(fits of S) >= fit_patience.
//   local  -> finished, converged  after local_max local generations, or change <
//                     stop_change, or the fit has stalled.
//   oracle -> finished, converged  when change < stop_change (from generation 1 on).
//   any    -> finished  when generations.max generations have run.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/names.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

enum class Stage { start, search, refine, oracle, local };
inline constexpr NameTable<Stage, 5> kStageNames{{{Stage::start, "start"},
                                                  {Stage::search, "search"},
                                                  {Stage::refine, "refine"},
                                                  {Stage::oracle, "oracle"},
                                                  {Stage::local, "local"}}};

// One generation's record: what the schedule reads (fit, change, reassigned) and times.
struct Generation {
  int index = 0;
  Stage stage = Stage::start;
  double slicing_s = 0, matching_s = 0, merging_s = 0, phasing_s = 0;
  double local_s = 0;             // local refinement (local stage), its slicing included
  double fit = -1;                // mean relative excess residual of the best matches (-1: none)
  double change = 0;              // relative change of the merged autocorrelation
  double reassigned = 1;          // fraction of images whose orientation changed
  // fraction that moved farther than far_move_deg(references): images still being found,
  // not jittering between neighbouring references (-1: not measured, older checkpoints)
  double moved_far = -1;
  double fourier_error = -1;      // phasing's final Fourier error (-1: not phased, reconstruct.cpp)
  int cg_iterations = 0;
  // Soft assignment (assignment.hpp): the inverse temperature and the mean effective number of
  // orientations per image (1 / sum w^2); 0 and 1 for a hard one.
  double beta = 0, candidates = 1;
  double median_error_deg = -1;   // against the true orientations (evaluation only), -1: none
  double resolution_angstrom = -1;  // FSC 0.5 against Data::reference (evaluation only), -1: none or not phased
};

// Where a run stands between generations.
struct Standing {
  bool refining = false;   // past the search
  bool local = false;      // in the local stage (after refinement converged)
  bool finished = false;
  // Finished by a stop criterion, not by generations.max: a resume with a larger
  // generations.max continues only a run that has not converged (checkpoint.hpp).
  bool converged = false;
};

// The move that counts as far (Generation::moved_far), in degrees: 4 times the smallest
// covering radius m references can have (28 degrees for 1e4), beyond a jitter between
// neighbouring references.
double far_move_deg(std::size_t references);

// A fresh run's standing: refining from the start when search_max = 0.
Standing initial_standing(const Settings::Generations& rules);

// The stage generation `index` runs in.
Stage stage_of(int index, const Standing& standing, bool oracle);

// Where the run stands after `latest`, given every generation before it (in order).
Standing next_standing(const Standing& now, std::span<const Generation> history, const Generation& latest,
                       const Settings::Generations& rules);

// Why a finished run stopped, in words that name the rule and its setting (the last
// generation's rules read again from `history`, which ends with it); "" when not finished.
std::string stop_reason(const Standing& standing, std::span<const Generation> history,
                        const Settings::Generations& rules);

// Generations in a row, the last one included, whose fit (lower is better) improved by less
// than the fraction stop_fit over the one before; fits are one stage's generations in order.
std::int64_t slow_generations(std::span<const double> fits, double stop_fit);

}  // namespace spire::reconstruct
