#include "reconstruct/box_backend.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "phasing/box.hpp"

namespace spire::reconstruct {

BoxBackend::BoxBackend(Factory make, const Settings& settings)
    : make_(std::move(make)),
      settings_(settings),
      n_(static_cast<int>(settings.grid.n)),
      references_(settings.orientations.references) {}

void BoxBackend::set_references(std::int64_t count) {
  if (count < 1) fail("reconstruct: a reference set needs at least 1 orientation");
  if (count == references_) return;
  inner_.reset();
  references_ = count;
}

void BoxBackend::set_box(int m) {
  if (m >= n_) m = 0;
  if (m == m_) return;
  if (m != 0 && (m < 5 || m % 2 == 0)) fail("reconstruct: the loop's box must be odd and at least 5, not " + std::to_string(m));
  inner_.reset();  // its sorted points and grids go before the next back end's are made
  m_ = m;
}

Backend& BoxBackend::inner() const {
  if (!inner_) {
    Settings s = settings_;
    if (m_ != 0) s.grid.n = m_;
    s.orientations.references = references_;
    s.orientations.batch_size = std::min(s.orientations.batch_size, references_);
    inner_ = make_(s);
  }
  inner_->report_to(progress());
  return *inner_;
}

std::vector<double> BoxBackend::to_box(std::span<const double> map) const {
  if (m_ == 0 || map.empty()) return {map.begin(), map.end()};
  return phasing::crop_centred(map, n_, m_);
}

std::vector<double> BoxBackend::to_grid(std::vector<double> map) const {
  if (m_ == 0) return map;
  return phasing::pad_centred<double>(map, m_, n_);
}

Matches BoxBackend::slice_and_match(std::span<const double> model) { return inner().slice_and_match(to_box(model)); }

void BoxBackend::refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
                        std::span<geometry::Quaternion> orientations, std::span<double> scores) {
  inner().refine(to_box(model), starts, per_image, orientations, scores);
}

merging::Solution BoxBackend::merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                    const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) {
  auto solution = inner().merge(orientations, to_box(x0), keep, scales);
  solution.x = to_grid(std::move(solution.x));
  return solution;
}

merging::Solution BoxBackend::merge_candidates(const Candidates& candidates, std::span<const double> x0,
                                               std::span<const double> scales) {
  auto solution = inner().merge_candidates(candidates, to_box(x0), scales);
  solution.x = to_grid(std::move(solution.x));
  return solution;
}

HalvesMerge BoxBackend::merge_with_halves(std::span<const geometry::Quaternion> orientations,
                                          std::span<const double> x0, const std::function<int(std::int64_t)>& half,
                                          std::span<const double> scales) {
  auto out = inner().merge_with_halves(orientations, to_box(x0), half, scales);
  out.full.x = to_grid(std::move(out.full.x));
  for (auto& h : out.halves) h.x = to_grid(std::move(h.x));
  return out;
}

Phased BoxBackend::phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) {
  return inner().phase(autocorrelation, schedule);
}

std::vector<double> BoxBackend::autocorrelation_of(std::span<const double> density) {
  return to_grid(inner().autocorrelation_of(to_box(density)));
}

}  // namespace spire::reconstruct
