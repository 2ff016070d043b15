#pragma once
// Maps placed by their headers, compared as ChimeraX overlays them: no search.
//
// Contract:
//  - A map's voxel (i, j, k) is at origin + voxel_size * (i, j, k) Angstrom (io::Map, as
//    io/mrc.hpp reads and writes it); any box shape, x fastest.
//  - sample: trilinear at a point p (Angstrom); `outside` where p is beyond the box, the
//    voxel centres [0, n-1] along some axis.
//  - edge_mean: the mean of the outermost layer of voxels (an isolated molecule's
//    surroundings).
//  - resample_onto: `map`'s values at the voxels of `grid` (its nx, ny, nz, voxel size and
//    origin; its data are not read), trilinear; voxels beyond map's box take its edge_mean.
//    When map's voxels are finer than grid's (by over 1%), map is first low-passed to
//    grid's Nyquist frequency, 1 / (2 grid voxel), per axis (a Fourier box, as
//    simulate::reference_model's band), so that the coarser sampling does not alias. The
//    result has grid's geometry and no labels.
//  - overlay_correlation(a, b): the Pearson correlation, over a's voxels, of a with
//    resample_onto(b, a): how well the maps agree where their headers put them.
//  - density_centroid: the centroid (Angstrom) of map - edge_mean over the voxels above
//    10% of its peak: where the molecule is (0s for a map with no content above its edge).
//  - cubic_grid: the geometry (data zero) of n^3 voxels of `voxel` Angstrom whose centre
//    voxel n/2 is at `centre`.
//  - threads 0: every OpenMP thread.
#include <array>

#include "io/mrc.hpp"

namespace spire::resolution {

double sample(const io::Map& map, const std::array<double, 3>& p, double outside);
double edge_mean(const io::Map& map);
io::Map resample_onto(const io::Map& map, const io::Map& grid, int threads = 0);
double overlay_correlation(const io::Map& a, const io::Map& b, int threads = 0);
std::array<double, 3> density_centroid(const io::Map& map);
io::Map cubic_grid(int n, double voxel, const std::array<double, 3>& centre);

}  // namespace spire::resolution
