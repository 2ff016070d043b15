#pragma once
// The M-TIP loop (SPEC.md's five steps), one generation after another:
//   1. slicing   model images of the current model at the reference orientations
//   2. matching  each data image's best model image (with local refinement in the local stage)
//   3. merging   the autocorrelation that explains the data at those orientations (CG)
//   4. phasing   a density whose autocorrelation that is (HIO/ER/shrinkwrap)
//   5. resolution: measured by the caller (finish.hpp) on the final density
// The back end (backend.hpp) does each step; the stages and stopping rules are stages.hpp's;
// docs/convergence.md tells why the schedule is what it is and what it was measured on.
// The loop takes the images it is given: spire reconstruct gives it the detector's cells
// for intensities (cells.hpp) and then merges the final map from every pixel (finish.hpp).
//
// Contract:
//  - Generation 0 merges at random orientations (a random start of its own stream, derived
//    from runtime.seed; never the truth) or, with orientations.oracle (evaluation only), at
//    the file's true orientations in every generation.
//  - Slicing takes the autocorrelation of the PHASED density in the search stage and the
//    MERGED autocorrelation after it. Each generation phases from a cold random start with
//    seed runtime.seed + generation.
//  - Every generation is deterministic given the State, the data and the settings that
//    change the result: a run resumed from the State after generation g gives the same
//    result as one never interrupted (bit for bit on one process).
//  - On a Team of R ranks (collective: every rank calls run), Data and State::orientations
//    are this rank's images'; everything else in the State is the same on every rank. The
//    one-rank result is matched to float round-off in the sums (tests/distributed);
//    phasing is chaotic in its input, so later generations of 1- and R-rank runs drift
//    apart the way two one-process runs with different thread counts do. Several ranks run
//    on the CPU only and start fresh (a checkpoint is one process's State).
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "distributed/team.hpp"
#include "geometry/orientations.hpp"
#include "reconstruct/backend.hpp"
#include "reconstruct/data.hpp"
#include "reconstruct/settings.hpp"
#include "reconstruct/stages.hpp"

namespace spire::reconstruct {

// Everything the next generation needs: a checkpoint. Maps are n^3, centred.
struct State {
  int next_generation = 0;
  int box = 0;  // the loop's box (grid.box, box_backend.hpp) once chosen; 0: the whole grid
  Standing standing;
  std::vector<geometry::Quaternion> orientations;  // this rank's images' (see above)
  // Their scores at those orientations (matching.hpp: a cost, lower is better) from the last
  // generation that matched; empty before any matched (random start, oracle) and in a State
  // resumed from a version 3 checkpoint until its next match.
  std::vector<double> scores;
  // Their fluence scales (fluence.hpp), this rank's images', from the last generation; empty
  // when merging.fluence_scaling is off for these data.
  std::vector<double> scales;
  std::vector<double> autocorrelation;             // merged
  std::vector<double> density;                     // phased
  std::vector<double> slicing_input;               // what the next slicing takes
  std::vector<Generation> generations;             // history
};

using ProgressFn = std::function<void(const Generation&, const State&)>;

// The loop's box (box_backend.hpp) for a run from `state` (a fresh one or a resumed one): its
// own once chosen, or grid.box, or for a fresh run the one that holds the autocorrelation's
// support, found from the images' spherically averaged intensity
// (phasing::support_radius_of_profile: merging them at random orientations on the whole
// grid, 25 s on the README's case, found the same); 0: the whole grid.
int loop_box(const Data& data, const Settings& settings, const State& state);

// Runs until finished, from `resume` if given (a State an earlier run with the same data and
// settings handed to `progress`). `progress` sees every generation and the State after it.
State run(Backend& backend, const Data& data, const Settings& settings, const ProgressFn& progress = {},
          const State* resume = nullptr);

// The same on the back end runtime.device names (make_backend), on `team`.
State run(const Data& data, const Settings& settings, const ProgressFn& progress = {}, const State* resume = nullptr,
          const distributed::Team& team = distributed::Team());

// Median angle between found and true orientations, in degrees, after the global rotation
// between the reconstruction's frame and the model's (the one most images agree on), each
// image taken as the nearer of q and q turned by pi about the beam (the near-Friedel
// ambiguity of a flat detector). -1 when the sizes differ or there are none.
double median_orientation_error(const std::vector<geometry::Quaternion>& found,
                                const std::vector<geometry::Quaternion>& truth);

}  // namespace spire::reconstruct
