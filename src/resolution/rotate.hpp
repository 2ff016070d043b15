#pragma once
// Resampling maps: rotation about the centre voxel with a shift, and Fourier downsampling.
//
// Contract:
//  - Maps are real n^3 grids, x fastest, centre c = (n/2, n/2, n/2) in voxels (as align's).
//  - rotate_map: out(r) = map(c + R^T (r - c - shift)), R = rotation_matrix(q): the map
//    turned by R about c, then moved by `shift` (voxels). Samples whose position falls
//    outside the box [0, n-1]^3 take the map's background, the mean of its outermost layer
//    of voxels (an isolated molecule's surroundings, so corners turned in carry no edge).
//  - cubic: a cubic B-spline through the voxel values (prefiltered with mirror ends), so a
//    rotation that carries voxels onto voxels (a quarter turn about an axis, odd n) returns
//    them exactly and a smooth map loses little at high frequency. linear: trilinear.
//  - downsample: the central m^3 Fourier coefficients of the map, taken about the centre
//    (frequencies |k| <= (m-1)/2 per axis), back on an m^3 grid whose centre m/2 is the
//    same point as n/2; voxels n/m times larger. m >= n returns the map unchanged.
//    taper: the coefficients are also weighted by a raised cosine in |k| falling from 1 at
//    half the highest kept frequency to 0 at it (on the map's own grid when m >= n), so that
//    interpolating the result loses little: trilinear interpolation halfway between voxels
//    removes the top of the band, which would penalise every turn against no turn at all.
//  - threads 0: every OpenMP thread.
#include <array>
#include <span>
#include <vector>

#include "geometry/orientations.hpp"

namespace spire::resolution {

enum class Interpolation { linear, cubic };

template <typename T>
std::vector<T> rotate_map(int n, std::span<const T> map, const geometry::Quaternion& q,
                          std::array<double, 3> shift = {},
                          Interpolation interpolation = Interpolation::cubic, int threads = 0);

template <typename T>
std::vector<T> downsample(int n, std::span<const T> map, int m, int threads = 0,
                          bool taper = false);

// Mean of the outermost layer of voxels.
template <typename T>
double background(int n, std::span<const T> map);

}  // namespace spire::resolution
