#pragma once
// The M-TIP loop (SPEC.md's five steps), one generation after another:
//   1. slicing   model images of the current autocorrelation at the reference orientations
//   2. matching  each data image's nearest model image (one GEMM per batch, running argmin)
//   3. merging   the autocorrelation that explains the data at those orientations (CG)
//   4. phasing   a density whose autocorrelation that is (HIO/ER/shrinkwrap); its own
//                autocorrelation feeds the next generation's slicing
//   5. (resolution is measured by the caller on the returned density)
// The first generation merges at random orientations (a spherically averaged start: no true
// orientation is used), unless settings.orientations.oracle asks, for evaluation only, to
// merge with the file's true orientations in every generation.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "geometry/orientations.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

struct Data {
  std::int64_t n_images = 0, n_pixels = 0;
  std::vector<float> images;                       // n_images x n_pixels
  std::vector<std::array<double, 3>> pixels;       // reciprocal positions (any unit)
  std::vector<geometry::Quaternion> truth;         // empty when the file has none
};

struct Generation {
  int index = 0;
  double slicing_s = 0, matching_s = 0, merging_s = 0, phasing_s = 0;
  double change = 0;              // relative change of the density since the last generation
  int cg_iterations = 0;
  double median_error_deg = -1;   // against the true orientations (evaluation only), -1: none
};

struct Result {
  std::vector<double> autocorrelation;  // merged, n^3 centred
  std::vector<double> density;          // phased, n^3 centred
  std::vector<geometry::Quaternion> orientations;
  std::vector<Generation> generations;
};

Result run(const Data& data, const Settings& settings,
           const std::function<void(const Generation&)>& progress = {});

// Median angle between found and true orientations, in degrees, after the global rotation
// between the reconstruction's frame and the model's (the one most images agree on), each
// image taken as the nearer of q and q turned by pi about the beam (the near-Friedel
// ambiguity of a flat detector).
double median_orientation_error(const std::vector<geometry::Quaternion>& found,
                                const std::vector<geometry::Quaternion>& truth);

}  // namespace spire::reconstruct
