#pragma once
// The loop on a box (grid.box): the autocorrelation is 0 beyond the molecule's diameter D
// from its centre, so the centred box of m >= 2D + 1 voxels per axis (the grid's voxel, so
// the data's resolution) holds all of it (phasing/box.hpp has why its FFT there is the
// intensity, sampled more coarsely). Merging on the box solves for the autocorrelation where
// it can be nonzero only, a support constraint that merging on the whole grid does not have:
// on the README's Poisson case (2cex, n = 81, box 45) the median orientation error fell from
// 3.1 to 1.7 degrees and the density's correlation with the model rose from 0.931 to 0.950,
// while merging took 2x less time and phasing 6x less (docs/speed.md).
//
// BoxBackend wraps the back end the settings name, made at its first use (every rank's first
// call is the same, so a collective construction stays collective): until set_box it is that
// back end on the n^3 grid; after set_box(m) it is one made at grid.n = m (the one before is
// freed first; a box set before any use makes only that one); set_references remakes it for
// another reference set (the search's coarser one) the same way,
// and every map crosses the interface as n^3 (the loop, its checkpoints and outputs do not
// change): models and starts are cropped to the box, merged autocorrelations and
// autocorrelations of densities padded with zeros. phase passes any box through (the loop
// crops to phasing.box first). The loop (reconstruct.cpp) sets the box before generation 0,
// from the images' spherically averaged intensity (Data::profile; grid.box = 0) or as given,
// and again on resume (State::box).
#include <functional>
#include <memory>

#include "reconstruct/backend.hpp"

namespace spire::reconstruct {

class BoxBackend final : public Backend {
 public:
  using Factory = std::function<std::unique_ptr<Backend>(const Settings&)>;
  BoxBackend(Factory make, const Settings& settings);

  // The loop's box from now on (odd, 5 <= m < n; m >= n: the whole grid); collective.
  void set_box(int m) override;
  int box() const override { return m_; }
  // The inner back end is remade (at its next use) for `count` reference orientations.
  void set_references(std::int64_t count) override;

  const std::vector<geometry::Quaternion>& references() const override { return inner().references(); }
  Matches slice_and_match(std::span<const double> model) override;
  void refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
              std::span<geometry::Quaternion> orientations, std::span<double> scores) override;
  merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                          const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) override;
  merging::Solution merge_candidates(const Candidates& candidates, std::span<const double> x0,
                                     std::span<const double> scales) override;
  HalvesMerge merge_with_halves(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                const std::function<int(std::int64_t)>& half, std::span<const double> scales) override;
  Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) override;
  std::vector<double> autocorrelation_of(std::span<const double> density) override;
  void sum(std::span<double> values) const override { inner().sum(values); }
  std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> mine) const override {
    return inner().gather(mine);
  }
  std::vector<double> gather(std::span<const double> mine) const override { return inner().gather(mine); }
  bool lead() const override { return inner().lead(); }

 private:
  Backend& inner() const;  // made now if not yet; told where to report progress first
  std::vector<double> to_box(std::span<const double> map) const;
  std::vector<double> to_grid(std::vector<double> map) const;

  Factory make_;
  Settings settings_;
  int n_, m_ = 0;  // m_ = 0: the whole grid
  std::int64_t references_;  // the inner back end's reference count
  mutable std::unique_ptr<Backend> inner_;  // null until first used
};

}  // namespace spire::reconstruct
