#include "reconstruct/orientations_file.hpp"

#include <algorithm>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include <limits>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"

namespace spire::reconstruct {

std::vector<std::int64_t> reference_indices(const std::vector<geometry::Quaternion>& found,
                                            const std::vector<geometry::Quaternion>& refs) {
  auto key = [](const geometry::Quaternion& a) { return std::tie(a.w, a.x, a.y, a.z); };
  auto ref = [&](std::int64_t i) -> const geometry::Quaternion& { return refs[static_cast<std::size_t>(i)]; };
  std::vector<std::int64_t> order(refs.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return key(ref(a)) < key(ref(b)); });
  std::vector<std::int64_t> index(found.size(), -1);
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto it = std::lower_bound(order.begin(), order.end(), found[i],
                                     [&](std::int64_t a, const geometry::Quaternion& b) { return key(ref(a)) < key(b); });
    if (it != order.end() && key(ref(*it)) == key(found[i])) index[i] = *it;
  }
  return index;
}

namespace {

std::vector<double> scores_or_nan(const std::vector<double>& scores, std::size_t n) {
  if (scores.size() == n) return scores;
  if (!scores.empty()) fail(fmt::format("orientations: {} scores for {} images", scores.size(), n));
  return std::vector<double>(n, std::numeric_limits<double>::quiet_NaN());
}

}  // namespace

std::string orientations_csv(const std::vector<geometry::Quaternion>& found, const std::vector<double>& scores,
                             std::int64_t first_image) {
  const auto score = scores_or_nan(scores, found.size());
  std::string csv = "image_index,w,x,y,z,euler_z1_deg,euler_y_deg,euler_z2_deg,score\n";
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& q = found[i];
    const auto e = geometry::euler_zyz(q);
    csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", first_image + static_cast<std::int64_t>(i), q.w, q.x, q.y, q.z,
                       e.z1_deg, e.y_deg, e.z2_deg, score[i]);
  }
  return csv;
}

void write_orientations(const std::string& path, const std::vector<geometry::Quaternion>& found,
                        const std::vector<double>& scores, const Settings& settings, const std::string& data_path,
                        std::int64_t generations) {
  const std::size_t N = found.size();
  std::vector<double> q;
  q.reserve(4 * N);
  for (const auto& o : found) q.insert(q.end(), {o.w, o.x, o.y, o.z});
  std::vector<std::int64_t> image(N);
  std::iota(image.begin(), image.end(), settings.data.first);
  const auto reference =
      settings.orientations.oracle
          ? std::vector<std::int64_t>(N, -1)
          : reference_indices(found, geometry::reference_orientations(static_cast<std::size_t>(settings.orientations.references)));
  io::Hdf5Writer w(path);
  w.write<double>("orientations", q, {N, 4});
  w.attribute("orientations", "convention",
              "unit quaternions w,x,y,z (scalar first, w >= 0), as the data file's 'orientations': the particle is "
              "rotated by R(q), v' = q v q*; its pattern samples the model's transform at R(q)^T s");
  w.write<std::int64_t>("image_index", image, {N});
  w.attribute("image_index", "meaning", "index of the image in the data file (data.first + i)");
  w.write<double>("score", scores_or_nan(scores, N), {N});
  w.attribute("score", "meaning",
              "the image's matching score at this orientation from the run's last match (a cost, lower is better, "
              "of orientations.metric); NaN where none (oracle runs, no match yet)");
  w.write<std::int64_t>("reference_index", reference, {N});
  w.attribute("reference_index", "meaning",
              "index into the run's reference orientations (the super-Fibonacci set of orientations.references "
              "rotations); -1 where the orientation is not one of them (random start, oracle)");
  w.attribute("", "data", data_path);
  w.attribute("", "references", settings.orientations.references);
  w.attribute("", "generations", generations);
  w.finish();
}

}  // namespace spire::reconstruct
