// The CPU back end, on one process or on the ranks of a Team (backend.hpp).
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include "core/error.hpp"
#include "matching/search.hpp"
#include "reconstruct/backend.hpp"
#include "slicing/slicing.hpp"

namespace spire::reconstruct {
namespace {

// The merging points of a group of images at one orientation: pixel positions (x, y, z),
// values and weights (`out`, from its start). Image i's pixel has the value b / a_i and the
// weight D = a_i for counts or a_i^2 (fluence.hpp; 1 and 1 without scales), 0 where bad;
// a pixel standing for g detector pixels (Data::pixel_weights: a cell's count, the sum of
// g pixels' counts) has the value b / (a_i g) and the weight D g.
// A member of a soft assignment's group has its D times its weight w there.
// One image: its pixels less its bad ones, as they are. Several (they share every point):
// one point per pixel with the weight sum(D) and the value sum(D b / a) / sum(D), whose
// strength D (1 + i b) summed is what merging.hpp adds up, so the group merges as its
// images would, at the cost of one. Returns the points written. `work`: one thread's
// scratch, reused group after group.
struct PointScratch {
  std::vector<float> x, y, z, row;
  std::vector<double> weight, value;
};
struct Group {  // images at one orientation, each with its weight (1: hard assignment)
  geometry::Quaternion q;
  std::vector<std::int64_t> members;
  std::vector<double> weights;
};
namespace points {
double scale(std::span<const double> scales, std::int64_t i) {
  return scales.empty() ? 1.0 : scales[static_cast<std::size_t>(i)];
}
double pixels_in(const Data& data, std::int64_t p) {  // g: the detector pixels a value stands for
  return data.pixel_weights.empty() ? 1.0 : double(data.pixel_weights[static_cast<std::size_t>(p)]);
}
// D of member m (its weight times a_i or a_i^2 with scales).
double strength(const Data& data, const Group& group, std::size_t m, std::span<const double> scales) {
  const double a = scale(scales, group.members[m]);
  return group.weights[m] * (scales.empty() ? 1.0 : data.counts ? a : a * a);
}

// One image: its good pixels as they are.
std::int64_t one_image(const Data& data, const Group& group, std::span<const double> scales, bool with_weights,
                       PointScratch& work, std::array<float*, 5> out) {
  const std::int64_t i = group.members[0], P = data.n_pixels;
  const double a = scale(scales, i), weight = strength(data, group, 0, scales);
  image_set(data).row(i, work.row.data());
  const auto bad = bad_pixels_of(data).of(i);
  std::size_t next = 0, k = 0;
  for (std::int64_t p = 0; p < P; ++p) {
    const auto u = static_cast<std::size_t>(p);
    if (next < bad.size() && bad[next] == p) {
      ++next;
      continue;
    }
    out[0][k] = work.x[u], out[1][k] = work.y[u], out[2][k] = work.z[u];
    out[3][k] = static_cast<float>(work.row[u] / (a * pixels_in(data, p)));
    if (with_weights) out[4][k] = static_cast<float>(weight * pixels_in(data, p));
    ++k;
  }
  return static_cast<std::int64_t>(k);
}

// Several: sum(D b / a) and sum(D) g per pixel into work.value and work.weight.
void summed(const Data& data, const Group& group, std::span<const double> scales, PointScratch& work) {
  const std::int64_t P = data.n_pixels;
  work.weight.assign(static_cast<std::size_t>(P), 0.0), work.value.assign(static_cast<std::size_t>(P), 0.0);
  double total_d = 0;  // sum of D over the members without bad pixels (their weight at every pixel)
  for (std::size_t m = 0; m < group.members.size(); ++m) {
    const std::int64_t i = group.members[m];
    const double d = strength(data, group, m, scales), da = d / scale(scales, i);
    image_set(data).row(i, work.row.data());
    const auto bad = bad_pixels_of(data).of(i);
    if (bad.empty()) {  // the common case, without a branch per pixel
      for (std::int64_t p = 0; p < P; ++p)
        work.value[static_cast<std::size_t>(p)] += da * static_cast<double>(work.row[static_cast<std::size_t>(p)]);
      total_d += d;
      continue;
    }
    std::size_t next = 0;
    for (std::int64_t p = 0; p < P; ++p) {
      if (next < bad.size() && bad[next] == p) {
        ++next;
        continue;
      }
      work.weight[static_cast<std::size_t>(p)] += d;
      work.value[static_cast<std::size_t>(p)] += da * static_cast<double>(work.row[static_cast<std::size_t>(p)]);
    }
  }
  for (std::int64_t p = 0; p < P; ++p)
    work.weight[static_cast<std::size_t>(p)] = (work.weight[static_cast<std::size_t>(p)] + total_d) * pixels_in(data, p);
}
}  // namespace points

std::int64_t group_points(const Data& data, const Group& group, std::span<const double> scales, bool with_weights,
                          PointScratch& work, std::array<float*, 5> out) {
  const std::int64_t P = data.n_pixels;
  work.x.clear(), work.y.clear(), work.z.clear();
  work.row.resize(static_cast<std::size_t>(P));
  slicing::rotated_points<float>(group.q, data.pixels, data.extent, work.x, work.y, work.z);
  if (group.members.size() == 1) return points::one_image(data, group, scales, with_weights, work, out);
  points::summed(data, group, scales, work);
  for (std::int64_t p = 0; p < P; ++p) {  // a pixel bad in every image: weight 0, no effect
    const auto u = static_cast<std::size_t>(p);
    const double w = work.weight[u];
    out[0][p] = work.x[u], out[1][p] = work.y[u], out[2][p] = work.z[u];
    out[3][p] = w > 0 ? static_cast<float>(work.value[u] / w) : 0.0f;
    out[4][p] = static_cast<float>(w);
  }
  return P;
}

// One phasing run in the phaser's precision T, from and to double maps.
class CpuBackend final : public Backend {
 public:
  CpuBackend(const Data& data, const Settings& settings, const distributed::Team& team)
      : data_(data),
        team_(team),
        n_(settings.grid.n),
        references_(geometry::reference_orientations(static_cast<std::size_t>(settings.orientations.references))),
        options_(stage_options(settings, data, references_.size())),
        merger_(options_.merging),
        phasers_(settings.phasing.precision, options_.threads, options_.planning) {
    // Slicing and matching: on one rank a batch is sliced and matched at once; on several,
    // each rank slices its share into MPI windows and matches its images against all. One
    // process sorts its reference points at the first slicing (a back end that only merges
    // and phases, as for a finished run's resume, never sorts them); several ranks plan at
    // once, so that the plan's errors come before any work.
    slices_ = !settings.orientations.oracle;
    if (slices_ && team_.size() > 1) make_search(settings);
  }

