#include "reconstruct/checkpoint.hpp"

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "io/hdf5_file.hpp"

namespace spire::reconstruct {
namespace {

constexpr const char* kFormat = "spire checkpoint";
// 2: the local stage (attribute local, refining_s). 3: maps in units of the images' mean for
// images that are not photon counts (data.hpp); version 2 is read for photon counts only.
// 4: scores (each image's last matching score); versions 2 and 3 are read with none.
// 5: scales (each image's fluence scale); versions 2 to 4 are read with none.
// 6: box (the loop's box, grid.box); versions 2 to 5 are read with none (the whole grid).
constexpr std::int64_t kVersion = 6;

// A new field in State or Generation must be written and read here (and in the round-trip
// test): these fail to compile until then. Update the sizes with the mapping.
static_assert(sizeof(Generation) == 128, "Generation changed: update write_checkpoint/read_checkpoint");
static_assert(sizeof(State) == 184, "State changed: update write_checkpoint/read_checkpoint");

// The Generation fields stored as parallel arrays: doubles and integers.
struct DoubleField {
  const char* name;
  double Generation::*member;
  bool later = false;  // added after version 3: absent in older files, which keep the default
};
constexpr DoubleField kDoubleFields[] = {
    {"slicing_s", &Generation::slicing_s},   {"matching_s", &Generation::matching_s},
    {"merging_s", &Generation::merging_s},   {"phasing_s", &Generation::phasing_s},
    {"fit", &Generation::fit},               {"change", &Generation::change},
    {"reassigned", &Generation::reassigned}, {"fourier_error", &Generation::fourier_error},
    {"median_error_deg", &Generation::median_error_deg}, {"refining_s", &Generation::local_s},
    {"resolution_angstrom", &Generation::resolution_angstrom, true},  // -1: none
    {"beta", &Generation::beta, true},   {"candidates", &Generation::candidates, true},  // hard
    {"moved_far", &Generation::moved_far, true},  // -1: not measured
};

std::string hex(std::uint64_t v) { return fmt::format("{:016x}", v); }

void write_grid(io::Hdf5Writer& w, const char* name, const std::vector<double>& v, std::int64_t n) {
  const auto e = static_cast<std::size_t>(n);
  if (v.empty()) w.write<double>(name, v, {0});
  else if (v.size() == e * e * e) w.write<double>(name, v, {e, e, e});
  else fail_in(w.path(), fmt::format("{} has {} values, not {}^3", name, v.size(), n));
}

std::vector<double> read_grid(const io::Hdf5Reader& r, const char* name, std::int64_t n) {
  const auto e = static_cast<std::size_t>(n);
  if (r.shape(name) == io::Shape{0}) return {};
  return r.read<double>(name, {e, e, e});
}

// Each image's last score (version 4) or fluence scale (version 5, `since`); none where
// empty or in older checkpoints.
std::vector<double> read_per_image(const io::Hdf5Reader& r, const char* name, std::int64_t version,
                                   std::int64_t since, std::size_t n_images) {
  if (version < since || r.shape(name) == io::Shape{0}) return {};
  return r.read<double>(name, {n_images});
}

}  // namespace

std::uint64_t fingerprint(const Data& data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, one 32- or 64-bit word at a time
  auto mix = [&h](std::uint64_t word) { h = (h ^ word) * 0x100000001b3ULL; };
  mix(static_cast<std::uint64_t>(data.n_images));
  mix(static_cast<std::uint64_t>(data.n_pixels));
  // Over the dense rows, whether the images are held dense or sparse.
  std::vector<float> row(static_cast<std::size_t>(data.n_pixels));
  for (std::int64_t i = 0; i < data.n_images; ++i) {
    image_set(data).row(i, row.data());
    for (float v : row) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      mix(bits);
    }
  }
  auto mix_double = [&mix](double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    mix(bits);
  };
  for (const auto& p : data.pixels)
    for (double c : p) mix_double(c);
  for (const auto& q : data.truth) mix_double(q.w), mix_double(q.x), mix_double(q.y), mix_double(q.z);
  return h;
}

RunIdentity identify(const Data& data, const Settings& settings, const std::string& data_path) {
  RunIdentity id;
  id.settings = to_toml(settings);
  id.data_path = data_path;
  id.n_images = data.n_images;
  id.n_pixels = data.n_pixels;
  id.grid_n = settings.grid.n;
  id.data_fingerprint = fingerprint(data);
  return id;
}

namespace {

// FFTW's wisdom as bytes of text: it outgrows an attribute's 64 KiB.
void write_wisdom(io::Hdf5Writer& w, const FftWisdom& wisdom) {
  auto put = [&](const char* name, const std::string& text) {
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    w.write<std::uint8_t>(name, bytes, {text.size()});
  };
  put("fftw_wisdom/float", wisdom.single_precision);
  put("fftw_wisdom/double", wisdom.double_precision);
}

FftWisdom read_wisdom(const io::Hdf5Reader& r) {
  auto get = [&](const char* name) {
    if (!r.has(name)) return std::string();
    const auto bytes = r.read<std::uint8_t>(name, r.shape(name));
    return std::string(bytes.begin(), bytes.end());
  };
  return {get("fftw_wisdom/float"), get("fftw_wisdom/double")};
}

}  // namespace

