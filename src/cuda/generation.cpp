#include "cuda/generation.hpp"

#include <algorithm>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "cuda/device.hpp"
#include "cuda/matching.hpp"
#include "cuda/merging.hpp"
#include "cuda/nufft.hpp"
#include "cuda/phasing.hpp"

namespace spire::cuda {
namespace {

// Row-major rotation matrices of the orientations, for the device's rotated_points.
void rotation_matrices(std::span<const geometry::Quaternion> q, double* out) {
  for (std::size_t i = 0; i < q.size(); ++i) {
    const auto R = geometry::rotation_matrix(q[i]);
    std::copy(R.begin(), R.end(), out + 9 * i);
  }
}

}  // namespace

struct GenerationRunner::State {
  std::int64_t n_images = 0, n_pixels = 0, n = 0;
  double scale = 0;  // pi / s_ext
  Stream slice_stream, match_stream;
  DeviceBuffer<float> images;
  DeviceBuffer<double> pixels;
  // Slicing: one sorted point set per reference batch, two slice buffers.
  std::unique_ptr<DeviceNufft> slicer;
  std::vector<DevicePoints> batches;
  std::vector<std::int64_t> batch_first, batch_count;
  DeviceBuffer<float> slices[2];
  Event sliced[2], matched[2];
  DeviceBuffer<cfloat> modes;
  std::unique_ptr<DeviceNearestSlices> nearest;
  // Merging.
  std::unique_ptr<DeviceMerger> merger;
  std::int64_t merge_chunk = 0;  // images per accumulate
  DeviceBuffer<double> rotations;
  DeviceBuffer<float> px, py, pz;
  PinnedBuffer<double> pinned_rotations;
  // Phasing.
  std::unique_ptr<DevicePhaser> phaser;
};

GenerationRunner::GenerationRunner(std::int64_t n_images, std::span<const float> images,
                                   std::span<const std::array<double, 3>> pixels, double s_ext, std::int64_t n,
                                   std::span<const geometry::Quaternion> references, bool slicing,
                                   const slicing::Options& so, const matching::Options& mo, GemmPrecision gemm,
                                   const merging::Options& ms) {
  require_device();
  s_ = std::make_unique<State>();
  State& s = *s_;
  s.n_images = n_images;
  s.n_pixels = static_cast<std::int64_t>(pixels.size());
  s.n = n;
  if (!(s_ext > 0)) fail("GPU generation: s_ext must be positive");
  if (static_cast<std::int64_t>(images.size()) != n_images * s.n_pixels) fail("GPU generation: images do not match their count and size");
  s.scale = std::numbers::pi / s_ext;
  const stream_t st = s.slice_stream.get();
  {  // The images, once, through a pinned staging buffer in chunks.
    s.images.resize(images.size());
    const std::size_t chunk = std::size_t{1} << 24;
    PinnedBuffer<float> stage(std::min(chunk, images.size()));
    for (std::size_t first = 0; first < images.size(); first += chunk) {
      const std::size_t count = std::min(chunk, images.size() - first);
      std::copy(images.begin() + static_cast<std::ptrdiff_t>(first),
                images.begin() + static_cast<std::ptrdiff_t>(first + count), stage.data());
      copy_to_device(s.images.data() + first, stage.data(), count * sizeof(float), st);
      synchronize(st);
    }
  }
  std::vector<double> px(3 * pixels.size());
  for (std::size_t p = 0; p < pixels.size(); ++p) std::copy(pixels[p].begin(), pixels[p].end(), px.begin() + 3 * static_cast<std::ptrdiff_t>(p));
  s.pixels.upload(px.data(), px.size(), st);

  if (slicing) {
    if (so.batch_size < 1) fail("GPU slicing: batch_size must be at least 1");
    s.slicer = std::make_unique<DeviceNufft>(2, std::array<std::int64_t, 3>{n, n, n}, +1, so.tolerance, st);
    const auto n_refs = static_cast<std::int64_t>(references.size());
    const std::int64_t largest = std::min(so.batch_size, n_refs);
    DeviceBuffer<float> x(static_cast<std::size_t>(largest * s.n_pixels)), y(x.size()), z(x.size());
    DeviceBuffer<double> R(static_cast<std::size_t>(9 * largest));
    std::vector<double> Rh(R.size());
    for (std::int64_t first = 0; first < n_refs; first += so.batch_size) {
      const std::int64_t count = std::min(so.batch_size, n_refs - first);
      rotation_matrices(references.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count)), Rh.data());
      R.upload(Rh.data(), static_cast<std::size_t>(9 * count), st);
      rotated_points(count, R.data(), s.n_pixels, s.pixels.data(), s.scale, x.data(), y.data(), z.data(), st);
      s.batches.push_back(s.slicer->sort_points(count * s.n_pixels, x.data(), y.data(), z.data()));
      s.batch_first.push_back(first);
      s.batch_count.push_back(count);
    }
    for (auto& b : s.slices) b.resize(static_cast<std::size_t>(largest * s.n_pixels));
    s.modes.resize(static_cast<std::size_t>(n * n * n));
    s.nearest = std::make_unique<DeviceNearestSlices>(n_images, s.n_pixels, s.images.data(), mo, gemm,
                                                      s.match_stream.get());
  }

  s.merger = std::make_unique<DeviceMerger>(ms, st);
  s.merge_chunk = std::max<std::int64_t>(1, std::min<std::int64_t>(n_images, ms.chunk_points / std::max<std::int64_t>(s.n_pixels, 1)));
  s.rotations.resize(static_cast<std::size_t>(9 * s.merge_chunk));
  s.pinned_rotations = PinnedBuffer<double>(static_cast<std::size_t>(9 * s.merge_chunk));
  const auto pts = static_cast<std::size_t>(s.merge_chunk * s.n_pixels);
  s.px.resize(pts);
  s.py.resize(pts);
  s.pz.resize(pts);

  s.phaser = std::make_unique<DevicePhaser>(static_cast<int>(n), st);
  s.phaser->set_measured_radius(static_cast<double>(n) / 2);
  synchronize(st);
}

