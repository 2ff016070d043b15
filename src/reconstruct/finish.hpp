#pragma once
// The end of a run: the final density and the half-data maps, from the loop's last State.
//
// Contract:
//  - phase_averaged: phasing is chaotic in its random start, so the final density is the
//    mean of settings.phasing.final_average runs (seeds seed, seed + 1, ...) from one
//    autocorrelation, each aligned by shift and hand (resolution::align) to the run with the
//    lowest Fourier error (docs/convergence.md has the measurements). Collective on the
//    back end; the density is on the lead (empty elsewhere), the errors on every rank,
//    lowest first.
//  - half_maps: the images split by the parity of their index among the images used, each
//    half merged at `orientations` (this rank's), regularised toward zero (not toward the
//    run's map, which both halves would then share), and phased as the final density is,
//    with seeds of its own (seed + (h + 1) final_average for half h), so that no random
//    start is shared. Their FSC counts each half's photon noise, but the halves share the
//    orientations, found with all the images: optimistic next to two independent
//    reconstructions (gold standard). Collective; the maps are on the lead.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "reconstruct/backend.hpp"
#include "reconstruct/reconstruct.hpp"

namespace spire::reconstruct {

// After a loop on the detector's cells (cells.hpp): the final autocorrelation from every
// pixel, `backend` being on them (and on the loop's box), the images merged at the state's
// orientations (and fluence scales) regularised toward the cells' autocorrelation, which it
// replaces. With `halves`, the half maps' merges too (half_maps' split), in the same pass
// over the images (Backend::merge_with_halves). Returns the seconds it took, its CG's
// iterations and the halves' autocorrelations (empty without). Collective.
struct EveryPixelMerge {
  double seconds = 0;
  int cg_iterations = 0;
  std::array<std::vector<double>, 2> halves;
};
EveryPixelMerge merge_every_pixel(Backend& backend, const Data& data, State& state, bool halves);

struct AveragedPhasing {
  std::vector<double> density;         // n^3, centred (lead)
  std::vector<double> fourier_errors;  // each run's final Fourier error, lowest first
  int box = 0;                         // voxels per axis the runs phased in (phasing/box.hpp)
};
AveragedPhasing phase_averaged(Backend& backend, const Settings& settings, std::span<const double> autocorrelation,
                               std::uint64_t seed);

struct HalfMaps {
  std::array<std::vector<double>, 2> density;  // n^3 each, centred (lead)
};
// scales: the images' fluence scales (State::scales; empty: none), as merge takes them.
// merged: the halves' autocorrelations where merge_every_pixel made them (then phased only).
HalfMaps half_maps(Backend& backend, const Data& data, const Settings& settings,
                   std::span<const geometry::Quaternion> orientations, std::uint64_t seed,
                   std::span<const double> scales = {}, const std::array<std::vector<double>, 2>& merged = {});

}  // namespace spire::reconstruct