void write_checkpoint(const std::string& path, const State& s, const RunIdentity& id) {
  io::Hdf5Writer w(path);
  w.attribute("", "format", kFormat);
  w.attribute("", "version", kVersion);
  w.attribute("", "settings", id.settings);
  w.attribute("", "data_path", id.data_path);
  if (id.reference) w.attribute("", "reference", *id.reference);
  w.attribute("", "data_images", id.n_images);
  w.attribute("", "data_pixels", id.n_pixels);
  w.attribute("", "data_fingerprint", hex(id.data_fingerprint));
  w.attribute("", "grid_n", id.grid_n);
  w.attribute("", "next_generation", std::int64_t{s.next_generation});
  w.attribute("", "box", std::int64_t{s.box});
  w.attribute("", "refining", std::int64_t{s.standing.refining});
  w.attribute("", "local", std::int64_t{s.standing.local});
  w.attribute("", "finished", std::int64_t{s.standing.finished});
  w.attribute("", "converged", std::int64_t{s.standing.converged});

  std::vector<double> q;
  q.reserve(4 * s.orientations.size());
  for (const auto& o : s.orientations) q.insert(q.end(), {o.w, o.x, o.y, o.z});
  w.write<double>("orientations", q, {s.orientations.size(), 4});
  w.attribute("orientations", "convention", "unit quaternions w,x,y,z, one per image");
  if (!s.scores.empty() && s.scores.size() != s.orientations.size())
    fail_in(w.path(), fmt::format("{} scores for {} images", s.scores.size(), s.orientations.size()));
  w.write<double>("scores", s.scores, {s.scores.size()});
  if (!s.scales.empty() && s.scales.size() != s.orientations.size())
    fail_in(w.path(), fmt::format("{} fluence scales for {} images", s.scales.size(), s.orientations.size()));
  w.write<double>("scales", s.scales, {s.scales.size()});
  write_grid(w, "autocorrelation", s.autocorrelation, id.grid_n);
  write_grid(w, "density", s.density, id.grid_n);
  write_grid(w, "slicing_input", s.slicing_input, id.grid_n);

  const std::size_t G = s.generations.size();
  std::vector<std::int32_t> index(G), stage(G), cg(G);
  for (std::size_t i = 0; i < G; ++i) {
    index[i] = s.generations[i].index;
    stage[i] = static_cast<std::int32_t>(s.generations[i].stage);
    cg[i] = s.generations[i].cg_iterations;
  }
  w.write<std::int32_t>("generations/index", index, {G});
  w.write<std::int32_t>("generations/stage", stage, {G});
  w.attribute("generations/stage", "stage_names", "0 start, 1 search, 2 refine, 3 oracle, 4 local");
  w.write<std::int32_t>("generations/cg_iterations", cg, {G});
  for (const auto& f : kDoubleFields) {
    std::vector<double> v(G);
    for (std::size_t i = 0; i < G; ++i) v[i] = s.generations[i].*f.member;
    w.write<double>(std::string("generations/") + f.name, v, {G});
  }
  write_wisdom(w, export_fft_wisdom());
  w.finish();
}

