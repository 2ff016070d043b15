// spire's side of bench/assignment/run: merging a soft assignment with k candidates per image
// (Backend::merge_candidates: images summed per reference, then one NUFFT per reference used)
// against k = 1, on a dataset's first N images on the loop's detector cells and box, as a
// run merges them. Candidates are each image's true orientation's k nearest references (as a
// converged soft assignment holds them), weights decreasing with rank.
// Arguments: data.h5 images k... (defaults: 10000 images, k = 1 10 100).
// Prints lines for people, then one JSON object.
#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "../timing.hpp"
#include "reconstruct/backend.hpp"
#include "reconstruct/cells.hpp"
#include "reconstruct/reconstruct.hpp"

using namespace spire;

namespace {

// Each image's k references nearest its true orientation, best first.
std::vector<std::int64_t> nearest(const std::vector<geometry::Quaternion>& truth,
                                  const std::vector<geometry::Quaternion>& references, std::int64_t k) {
  std::vector<std::int64_t> out;
  std::vector<std::pair<double, std::int64_t>> d(references.size());
  for (const auto& q : truth) {
    for (std::size_t j = 0; j < references.size(); ++j) d[j] = {geometry::angle_between(q, references[j]), j};
    std::partial_sort(d.begin(), d.begin() + k, d.end());
    for (std::int64_t j = 0; j < k; ++j) out.push_back(d[static_cast<std::size_t>(j)].second);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_assignment data.h5 [images] [k...]\n");
    return 2;
  }
  const std::string path = argv[1];
  const std::int64_t images = argc > 2 ? std::atoll(argv[2]) : 10000;
  std::vector<std::int64_t> ks;
  for (int a = 3; a < argc; ++a) ks.push_back(std::atoll(argv[a]));
  if (ks.empty()) ks = {1, 10, 100};
  const distributed::Team team;
  auto st = reconstruct::load_settings("", {"data.images=" + std::to_string(images), "orientations.assignment=soft",
                                            "runtime.fft_planning=estimate"});
  const auto all = reconstruct::load_data(path, st.data, team);
  if (all.truth.empty()) fmt::print(stderr, "{} holds no true orientations\n", path), std::exit(2);
  const int box = reconstruct::loop_box(all, st, reconstruct::State());
  const auto data = reconstruct::on_cells(all, reconstruct::cell_voxels_for(st, all, box), st.grid.n);
  auto backend = reconstruct::make_backend(data, st, team);
  backend->set_box(box);
  const auto& references = backend->references();
  const std::int64_t kmax = *std::max_element(ks.begin(), ks.end());
  const auto near = nearest(data.truth, references, kmax);
  fmt::print("merging a soft assignment: {} images on {} cells, {} references, box {}^3 of grid {}^3\n", images,
             data.n_pixels, references.size(), box, st.grid.n);
  std::string json = "{\"images\": " + std::to_string(images) + ", \"cells\": " + std::to_string(data.n_pixels) +
                     ", \"references\": " + std::to_string(references.size()) + ", \"runs\": [";
  for (std::size_t r = 0; r < ks.size(); ++r) {
    const std::int64_t k = ks[r];
    std::vector<std::int64_t> refs;
    std::vector<float> weights;
    for (std::int64_t i = 0; i < images; ++i)
      for (std::int64_t j = 0; j < k; ++j) {
        refs.push_back(near[static_cast<std::size_t>(i * kmax + j)]);
        weights.push_back(static_cast<float>(1.0 / (1.0 + static_cast<double>(j))));
      }
    for (std::int64_t i = 0; i < images; ++i) {
      const auto row = weights.begin() + i * k;
      const double total = std::accumulate(row, row + k, 0.0);
      std::for_each(row, row + k, [total](float& w) { w = static_cast<float>(w / total); });
    }
    std::vector<char> used(references.size(), 0);
    for (const auto j : refs) used[static_cast<std::size_t>(j)] = 1;
    const auto groups = std::count(used.begin(), used.end(), 1);
    const auto t0 = bench::clock_type::now();
    const double c0 = bench::cpu_seconds();
    const auto solution = backend->merge_candidates({k, refs, weights}, {}, {});
    const double wall = bench::since(t0), cpu = bench::cpu_seconds() - c0;
    fmt::print("  k = {:3}: {} references used, merge {:.2f} s wall ({:.2f} s CPU), {} CG iterations\n", k, groups, wall,
               cpu, solution.cg.iterations);
    json += fmt::format("{}{{\"k\": {}, \"references_used\": {}, \"merge_s\": {:.3f}, \"cpu_s\": {:.3f}, "
                        "\"cg_iterations\": {}}}",
                        r ? ", " : "", k, groups, wall, cpu, solution.cg.iterations);
  }
  fmt::print("{}]}}\n", json);
}
