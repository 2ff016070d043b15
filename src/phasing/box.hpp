#pragma once
// Phasing in a box smaller than the grid (phasing.box): the autocorrelation A of a compact
// density vanishes beyond the molecule's diameter D from its centre, so on any box of m >= 2D
// + 1 voxels per axis (the SAME real-space voxel, a box centred on the grid's) it is all there,
// and its FFT on that box is the intensity at m^3 frequencies over the same |s| range: the
// intensity sampled more coarsely, still at or above its Nyquist rate (A's support fits the
// box). Phasing there is the same problem at (m/n)^3 of the cost; the density found is
// placed back in the centre of the n^3 grid, zero outside (it is compact within D).
// On the n = 81 grid of the README's 2cex runs A's support ends about 13 voxels from its
// centre (its shell rms falls below 1% of the centre value at 11-12, and to the merged
// map's noise floor, 0.08%, by 14): a box of 45 or 49 instead of 81, 4.4-5.7x fewer voxels.
//
// Layout: n^3 and m^3 arrays centred as phasing.hpp's (index c = n/2 is the origin), n and m
// odd, m <= n; the centred box of m^3 is the grid's voxels c - m/2 .. c + m/2 per axis.
#include <span>
#include <vector>

namespace spire::phasing {

// The radius (voxels) of the first shell, from the centre out, whose rms of A falls below
// `fraction` of |A| at the centre; n/2 + 1 where none does (or the centre is 0).
template <typename T>
int support_radius(std::span<const T> autocorrelation, int n, double fraction = 0.01);

// The same radius from the intensity alone, before any merging: profile[b] is the images'
// mean intensity over |u| in [b du, (b + 1) du), u the frequency in cycles per grid voxel (the
// grid's Nyquist |u| = 1/2: a pixel at |s| = s_ext has u = 1/2), every bin filled. A's
// spherical average is then A(r) = 4 pi du sum_b profile[b] u_b^2 sinc(2 pi u_b r) (u_b the
// bin's centre, the data's range only: no extrapolation past the last bin; the inverse of the
// slices' I(u) = sum_l A(l) exp(2 pi i u.l) for an intensity that is the profile in every
// direction), and the radius is the first r >= 1 with |A(r)| below `fraction` of A(0); n/2 + 1
// where none is. Merging the images at random orientations (a spherically averaged A) and
// support_radius give the same radius (10 voxels on the README's 2cex runs both ways).
template <typename T>
int support_radius_of_profile(std::span<const T> profile, double du, int n, double fraction = 0.01);

// That A(|l|) at every voxel of the centred m^3 box of an n^3 grid (odd m <= n), 0 outside:
// what merging images at random orientations gives in expectation (the loop's start).
template <typename T>
std::vector<T> profile_autocorrelation(std::span<const T> profile, double du, int n, int m);

// The box for an autocorrelation of support radius R: the smallest odd size whose prime
// factors are 3, 5 and 7 (sizes FFTW transforms fastest) at least 4 R + 1 (twice the radius
// the threshold gives, for the tail it leaves out: a density of few atoms, exactly 0 beyond
// 5 voxels, has R = 6 for a support of 10, tests/phasing/test_box), at most n.
int phasing_box(int radius, int n);

// The centred m^3 box of an n^3 grid, and an m^3 box placed in the centre of an n^3 grid of
// zeros (crop_centred(pad_centred(v, m, n), n, m) == v).
template <typename T>
std::vector<T> crop_centred(std::span<const T> values, int n, int m);
template <typename T>
std::vector<T> pad_centred(std::span<const T> values, int m, int n);

}  // namespace spire::phasing
