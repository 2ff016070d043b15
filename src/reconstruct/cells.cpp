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

// One thread's scratch for over_cells.
struct CellScratch {
  std::vector<float> row;
  std::vector<unsigned char> is_bad, cell_bad;
  std::vector<double> sum;
  std::vector<std::int32_t> good;
};

// Image i on the cells into `out` (C values), its bad cells appended to `bad`: intensities
// the mean of the cell's good pixels (bad where it has none), photon counts the sum of the
// cell's pixels (bad where any of them is).
void over_cells(const Data& d, std::int64_t i, const std::vector<std::int32_t>& cell_of, CellScratch& w, float* out,
                std::vector<std::int32_t>& bad) {
  const auto P = static_cast<std::size_t>(d.n_pixels);
  const auto bad_pixels = bad_pixels_of(d).of(i);
  std::fill(w.sum.begin(), w.sum.end(), 0.0);
  std::fill(w.good.begin(), w.good.end(), 0);
  std::fill(w.cell_bad.begin(), w.cell_bad.end(), 0);
  for (const auto p : bad_pixels) w.is_bad[static_cast<std::size_t>(p)] = 1;
  image_set(d).row(i, w.row.data());
  for (std::size_t p = 0; p < P; ++p) {
    const auto c = static_cast<std::size_t>(cell_of[p]);
    if (w.is_bad[p]) {
      w.cell_bad[c] = 1;
      continue;
    }
    w.sum[c] += w.row[p];
    ++w.good[c];
  }
  for (std::size_t c = 0; c < w.sum.size(); ++c) {
    const bool is_bad = d.counts ? w.cell_bad[c] != 0 : w.good[c] == 0;
    out[c] = is_bad ? 0.0f : static_cast<float>(d.counts ? w.sum[c] : w.sum[c] / w.good[c]);
    if (is_bad) bad.push_back(static_cast<std::int32_t>(c));
  }
  for (const auto p : bad_pixels) w.is_bad[static_cast<std::size_t>(p)] = 0;
}

}  // namespace

Data on_cells(const Data& data, double voxels, std::int64_t n) {
  if (!(voxels > 0) || n < 1 || !(data.extent > 0)) fail("orientations.cells: the cell side must be positive");
  const auto cells = matching::detector_cells(data.pixels, voxels * 2 * data.extent / static_cast<double>(n));
  Data c = described_like(data);
  const auto C = cells.centroids.size();
  c.n_pixels = static_cast<std::int64_t>(C);
  c.pixels = cells.centroids;
  if (data.counts) c.pixel_weights.assign(cells.weights.begin(), cells.weights.end());
  c.images.resize(static_cast<std::size_t>(data.n_images) * C);
  std::vector<std::vector<std::int32_t>> bad(static_cast<std::size_t>(data.n_images));
#pragma omp parallel
  {
    CellScratch w{std::vector<float>(static_cast<std::size_t>(data.n_pixels)),
                  std::vector<unsigned char>(static_cast<std::size_t>(data.n_pixels), 0),
                  std::vector<unsigned char>(C), std::vector<double>(C), std::vector<std::int32_t>(C)};
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < data.n_images; ++i)
      over_cells(data, i, cells.cell_of, w, c.images.data() + static_cast<std::size_t>(i) * C,
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
  // The GPU back end slices and merges without pixel weights (backend.cpp refuses them).
  const bool unweighted = data.counts && st.runtime.device == Device::cuda;
  if (o.cells == AutoChoice::off || (o.cells == AutoChoice::automatic && unweighted)) return 0;
  const double n = static_cast<double>(st.grid.n), m = box > 0 ? box : n;
  const double voxels = o.cell_voxels > 0 ? o.cell_voxels : n / m;
  // Cells no bigger than a pixel gain nothing: count them on the pixels' positions.
  const auto cells = matching::detector_cells(data.pixels, voxels * 2 * data.extent / n);
  if (o.cells == AutoChoice::automatic && 2 * cells.centroids.size() > data.pixels.size()) return 0;
  return voxels;
}

}  // namespace spire::reconstruct