  const std::vector<geometry::Quaternion>& references() const override { return references_; }

  Matches slice_and_match(std::span<const double> model) override {
    model_.assign(model.begin(), model.end());
    if (slices_ && team_.size() == 1 && !local_)
      local_.emplace(references_, 0, data_.pixels, data_.extent, n_, image_set(data_), options_.slicing,
                     options_.matching);
    if (local_) {
      local_->run(model_, progress());
      return with_candidates({local_->indices(), local_->scores(), local_->reference_sums(), local_->slicing_s(),
                              local_->matching_s()});
    }
    if (!ranks_) fail("reconstruct: no reference slices in an oracle run");
    ranks_->run(model_);
    combine_reference_sums(ranks_->reference_sums());
    return with_candidates({ranks_->indices(), ranks_->scores(), reference_sums_, ranks_->stats().slicing_s,
                            ranks_->stats().matching_s});
  }

  void refine(std::span<const double> model, std::span<const geometry::Quaternion> starts, int per_image,
              std::span<geometry::Quaternion> orientations, std::span<double> scores) override {
    model_.assign(model.begin(), model.end());
    auto refine = options_.refine;
    refine.progress = &progress();
    const auto stats = matching::refine_orientations<float>(model_, n_, data_.pixels, data_.extent, image_set(data_),
                                                            starts, per_image, options_.matching, refine, orientations,
                                                            scores);
    if (const auto line = photon_scores_note(stats, static_cast<std::int64_t>(data_.pixels.size()));
        team_.lead() && !line.empty())
      progress().note(line);
  }

