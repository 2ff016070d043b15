#pragma once
// Alignment of a map to a reference by an integer circular translation and the hand.
//
// Contract:
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
//    of the aligned map with the reference.
//  - Rotations are not searched.
#include <array>
#include <span>
#include <vector>

namespace spire::resolution {

template <typename T>
struct Alignment {
  std::vector<T> map;
  std::array<double, 3> shift{};
  bool inverted = false;
  double correlation = 0;
};

template <typename T>
Alignment<T> align(int n, std::span<const T> map, std::span<const T> reference,
                   bool subvoxel = true, int threads = 0);

// Pearson correlation of two equal-length arrays (0 when either is constant).
template <typename T>
double correlation(std::span<const T> a, std::span<const T> b);

}  // namespace spire::resolution
