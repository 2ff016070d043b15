#pragma once
// Alignment of a map to a reference: by translation and hand (align), or by rotation,
// hand and translation (align_rotation).
//
// Contract of align:
//  - Maps are real n^3 grids, x fastest, origin at the centre voxel n/2 (as phasing's).
//  - Both hands are tried: the map and its inversion through the centre, map(-r). For each,
//    the cross-correlation of the mean-subtracted maps over every circular shift comes from
//    one FFT product; the hand and shift with the highest peak win.
//  - subvoxel: the shift is refined per axis by a parabola through the peak and its two
//    neighbours and applied as a Fourier phase ramp (band-limited interpolation; real for
//    odd n, the real part kept for even n). Otherwise the shift is an exact integer
//    circular shift.
//  - Returns the aligned map, aligned(r) = h(r - shift) (circular) with h the map or its
//    inversion, the shift (x, y, z), whether it was inverted, and the Pearson correlation
//    of the aligned map with the reference. The rotation is the identity.
//
// Contract of align_rotation (a reconstruction from random orientations sits in an
// arbitrary rotated frame, so its FSC against a model means nothing without this):
//  - aligned(r) = h(c + R^T (r - c - shift)), c the centre voxel n/2, R = R(rotation), h
//    the map or its inversion through c: h turned by R about c, then moved; resampled by
//    rotate_map (cubic B-spline; beyond the box, the map's background). The map should be
//    an isolated object on a background (a molecule): the search recentres and crops it.
//  - Search, coarse to fine:
//    (0) Each map less its background is moved (integer, circular) so that its content's
//        centroid is at the centre, and cut to a box of 2.6x the radius that holds 99% of
//        its voxels above 10% of the peak (plus margin; the whole box for noise-filled maps):
//        a small molecule in a large box keeps its detail on the coarse grid.
//    (1) That box is Fourier-downsampled to coarse_n^3 with a taper (rotate.hpp) and masked
//        by a soft sphere (a turned map then stays in the box and keeps its norm). For each
//        of `orientations` quasi-uniform rotations (geometry::reference_orientations) and
//        the identity, the map is turned (trilinear, sampled a quarter voxel off) and one
//        forward and one inverse FFT give the cross-correlation of both hands over every
//        circular shift (the inverted hand's is the convolution, the imaginary part of the
//        same inverse transform). Score: the peak over the norms of the reference and of
//        the unturned map.
//    (2) The best `candidates` (at least twice the set's covering radius apart) are refined
//        by a pattern search (turns of +-step about x, y, z; the step halves when none
//        helps) down to 1 degree; the best one, or two when close, then on a refine_n^3
//        grid (cubic B-spline) down to tolerance_deg. The peak is followed off the grid by
//        Newton steps on the band-limited correlation.
//    (3) At full size, the shift that best fits the map turned by the result.
//  - Plans are made once per grid and shared by the threads (each its own buffers).
//  - The rotation is as well determined as the maps' content: a map only a few voxels
//    across, or one with a symmetry, has many near-equal answers (all about as good for the
//    FSC) and any one of them may come back.
//  - try_inversion false: only the map's own hand.
// Why the quarter-voxel offset, the unturned norm and the Newton shifts: docs/resolution.md.
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "core/fft.hpp"
#include "geometry/orientations.hpp"

namespace spire::resolution {

template <typename T>
struct Alignment {
  std::vector<T> map;
  std::array<double, 3> shift{};
  bool inverted = false;
  double correlation = 0;
  geometry::Quaternion rotation{};  // identity from align
};

template <typename T>
Alignment<T> align(int n, std::span<const T> map, std::span<const T> reference,
                   bool subvoxel = true, int threads = 0);

struct RotationSearch {
  std::size_t orientations = 3000;  // coarse set (covering radius about 15 degrees)
  int coarse_n = 25;                // coarse grid (the working box's size when smaller)
  int candidates = 4;               // coarse maxima refined
  int refine_n = 49;                // grid of the final rotation refinement (same)
  double tolerance_deg = 0.05;      // last step of the refinement
  bool try_inversion = true;
  Planning planning = Planning::estimate;  // of the search's repeated FFTs
};

template <typename T>
Alignment<T> align_rotation(int n, std::span<const T> map, std::span<const T> reference,
                            const RotationSearch& search = {}, int threads = 0);

// Pearson correlation of two equal-length arrays (0 when either is constant).
template <typename T>
double correlation(std::span<const T> a, std::span<const T> b);

}  // namespace spire::resolution
