#pragma once
// The loop on the detector's CELLS (orientations.cells): the images reduced to fewer, larger
// "pixels" before the loop, so that every generation slices, matches and merges cells.
//
// Why it keeps the result: the loop's box (box_backend.hpp) holds the autocorrelation, so
// the intensity is fully sampled at the box's voxel, n / m grid voxels apart; the detector's
// pixels are usually much finer (README's case: 0.45 grid voxels apart against 1.8). A cell
// of the box's voxel averages the intensity over a patch of its own sampling interval, and
// orientations found on cells are those found on every pixel up to that averaging
// (measured, not derived: the README's noise-free case, 1,204 cells of 1.8 voxels against
// 16,384 pixels, 2.6 degrees after the local stage and FSC 0.5 beyond the grid edge in 2 min
// 46 s; docs/speed.md). The final map and the half maps are merged from every pixel at the
// orientations found (finish.hpp, merge_every_pixel), so the map keeps the data's sampling.
//
// Contract:
//  - on_cells: the pixels grouped into cubes of `voxels` grid voxels (2 extent / n each) in
//    reciprocal space (matching::detector_cells: cubes in the order of their integer
//    coordinates); each cell sits at its pixels' centroid. Intensities: a cell's value in an
//    image is the mean of that image's GOOD pixels in it (bad pixels, Data, left out), a cell
//    with no good pixel a bad pixel of that image; every cell is one point (not weighted by
//    its pixels: partial cells at the detector's and the mask's edges count as full ones).
//    Photon counts: a cell's value is the SUM of its pixels' counts (a count again, of a
//    cell-sized pixel), and pixel_weights holds each cell's number of pixels g, which the
//    slicers multiply into the slices (expected counts of the whole cell) and merging into
//    the weights (value b / g, weight g: matching.hpp, backend.hpp), so the Poisson scores
//    are the cells' exact likelihoods; a cell with any bad pixel in an image is a bad pixel
//    of that image (a partial sum is not a count of the cell). Everything else in Data
//    (truth, reference, the derived fields: extent, scale, profile, photons_per_image, ...)
//    is the pixels', so the loop's units and grid do not change. Images dense or sparse;
//    the cells are held dense. Deterministic; O(images x pixels).
//  - cell_voxels_for: the side the settings give for these data and the loop's box m (0: the
//    whole grid), 0 where the loop works on every pixel: orientations.cells = off; auto with
//    photon counts on the GPU (whose slicing and merging take no pixel weights); or under
//    auto, cells that would not be fewer than half the pixels. The side is
//    orientations.cell_voxels, or where that is 0 the box's voxel, n / m.
#include <cstdint>

#include "reconstruct/data.hpp"
#include "reconstruct/settings.hpp"

namespace spire::reconstruct {

Data on_cells(const Data& data, double voxels, std::int64_t n);

double cell_voxels_for(const Settings& settings, const Data& data, int box);

}  // namespace spire::reconstruct
