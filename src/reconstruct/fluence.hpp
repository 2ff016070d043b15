#pragma once
// Shot-to-shot fluence: each image is a_i times the model's slice at its orientation, a_i
// the fluence the particle saw (its place in the focus changes it by a large factor from
// shot to shot; Dragonfly's need_scaling).
//
// Estimate (from the generation's grid match, where the best reference j of image i and its
// score s_i are known, with the reference's slice sum from matching::NearestSlices):
//   poisson:    a_i = K_i / sum_p W_j(p), the maximum-likelihood scale (K_i the image's photons)
//   euclidean:  a_i = <x_i, y_j> / |y_j|^2 = sqrt(max(0, |x_i|^2 - s_i) / |y_j|^2), the
//               least-squares scale (orientations.scale = per_slice: s_i is the scaled score)
// Without a grid match (orientations.oracle, or a back end that gives no slice sums) the
// estimate is a_i = K_i / mean K: the photon sum, blind to the orientation's share of the
// intensity on the detector. Bad pixels are in neither sum (images hold 0 there); the slice
// sum is over every pixel, so an image with bad pixels gets a scale low by their share.
// Scales are normalised to mean 1 over every rank's images, so the map stays in the data's
// units; an image with no photon gets a = 0 and, in merging, weight 0.
//
// Merging (backend.hpp's merge) then fits a_i I to b_i: values b_i / a_i with weights a_i
// for photon counts (var(b/a) = I/a) and a_i^2 otherwise (least squares on a I - b).
//
// When (merging.fluence_scaling): on, off, or auto: on when the relative spread of the
// images' sums exceeds kAutoSpread (20%). Measured on 2cex at one fluence, the sums spread by
// 2-6% (Poisson noise and the orientation's share); a Gaussian focus spreads them by 30% and
// more.
#include <span>
#include <vector>

#include "reconstruct/backend.hpp"
#include "reconstruct/data.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

inline constexpr double kAutoSpread = 0.2;

// Whether merging scales the images (the setting, and for auto the data's spread).
bool fluence_scaling(const Settings& settings, const Data& data);

class FluenceScales {
 public:
  FluenceScales(const Data& data, matching::Metric metric);

  // From a grid match (matches.reference_sums set); collective (the mean over ranks).
  std::vector<double> from_match(const Matches& matches, const Backend& backend) const;
  // From the photon sums only; collective.
  std::vector<double> from_photons(const Backend& backend) const;

 private:
  std::vector<double> normalised(std::vector<double> a, const Backend& backend) const;

  matching::Metric metric_;
  std::vector<double> sums_, squares_;  // per image: sum of values, sum of squares
};

}  // namespace spire::reconstruct