  merging::Solution merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                          const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) override;
  merging::Solution merge_candidates(const Candidates& candidates, std::span<const double> x0,
                                     std::span<const double> scales) override;
  HalvesMerge merge_with_halves(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                const std::function<int(std::int64_t)>& half, std::span<const double> scales) override;

  Phased phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) override {
    Phased phased;
    if (team_.lead()) phased = phasers_.phase(autocorrelation, schedule);  // one rank phases, every rank gets its density
    phased.fourier_error = team_.broadcast_value(phased.fourier_error);
    phased.density.resize(autocorrelation.size());
    team_.broadcast(phased.density);
    return phased;
  }

  std::vector<double> autocorrelation_of(std::span<const double> density) override {
    std::vector<double> out;
    if (team_.lead()) out = phasers_.autocorrelation_of(density);
    out.resize(n3());
    team_.broadcast(out);
    return out;
  }

  void sum(std::span<double> values) const override { team_.sum(values); }
  std::vector<geometry::Quaternion> gather(std::span<const geometry::Quaternion> mine) const override {
    return team_.gather(mine);
  }
  std::vector<double> gather(std::span<const double> mine) const override { return team_.gather(mine); }
  bool lead() const override { return team_.lead(); }

 private:
  // Several ranks share the slices through MPI windows (distributed/search.hpp), whose
  // plan's errors name quantities: here they become the settings that set them.
  void make_search(const Settings& settings) {
    try {
      ranks_.emplace(team_, references_, data_.pixels, data_.extent, n_, image_set(data_),
                     options_.search);
    } catch (const Error& e) {
      fail(fmt::format("settings distribution.strategy = {}, split_size = {}, n_streams = {} on {} ranks: {}",
                       name_of(distributed::kStrategyNames, settings.distribution.strategy),
                       settings.distribution.split_size, settings.distribution.n_streams, team_.size(), e.what()));
    }
  }

  std::size_t n3() const { return static_cast<std::size_t>(n_ * n_ * n_); }

  // Matches whose reference and score spans hold top_k per image: those become the
  // candidates, and the best of each image (the first) its reference and score.
  Matches with_candidates(Matches m) {
    const std::int64_t k = options_.matching.top_k;
    if (k == 1) return m;
    m.top_k = k, m.candidates = m.reference, m.candidate_scores = m.score;
    const auto N = static_cast<std::size_t>(data_.n_images);
    best_.resize(N), best_score_.resize(N);
    for (std::size_t i = 0; i < N; ++i)
      best_[i] = m.candidates[i * static_cast<std::size_t>(k)], best_score_[i] = m.candidate_scores[i * static_cast<std::size_t>(k)];
    m.reference = best_, m.score = best_score_;
    return m;
  }
  std::vector<Group> groups_at(std::span<const geometry::Quaternion> orientations,
                               const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) const;
  merging::Solution merge_groups(const std::vector<Group>& groups, std::span<const double> x0,
                                 std::span<const double> scales) {
    accumulate_groups(groups, scales);
    return solve_shared(x0);
  }
  void accumulate_groups(const std::vector<Group>& groups, std::span<const double> scales);
  merging::Solution solve_shared(std::span<const double> x0);

  // Each reference's slice sum from the ranks that matched against it (their values agree).
  void combine_reference_sums(const std::vector<double>& mine) {
    const std::size_t M = references_.size();
    reference_sums_.assign(M, 0);
    std::vector<double> seen(M, 0);
    for (std::size_t j = 0; j < std::min(M, mine.size()); ++j)
      if (!std::isnan(mine[j])) reference_sums_[j] = mine[j], seen[j] = 1;
    team_.sum(reference_sums_);
    team_.sum(seen);
    for (std::size_t j = 0; j < M; ++j) reference_sums_[j] = seen[j] > 0 ? reference_sums_[j] / seen[j] : 0;
  }