GenerationRunner::~GenerationRunner() = default;

GenerationTimes GenerationRunner::slice_and_match(std::span<const double> autocorrelation,
                                                  std::vector<std::int64_t>& indices, std::vector<float>& scores) {
  State& s = *s_;
  if (!s.slicer) fail("GPU generation: built without slicing (oracle run)");
  if (static_cast<std::int64_t>(autocorrelation.size()) != s.n * s.n * s.n) fail("GPU slicing: the autocorrelation is not n^3");
  const stream_t ss = s.slice_stream.get(), ms = s.match_stream.get();
  {
    PinnedBuffer<cfloat> host(autocorrelation.size());
    for (std::size_t i = 0; i < autocorrelation.size(); ++i) host[i] = cfloat(static_cast<float>(autocorrelation[i]), 0.0f);
    copy_to_device(s.modes.data(), host.data(), host.size() * sizeof(cfloat), ss);
    s.slicer->load_modes(s.modes.data());
    synchronize(ss);  // the pinned buffer dies here
  }
  s.nearest->reset();
  GenerationTimes times;
  std::vector<Event> start_slice, end_slice, start_match, end_match;
  const auto steps = pipeline_schedule(static_cast<std::int64_t>(s.batches.size()), 2);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    start_slice.emplace_back();
    end_slice.emplace_back();
    start_match.emplace_back();
    end_match.emplace_back();
  }
  for (const auto& step : steps) {
    const auto b = static_cast<std::size_t>(step.batch);
    if (step.slice_waits_for >= 0) s.matched[step.buffer].wait(ss);
    start_slice[b].record(ss);
    s.slicer->interpolate_real(s.batches[b], s.slices[step.buffer].data());
    end_slice[b].record(ss);
    s.sliced[step.buffer].record(ss);
    s.sliced[step.buffer].wait(ms);
    start_match[b].record(ms);
    s.nearest->add_batch(s.batch_first[b], s.batch_count[b], s.slices[step.buffer].data());
    end_match[b].record(ms);
    s.matched[step.buffer].record(ms);
  }
  s.nearest->results(indices, scores);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    times.slicing_s += end_slice[b].elapsed_ms(start_slice[b]) / 1000;
    times.matching_s += end_match[b].elapsed_ms(start_match[b]) / 1000;
  }
  synchronize(ss);
  return times;
}

merging::Solution GenerationRunner::merge(std::span<const geometry::Quaternion> orientations, std::span<const double> x0) {
  State& s = *s_;
  if (static_cast<std::int64_t>(orientations.size()) != s.n_images) fail("GPU merging: one orientation per image");
  const stream_t st = s.slice_stream.get();
  s.merger->reset();
  for (std::int64_t first = 0; first < s.n_images; first += s.merge_chunk) {
    const std::int64_t count = std::min(s.merge_chunk, s.n_images - first);
    synchronize(st);  // the pinned rotations of the last chunk are read
    rotation_matrices(orientations.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count)),
                      s.pinned_rotations.data());
    copy_to_device(s.rotations.data(), s.pinned_rotations.data(), static_cast<std::size_t>(9 * count) * sizeof(double), st);
    rotated_points(count, s.rotations.data(), s.n_pixels, s.pixels.data(), s.scale, s.px.data(), s.py.data(), s.pz.data(), st);
    s.merger->accumulate(count * s.n_pixels, s.px.data(), s.py.data(), s.pz.data(), s.images.data() + first * s.n_pixels);
  }
  return s.merger->solve(x0);
}

phasing::Result<double> GenerationRunner::phase(std::span<const double> autocorrelation, const phasing::Schedule& schedule) {
  s_->phaser->set_autocorrelation(autocorrelation);
  return s_->phaser->run(schedule);
}

std::vector<double> GenerationRunner::autocorrelation_of(std::span<const double> density) {
  return s_->phaser->autocorrelation_of(density);
}


}  // namespace spire::cuda
