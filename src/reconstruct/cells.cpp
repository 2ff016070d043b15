#include "reconstruct/cells.hpp"

#include <fmt/core.h>

#include <cmath>

#include "core/error.hpp"
#include "matching/photon_scores.hpp"

namespace spire::reconstruct {
namespace {

// Everything but the images and their pixels (bad_total and the negative counts stay the
// pixels': what the data hold; the cells' own bad entries are in bad_pixels).
Data described_like(const Data& d) {
  Data c;
  c.n_images = d.n_images;
  c.truth = d.truth;
  c.detector_pixels = d.detector_pixels;
  c.negative_values = d.negative_values;
  c.reference = d.reference;
  c.first = d.first, c.total = d.total, c.extent = d.extent, c.counts = d.counts;
  c.photons_per_image = d.photons_per_image, c.photons_spread = d.photons_spread, c.scale = d.scale;
  c.bad_total = d.bad_total, c.negative_total = d.negative_total;
  c.profile = d.profile;
  return c;
}

// Image i's cell means into `out` (C values), its bad cells appended to `bad`.
void mean_over_cells(const Data& d, std::int64_t i, const std::vector<std::int32_t>& cell_of,
                     std::vector<unsigned char>& is_bad, std::vector<double>& sum, std::vector<std::int32_t>& good,
                     float* out, std::vector<std::int32_t>& bad) {
  const auto P = static_cast<std::size_t>(d.n_pixels);
  std::fill(sum.begin(), sum.end(), 0.0);
  std::fill(good.begin(), good.end(), 0);
  if (!d.bad_offsets.empty())
    for (auto j = d.bad_offsets[static_cast<std::size_t>(i)]; j < d.bad_offsets[static_cast<std::size_t>(i) + 1]; ++j)
      is_bad[static_cast<std::size_t>(d.bad_pixels[static_cast<std::size_t>(j)])] = 1;
  const float* image = d.images.data() + static_cast<std::size_t>(i) * P;
  for (std::size_t p = 0; p < P; ++p) {
    if (is_bad[p]) continue;
    sum[static_cast<std::size_t>(cell_of[p])] += image[p];
    ++good[static_cast<std::size_t>(cell_of[p])];
  }
  for (std::size_t c = 0; c < sum.size(); ++c) {
    out[c] = good[c] > 0 ? static_cast<float>(sum[c] / good[c]) : 0.0f;
    if (good[c] == 0) bad.push_back(static_cast<std::int32_t>(c));
  }
  if (!d.bad_offsets.empty())
    for (auto j = d.bad_offsets[static_cast<std::size_t>(i)]; j < d.bad_offsets[static_cast<std::size_t>(i) + 1]; ++j)
      is_bad[static_cast<std::size_t>(d.bad_pixels[static_cast<std::size_t>(j)])] = 0;
}

}  // namespace

Data on_cells(const Data& data, double voxels, std::int64_t n) {
  if (data.counts)
    fail("orientations.cells: photon counts are scored on every pixel (the cells' sums would need weights); "
         "use orientations.cells = off or auto");
  if (!data.sparse_offsets.empty() ||
      static_cast<std::int64_t>(data.images.size()) != data.n_images * data.n_pixels)
    fail("orientations.cells: the images must be held dense");
  if (!(voxels > 0) || n < 1 || !(data.extent > 0)) fail("orientations.cells: the cell side must be positive");
  const auto cells = matching::detector_cells(data.pixels, voxels * 2 * data.extent / static_cast<double>(n));
  Data c = described_like(data);
  const auto C = cells.centroids.size();
  c.n_pixels = static_cast<std::int64_t>(C);
  c.pixels = cells.centroids;
  c.images.resize(static_cast<std::size_t>(data.n_images) * C);
  std::vector<std::vector<std::int32_t>> bad(static_cast<std::size_t>(data.n_images));
#pragma omp parallel
  {
    std::vector<unsigned char> is_bad(static_cast<std::size_t>(data.n_pixels), 0);
    std::vector<double> sum(C);
    std::vector<std::int32_t> good(C);
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < data.n_images; ++i)
      mean_over_cells(data, i, cells.cell_of, is_bad, sum, good, c.images.data() + static_cast<std::size_t>(i) * C,
                      bad[static_cast<std::size_t>(i)]);
  }
  std::size_t bad_count = 0;
  for (const auto& b : bad) bad_count += b.size();
  if (bad_count > 0) {
    c.bad_offsets.push_back(0);
    for (const auto& b : bad) {
      c.bad_pixels.insert(c.bad_pixels.end(), b.begin(), b.end());
      c.bad_offsets.push_back(static_cast<std::int64_t>(c.bad_pixels.size()));
    }
  }
  return c;
}

double cell_voxels_for(const Settings& st, const Data& data, int box) {
  const auto& o = st.orientations;
  if (o.cells == AutoChoice::off || (o.cells == AutoChoice::automatic && data.counts)) return 0;
  if (data.counts)
    fail("orientations.cells = on: these images are photon counts, which the loop scores on every pixel; use "
         "orientations.cells = off or auto");
  const double n = static_cast<double>(st.grid.n), m = box > 0 ? box : n;
  const double voxels = o.cell_voxels > 0 ? o.cell_voxels : n / m;
  // Cells no bigger than a pixel gain nothing: count them on the pixels' positions.
  const auto cells = matching::detector_cells(data.pixels, voxels * 2 * data.extent / n);
  if (o.cells == AutoChoice::automatic && 2 * cells.centroids.size() > data.pixels.size()) return 0;
  return voxels;
}

}  // namespace spire::reconstruct
