#pragma once
// Poisson scores of candidate orientations that cost an image's photons, not its pixels: the
// local stage's scores (refine.hpp) for photon counts.
//
// The poisson cost of image k against slice W (matching.hpp) is
//   S - L,  S = sum_p W_p over the image's good pixels,  L = sum_{p: k_p > 0} k_p log W_p
// (scale per_slice: K (1 - log K) + K log S - L, K = sum k), W at least poisson_floor. L needs
// W only at the image's photon pixels (8% of them at 3,200 photons on 128 x 128). S is a
// smooth function of the orientation; it is computed from the detector's CELLS: the pixels
// grouped into cubes of `cell_voxels` grid voxels (2 s_ext / n each) in reciprocal space,
// each cell evaluated once at its pixels' centroid and weighted by their number (a midpoint
// rule, second order in the cell size), less W at the image's own bad pixels, exactly. So a
// candidate costs (photon pixels + bad pixels + cells) slice values instead of P.
//
// Error: the cells' S differs from the pixels' sum by a smooth function of the orientation,
// which grows with the cell and with the molecule's size against the box (W's finest
// speckles); what it can move is a candidate's score relative to its neighbours' a few
// degrees away. So the cell is measured, not assumed (choose_cells below; measured 0.3% of
// the score changes at 3 voxels for a 2cex-sized molecule on n = 81, 4.7% for one twice
// as wide: tests/matching/test_photon_scores). docs/matching.md: what it does to a run. Scores are otherwise computed as score_one
// does (double sums, the same float floor), deterministically (candidate by candidate,
// positions in a fixed order).
//
// Memory: sparse images are read where they are (no copy); dense ones are compressed once
// (8 bytes per photon pixel). Per execution: 12-24 bytes per position.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/progress.hpp"
#include "geometry/orientations.hpp"
#include "matching/matching.hpp"
#include "slicing/slicing.hpp"

namespace spire::matching {

// The detector's pixels grouped into cubes of side `cell` (reciprocal units): each cube's
// pixels' centroid and their number, in the order of the cubes' integer coordinates, and
// each pixel's cube (an index into those).
struct DetectorCells {
  std::vector<std::array<double, 3>> centroids;
  std::vector<double> weights;
  std::vector<std::int32_t> cell_of;  // per pixel
};
DetectorCells detector_cells(std::span<const std::array<double, 3>> pixels, double cell);

// The cell size, measured on the model and images at hand: for up to `sample` images (evenly
// spread) at `centres` (one per image) and their 6 axis neighbours c exp(+-h e_a), the change
// of each neighbour's score against its centre's, exactly (every pixel) and with the cells'
// sum, for cells of 1, 1.5, 2, 3, 4 and 6 voxels (2 s_ext / n each). The choice is the
// largest of the sizes from 1 up that all keep the rms error of the changes within
// `bound` x their rms; voxels = 0 where 1 voxel does not (then score every pixel).
struct CellChoice {
  double voxels = 0;
  double error = 0;  // rms error / rms change at that size (at 1 voxel where none passed)
  std::int64_t cells = 0;
};
template <typename T>
CellChoice choose_cells(slicing::Slicer<T>& slicer, const ImageSet<T>& images,
                        std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                        const Options& matching, std::span<const geometry::Quaternion> centres, double h,
                        double bound, std::int64_t sample = 64);

template <typename T>
class PhotonScores {
 public:
  // images: photon counts (non-negative); pixels: their reciprocal positions (|s| <= s_ext);
  // n the grid the slices come from; cell_voxels > 0.
  PhotonScores(const ImageSet<T>& images, std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
               const Options& matching, double cell_voxels);

  // Scores of `candidates` (image-major: per_image of them per image, in image order) into
  // scores, through the slicer's plan (its autocorrelation set), about `points_per_execution`
  // positions per NUFFT execution; progress told per candidate.
  void score(slicing::Slicer<T>& slicer, std::span<const geometry::Quaternion> candidates, std::int64_t per_image,
             std::int64_t points_per_execution, int threads, double* scores, Progress& progress) const;

  // The same S by the cells (what score uses) for every candidate: for tests and measurements.
  void cell_sums(slicing::Slicer<T>& slicer, std::span<const geometry::Quaternion> orientations, double* sums) const;

  std::int64_t n_cells() const { return static_cast<std::int64_t>(cell_weight_.size()); }
  // Mean positions per candidate (photon pixels, bad pixels, cells).
  double mean_positions() const;

 private:
  std::int64_t photons_of(std::int64_t i) const { return offsets_[i + 1] - offsets_[i]; }
  void append(std::int64_t image, std::vector<std::int32_t>& indices) const;
  double score_one_candidate(std::int64_t image, const T* values) const;

  const Options& matching_;
  std::int64_t n_images_, n_pixels_;
  std::vector<std::array<double, 3>> table_;  // the pixels, then the cells' centroids
  std::vector<double> cell_weight_;           // pixels per cell
  // Photon pixels per image in compressed rows (views of sparse images; owned for dense).
  std::span<const std::int64_t> offsets_;
  std::span<const std::int32_t> photon_pixels_;
  std::span<const T> counts_;
  std::vector<std::int64_t> own_offsets_;
  std::vector<std::int32_t> own_pixels_;
  std::vector<T> own_counts_;
  std::vector<double> total_counts_;  // K per image
};

extern template class PhotonScores<float>;
extern template class PhotonScores<double>;

}  // namespace spire::matching
