#pragma once
// Slicing and matching of one generation in one process (M-TIP steps 1-2): the references'
// slices of a model, a batch at a time, each batch matched at once against every image
// (NearestSlices' running top-k), so that memory holds one batch of slices, whatever M.
//
// Contract:
//  - References are [first, first + count) of a larger set: results carry their index in
//    that set (first + local index), so that shares of the set on several ranks compose.
//  - Batches are the slicer's (options.slicing.batch_size references each, the last
//    shorter); results are NearestSlices': per image the top_k (index, score), best first,
//    ties to the lowest index. Deterministic for given threads.
//  - The images are not copied: they must outlive the object. Their pixel weights, if any
//    (ImageSet), weight the slices (slicing::Slicer::set_pixel_weights).
//  - slicing_s and matching_s: the time spent in each, summed over the batches.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/progress.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "slicing/slicing.hpp"

namespace spire::matching {

class SliceSearch {
 public:
  SliceSearch(std::span<const geometry::Quaternion> references, std::int64_t first,
              std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
              const ImageSet<float>& images, const slicing::Options& slicing, const Options& matching);

  // One generation against the slices of `autocorrelation` (n^3, as Slicer takes it);
  // reports each batch to `progress`.
  void run(std::span<const float> autocorrelation, Progress& progress);

  const std::vector<std::int64_t>& indices() const { return nearest_.indices(); }  // n_images x top_k
  const std::vector<float>& scores() const { return nearest_.scores(); }
  const std::vector<double>& reference_sums() const { return nearest_.reference_sums(); }  // NearestSlices'
  double slicing_s() const { return slicing_s_; }
  double matching_s() const { return matching_s_; }
  std::int64_t batches() const { return slicer_.n_batches(); }

 private:
  std::int64_t first_;
  slicing::Slicer<float> slicer_;
  NearestSlices<float> nearest_;
  std::vector<float> batch_;  // one batch of slices
  double slicing_s_ = 0, matching_s_ = 0;
};

}  // namespace spire::matching