  const Data& data_;
  const distributed::Team& team_;
  std::int64_t n_;
  std::vector<geometry::Quaternion> references_;
  StageOptions options_;
  merging::Merger<float> merger_;
  CpuPhasers phasers_;
  bool slices_ = false;                                  // not an oracle run
  std::optional<matching::SliceSearch> local_;           // one process, from the first slicing
  std::optional<distributed::OrientationSearch> ranks_;  // several ranks
  std::vector<float> model_;  // the slicing input in the slicer's precision
  std::vector<double> reference_sums_;  // several ranks: combined over them
  std::vector<std::int64_t> best_;      // top_k > 1: each image's best reference and score
  std::vector<float> best_score_;
  std::array<std::vector<float>, 5> merge_buffers_;  // merge's chunk: x, y, z, values, weights
};

// This rank's images i with keep(i), in chunks that bound the point buffers, summed over
// every rank's; one rank solves from x0, every rank gets the result.
merging::Solution CpuBackend::merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0,
                                    const std::function<bool(std::int64_t)>& keep, std::span<const double> scales) {
  return merge_groups(groups_at(orientations, keep, scales), x0, scales);
}

// Each half's images spread once: its sums kept, solved toward zero; the full merge solves
// the two halves' sums added (the merger's sums are linear in the points).
HalvesMerge CpuBackend::merge_with_halves(std::span<const geometry::Quaternion> orientations,
                                          std::span<const double> x0, const std::function<int(std::int64_t)>& half,
                                          std::span<const double> scales) {
  std::vector<double> kernel, rhs;
  HalvesMerge out;
  for (int h = 0; h < 2; ++h) {
    accumulate_groups(groups_at(orientations, [&](std::int64_t i) { return half(i) == h; }, scales), scales);
    const auto k = merger_.kernel(), r = merger_.rhs();
    if (h == 0) {
      kernel.assign(k.begin(), k.end()), rhs.assign(r.begin(), r.end());
    } else {
      for (std::size_t i = 0; i < k.size(); ++i) kernel[i] += k[i];
      for (std::size_t i = 0; i < r.size(); ++i) rhs[i] += r[i];
    }
    out.halves[static_cast<std::size_t>(h)] = solve_shared({});
  }
  std::copy(kernel.begin(), kernel.end(), merger_.kernel().begin());
  std::copy(rhs.begin(), rhs.end(), merger_.rhs().begin());
  out.full = solve_shared(x0);
  return out;
}

// Images at the same orientation (the grid stages' references) merge as one (group_points).
std::vector<Group> CpuBackend::groups_at(std::span<const geometry::Quaternion> orientations,
                                         const std::function<bool(std::int64_t)>& keep,
                                         std::span<const double> scales) const {
  std::vector<Group> groups;
  std::map<std::array<double, 4>, std::size_t> group_of;
  for (std::int64_t i = 0; i < data_.n_images; ++i) {
    const auto& q = orientations[static_cast<std::size_t>(i)];
    if ((keep && !keep(i)) || !(scales.empty() || scales[static_cast<std::size_t>(i)] > 0)) continue;
    const auto [it, fresh] = group_of.try_emplace({q.w, q.x, q.y, q.z}, groups.size());
    if (fresh) groups.push_back({q, {}, {}});
    groups[it->second].members.push_back(i);
    groups[it->second].weights.push_back(1.0);
  }
  return groups;
}