Checkpoint read_checkpoint(const std::string& path) {
  const io::Hdf5Reader r(path);
  if (!r.has_attribute("", "format") || r.string_attribute("", "format") != kFormat)
    fail_in(path, "not a spire checkpoint (no attribute format = \"spire checkpoint\")");
  Checkpoint c;
  RunIdentity& id = c.run;
  id.version = r.integer_attribute("", "version");
  if (id.version < 2 || id.version > kVersion)
    fail_in(path, fmt::format("checkpoint version {}; this spire reads versions 2 to {}", id.version, kVersion));
  id.settings = r.string_attribute("", "settings");
  id.data_path = r.string_attribute("", "data_path");
  if (r.has_attribute("", "reference")) id.reference = r.string_attribute("", "reference");
  id.n_images = r.integer_attribute("", "data_images");
  id.n_pixels = r.integer_attribute("", "data_pixels");
  id.grid_n = r.integer_attribute("", "grid_n");
  const std::string fp = r.string_attribute("", "data_fingerprint");
  try {
    std::size_t used = 0;
    id.data_fingerprint = std::stoull(fp, &used, 16);
    if (used != fp.size()) throw std::invalid_argument(fp);
  } catch (const std::exception&) {
    fail_in(path, "attribute 'data_fingerprint': \"" + fp + "\" is not a hexadecimal number");
  }
  if (id.n_images < 1 || id.n_pixels < 1 || id.grid_n < 1)
    fail_in(path, fmt::format("a checkpoint of {} images of {} pixels on a {}^3 grid makes no sense (corrupt file?)",
                              id.n_images, id.n_pixels, id.grid_n));

  State& s = c.state;
  s.next_generation = static_cast<int>(r.integer_attribute("", "next_generation"));
  if (id.version >= 6) s.box = static_cast<int>(r.integer_attribute("", "box"));
  if (s.box != 0 && (s.box < 5 || s.box % 2 == 0 || s.box >= id.grid_n))
    fail_in(path, fmt::format("attribute 'box': {} is not a box of the {}^3 grid (corrupt file?)", s.box, id.grid_n));
  s.standing.refining = r.integer_attribute("", "refining") != 0;
  s.standing.local = r.integer_attribute("", "local") != 0;
  s.standing.finished = r.integer_attribute("", "finished") != 0;
  s.standing.converged = r.integer_attribute("", "converged") != 0;
  const auto N = static_cast<std::size_t>(id.n_images);
  const auto q = r.read<double>("orientations", {N, 4});
  s.orientations.resize(N);
  for (std::size_t i = 0; i < N; ++i) s.orientations[i] = {q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]};
  s.scores = read_per_image(r, "scores", id.version, 4, N);
  s.scales = read_per_image(r, "scales", id.version, 5, N);
  s.autocorrelation = read_grid(r, "autocorrelation", id.grid_n);
  s.density = read_grid(r, "density", id.grid_n);
  s.slicing_input = read_grid(r, "slicing_input", id.grid_n);
  c.wisdom = read_wisdom(r);

  const io::Shape shape = r.shape("generations/index");
  if (shape.size() != 1) fail_in(path, "dataset 'generations/index': has shape " + io::shape_text(shape) + ", expected (G)");
  const std::size_t G = shape[0];
  if (static_cast<std::int64_t>(G) != s.next_generation)
    fail_in(path, fmt::format("{} generations recorded but next_generation = {} (corrupt file?)", G, s.next_generation));
  const auto index = r.read<std::int32_t>("generations/index", {G});
  const auto stage = r.read<std::int32_t>("generations/stage", {G});
  const auto cg = r.read<std::int32_t>("generations/cg_iterations", {G});
  s.generations.resize(G);
  for (std::size_t i = 0; i < G; ++i) {
    if (stage[i] < 0 || stage[i] > static_cast<std::int32_t>(Stage::local))
      fail_in(path, fmt::format("dataset 'generations/stage': {} is not a stage", stage[i]));
    s.generations[i].index = index[i];
    s.generations[i].stage = static_cast<Stage>(stage[i]);
    s.generations[i].cg_iterations = cg[i];
  }
  for (const auto& f : kDoubleFields) {
    const std::string name = std::string("generations/") + f.name;
    if (f.later && !r.has(name)) continue;  // fields added after version 3: their defaults
    const auto v = r.read<double>(name, {G});
    for (std::size_t i = 0; i < G; ++i) s.generations[i].*f.member = v[i];
  }
  return c;
}

void check_resumable(const Checkpoint& c, const std::string& checkpoint_path, const Data& data,
                     const std::string& data_path, const Settings& settings) {
  const RunIdentity& id = c.run;
  if (id.version < 3 && !data.counts)
    fail_in(checkpoint_path, fmt::format("written by an older spire (checkpoint version {}), whose maps are in the "
                                         "images' own units; this spire works in units of their mean value, so the "
                                         "run cannot go on: start a new run in another folder",
                                         id.version));
  if (id.n_images != data.n_images || id.n_pixels != data.n_pixels)
    fail_in(checkpoint_path, fmt::format("the run was made from {} images of {} pixels ({}); {} gives {} images of {} "
                                         "pixels: resume with the data it was made from",
                                         id.n_images, id.n_pixels, id.data_path, data_path, data.n_images, data.n_pixels));
  if (id.data_fingerprint != fingerprint(data))
    fail_in(checkpoint_path, fmt::format("the run was made from other data ({}, fingerprint {}) than {} (fingerprint {}), "
                                         "though of the same size: resume with the data it was made from",
                                         id.data_path, hex(id.data_fingerprint), data_path, hex(fingerprint(data))));
  const Settings before = load_settings_text(id.settings, checkpoint_path + " (its settings)");
  const auto diff = result_differences(before, settings);
  if (!diff.empty()) {
    std::string list;
    for (const auto& d : diff) list += fmt::format("{}{} = {} (now {})", list.empty() ? "" : ", ", d.key, d.a, d.b);
    std::string neutral;
    for (const auto& k : result_neutral_settings()) neutral += (neutral.empty() ? "" : ", ") + k;
    fail_in(checkpoint_path, "the run was made with " + list +
                                 "; these change the result, so a resumed run must keep them (it may change only " +
                                 neutral + "). Start a new run in another folder instead.");
  }
  if (id.grid_n != settings.grid.n)  // implied by the settings, checked in case they were edited by hand
    fail_in(checkpoint_path, fmt::format("the run's grid is {}^3, the settings say grid.n = {}", id.grid_n, settings.grid.n));
}

bool extend(State& state, const Settings& settings) {
  if (state.standing.finished && !state.standing.converged && state.next_generation < settings.generations.max)
    state.standing.finished = false;
  return !state.standing.finished && state.next_generation < settings.generations.max;
}

}  // namespace spire::reconstruct