merging::Solution CpuBackend::merge_candidates(const Candidates& c, std::span<const double> x0,
                                               std::span<const double> scales) {
  const std::int64_t N = data_.n_images, M = static_cast<std::int64_t>(references_.size());
  if (c.k < 1 || static_cast<std::int64_t>(c.references.size()) != N * c.k || c.weights.size() != c.references.size())
    fail("reconstruct: a soft assignment needs k >= 1 candidates and weights per image");
  // One group per reference used, in the order of first use (as merge() orders orientations).
  std::vector<std::int64_t> group_of(static_cast<std::size_t>(M), -1);
  std::vector<Group> groups;
  for (std::int64_t i = 0; i < N; ++i) {
    if (!(scales.empty() || scales[static_cast<std::size_t>(i)] > 0)) continue;
    for (std::int64_t k = 0; k < c.k; ++k) {
      const auto r = static_cast<std::size_t>(i * c.k + k);
      const auto j = c.references[r];
      if (j >= M) fail("reconstruct: a candidate reference outside the reference set");
      if (j < 0 || !(c.weights[r] > 0)) continue;
      auto& slot = group_of[static_cast<std::size_t>(j)];
      if (slot < 0) slot = static_cast<std::int64_t>(groups.size()), groups.push_back({references_[static_cast<std::size_t>(j)], {}, {}});
      groups[static_cast<std::size_t>(slot)].members.push_back(i);
      groups[static_cast<std::size_t>(slot)].weights.push_back(c.weights[r]);
    }
  }
  return merge_groups(groups, x0, scales);
}

// The groups' points in chunks that bound the point buffers, summed over every rank's.
void CpuBackend::accumulate_groups(const std::vector<Group>& groups, std::span<const double> scales) {
  constexpr std::size_t kChunk = 256;  // orientations per merging NUFFT
  const std::int64_t P = data_.n_pixels;
  auto& [x, y, z, images, weights] = merge_buffers_;  // kept: fresh pages cost their clearing
  merger_.reset();
  progress().begin("merging (orientations)", static_cast<std::int64_t>(groups.size()));
  std::vector<std::int64_t> offset;
  for (std::size_t first = 0; first < groups.size(); first += kChunk) {
    const std::size_t last = std::min(groups.size(), first + kChunk);
    bool with_weights = !scales.empty() || !data_.pixel_weights.empty();
    offset.assign(1, 0);
    for (std::size_t g = first; g < last; ++g) {
      const auto& group = groups[g];
      const bool one = group.members.size() == 1;
      with_weights = with_weights || !one || group.weights[0] != 1.0;
      offset.push_back(offset.back() + P - (one ? static_cast<std::int64_t>(bad_pixels_of(data_).of(group.members[0]).size()) : 0));
    }
    const auto total = static_cast<std::size_t>(offset.back());
    for (auto* v : {&x, &y, &z, &images}) v->resize(total);
    weights.resize(with_weights ? total : 0);
    // In parallel, in order: the same arrays as one thread's.
#pragma omp parallel num_threads(options_.threads > 0 ? options_.threads : omp_get_max_threads())
    {
      PointScratch work;
#pragma omp for schedule(dynamic, 4)
      for (std::size_t g = first; g < last; ++g) {
        const auto o = static_cast<std::size_t>(offset[g - first]);
        group_points(data_, groups[g], scales, with_weights, work,
                     {x.data() + o, y.data() + o, z.data() + o, images.data() + o,
                      with_weights ? weights.data() + o : nullptr});
      }
    }
    if (total > 0) merger_.accumulate(x, y, z, images, weights);
    progress().add(static_cast<std::int64_t>(last - first));
  }
  progress().end();
  team_.sum(merger_.kernel());
  team_.sum(merger_.rhs());
}

// One rank solves the merger's sums from x0, every rank gets the result.
merging::Solution CpuBackend::solve_shared(std::span<const double> x0) {
  merging::Solution solution;
  if (team_.lead()) solution = merger_.solve(x0);
  solution.x.resize(n3());
  team_.broadcast(solution.x);
  solution.cg.iterations = team_.broadcast_value(solution.cg.iterations);
  return solution;
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Data& data, const Settings& settings, const distributed::Team& team) {
  return std::make_unique<CpuBackend>(data, settings, team);
}

}  // namespace spire::reconstruct
