// Checkpoints: every field of the State survives the file; a run resumed from a checkpoint
// ends exactly where an uninterrupted one does; a missing, corrupt or foreign checkpoint
// and a resume with other data or settings fail with a message naming the file. And the
// orientations file a run writes beside it.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../io/support.hpp"
#include "geometry/detector.hpp"
#include "io/hdf5_file.hpp"
#include "reconstruct/checkpoint.hpp"
#include "reconstruct/orientations_file.hpp"
#include "simulate/simulate.hpp"
#include "simulated.hpp"

using namespace spire;
using io::test::error_of;
using io::test::TempDir;

namespace {

reconstruct::Data small_data(std::int64_t n_images) { return reconstruct::test::simulated_images(n_images, 24, 5); }

// From random orientations through the search into refinement; no early stop.
reconstruct::Settings loop_settings(int max, const std::string& stop_reassigned = "0") {
  return reconstruct::load_settings(
      "", {"grid.n=15", "orientations.references=300", "orientations.batch_size=100", "generations.search_max=2",
           "generations.stop_change=0", "generations.stop_reassigned=" + stop_reassigned, "generations.stop_fit=0",
           "phasing.loops=3", "runtime.fft_planning=estimate", "generations.local_max=2",
           "generations.max=" + std::to_string(max)});
}

// The identity of a run of 7 images of 1024 pixels on a 5^3 grid (full_state(5, 7)'s).
reconstruct::RunIdentity small_identity() {
  reconstruct::RunIdentity id;
  id.settings = reconstruct::to_toml(reconstruct::load_settings("", {"grid.n=5"}));
  id.n_images = 7;
  id.n_pixels = 1024;
  id.grid_n = 5;
  return id;
}

reconstruct::State full_state(int n, std::int64_t images) {
  reconstruct::State s;
  s.next_generation = 4;
  s.standing.refining = true;
  s.standing.local = true;
  s.standing.finished = true;
  s.standing.converged = false;
  s.orientations = geometry::random_orientations(static_cast<std::size_t>(images), 3);
  for (std::int64_t i = 0; i < images; ++i) s.scores.push_back(-1234.5 + 0.1 * static_cast<double>(i));
  for (std::int64_t i = 0; i < images; ++i) s.scales.push_back(0.25 + 0.5 * static_cast<double>(i));
  const std::size_t n3 = static_cast<std::size_t>(n) * n * n;
  for (std::size_t i = 0; i < n3; ++i) {
    s.autocorrelation.push_back(std::sin(0.1 * static_cast<double>(i)) / 3);
    s.density.push_back(std::cos(0.3 * static_cast<double>(i)) * 1e-7);
    s.slicing_input.push_back(static_cast<double>(i) / 7);
  }
  for (int g = 0; g < 4; ++g) {
    reconstruct::Generation h;
    h.index = g;
    h.stage = static_cast<reconstruct::Stage>(g + 1);
    h.slicing_s = 1.1 + g, h.matching_s = 2.2 + g, h.merging_s = 3.3 + g, h.phasing_s = 4.4 + g;
    h.local_s = g == 3 ? 5.5 : 0;
    h.fit = 0.5 / (g + 1), h.change = 1.0 / 3 + g, h.reassigned = 0.25 + g, h.fourier_error = 1e-3 * (g + 1);
    h.cg_iterations = 17 + g;
    h.median_error_deg = g == 0 ? -1 : 12.5 / g;
    s.generations.push_back(h);
  }
  return s;
}

void expect_same_generations(const std::vector<reconstruct::Generation>& a, const std::vector<reconstruct::Generation>& b,
                             bool with_times) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].stage, b[i].stage);
    if (with_times) {
      EXPECT_EQ(a[i].slicing_s, b[i].slicing_s);
      EXPECT_EQ(a[i].matching_s, b[i].matching_s);
      EXPECT_EQ(a[i].merging_s, b[i].merging_s);
      EXPECT_EQ(a[i].phasing_s, b[i].phasing_s);
      EXPECT_EQ(a[i].local_s, b[i].local_s);
    }
    EXPECT_EQ(a[i].fit, b[i].fit) << i;
    EXPECT_EQ(a[i].change, b[i].change) << i;
    EXPECT_EQ(a[i].reassigned, b[i].reassigned) << i;
    EXPECT_EQ(a[i].fourier_error, b[i].fourier_error) << i;
    EXPECT_EQ(a[i].cg_iterations, b[i].cg_iterations) << i;
    EXPECT_EQ(a[i].median_error_deg, b[i].median_error_deg) << i;
  }
}

void expect_same_orientations(const std::vector<geometry::Quaternion>& a, const std::vector<geometry::Quaternion>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].w, b[i].w) << i;
    EXPECT_EQ(a[i].x, b[i].x) << i;
    EXPECT_EQ(a[i].y, b[i].y) << i;
    EXPECT_EQ(a[i].z, b[i].z) << i;
  }
}

// Bit for bit: the loop is deterministic given the State, the data and the settings.
void expect_same_state(const reconstruct::State& a, const reconstruct::State& b, bool with_times) {
  EXPECT_EQ(a.next_generation, b.next_generation);
  EXPECT_EQ(a.box, b.box);
  EXPECT_EQ(a.standing.refining, b.standing.refining);
  EXPECT_EQ(a.standing.local, b.standing.local);
  EXPECT_EQ(a.standing.finished, b.standing.finished);
  EXPECT_EQ(a.standing.converged, b.standing.converged);
  expect_same_orientations(a.orientations, b.orientations);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.autocorrelation, b.autocorrelation);
  EXPECT_EQ(a.density, b.density);
  EXPECT_EQ(a.slicing_input, b.slicing_input);
  expect_same_generations(a.generations, b.generations, with_times);
}

// The checkpoint a run leaves when it dies after generation `generation` (its checkpoints
// written after every generation, as spire reconstruct writes them).
reconstruct::Checkpoint crashed_after(const reconstruct::Data& data, const reconstruct::Settings& st,
                                      const std::string& path, int generation) {
  const auto id = reconstruct::identify(data, st, "data.h5");
  struct Crash {};
  try {
    reconstruct::run(data, st, [&](const reconstruct::Generation& g, const reconstruct::State& s) {
      reconstruct::write_checkpoint(path, s, id);
      if (g.index == generation) throw Crash{};
    });
    ADD_FAILURE() << "the run did not stop";
  } catch (const Crash&) {
  }
  return reconstruct::read_checkpoint(path);
}

}  // namespace

TEST(Checkpoint, RoundTripKeepsEveryField) {
  TempDir dir;
  const auto path = dir.file("checkpoint.h5");
  const auto state = full_state(5, 7);
  reconstruct::RunIdentity id;
  id.settings = reconstruct::to_toml(reconstruct::load_settings("", {"grid.n=5", "merging.tolerance=1e-8"}));
  id.data_path = "/data/run 7/ünïcode.h5";
  id.n_images = 7;
  id.n_pixels = 1024;
  id.grid_n = 5;
  id.data_fingerprint = 0xfedcba9876543210ULL;
  reconstruct::write_checkpoint(path, state, id);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"checkpoint.h5"});  // no temporary file left
  const auto c = reconstruct::read_checkpoint(path);
  expect_same_state(c.state, state, true);
  EXPECT_EQ(c.run.settings, id.settings);
  EXPECT_EQ(c.run.data_path, id.data_path);
  EXPECT_EQ(c.run.n_images, id.n_images);
  EXPECT_EQ(c.run.n_pixels, id.n_pixels);
  EXPECT_EQ(c.run.grid_n, id.grid_n);
  EXPECT_EQ(c.run.data_fingerprint, id.data_fingerprint);

  // The flags each way, and a rewrite replaces the file.
  auto other = state;
  other.standing = {false, false, false, true};
  reconstruct::write_checkpoint(path, other, id);
  const auto c2 = reconstruct::read_checkpoint(path);
  EXPECT_FALSE(c2.state.standing.refining);
  EXPECT_FALSE(c2.state.standing.local);
  EXPECT_FALSE(c2.state.standing.finished);
  EXPECT_TRUE(c2.state.standing.converged);
}

// The checkpoint keeps the process's FFTW wisdom (as bytes: it outgrows an attribute), and a
// resume plans with it alone.
TEST(Checkpoint, KeepsTheRunsFftWisdom) {
  TempDir dir;
  setenv("SPIRE_FFTW_WISDOM", dir.file("cache").c_str(), 1);  // an empty cache
  auto a = aligned_zeros<std::complex<float>>(24 * 24 * 24);
  FftPlan3<float> plan(24, 24, 24, -1, a.get(), 1, Planning::measure);
  const auto wisdom = export_fft_wisdom();
  EXPECT_FALSE(wisdom.single_precision.empty());
  const auto path = dir.file("checkpoint.h5");
  reconstruct::write_checkpoint(path, full_state(5, 7), small_identity());
  auto c = reconstruct::read_checkpoint(path);
  EXPECT_EQ(c.wisdom.single_precision, wisdom.single_precision);
  EXPECT_EQ(c.wisdom.double_precision, wisdom.double_precision);
  EXPECT_EQ(c.run.version, 6);
  use_fft_wisdom(c.wisdom);
  auto lines = [](const std::string& text) {  // FFTW lists its entries in hash order
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(lines(export_fft_wisdom().single_precision), lines(wisdom.single_precision));
  EXPECT_THROW(use_fft_wisdom({"not wisdom", ""}), Error);
}

// 4 generations straight = 2, a checkpoint, 2 more; once after a crash (the progress
// callback throws after generation 1) and once from a run that reached generations.max = 2.
TEST(Checkpoint, ResumeEqualsUninterrupted) {
  TempDir dir;
  const auto data = small_data(150);
  const auto st4 = loop_settings(4), st2 = loop_settings(2);
  const auto straight = reconstruct::run(data, st4);
  ASSERT_EQ(straight.generations.size(), 4u);
  EXPECT_EQ(straight.generations[1].stage, reconstruct::Stage::search);
  EXPECT_EQ(straight.generations[3].stage, reconstruct::Stage::refine);
  EXPECT_GT(straight.generations[2].reassigned, 0);  // generations 2 and 3 still change things
  for (auto i : reconstruct::reference_indices(straight.orientations, geometry::reference_orientations(300)))
    ASSERT_GE(i, 0);  // matched orientations are references, found in orientations.h5

  const auto path = dir.file("checkpoint.h5");
  auto crashed = crashed_after(data, st4, path, 1);
  reconstruct::check_resumable(crashed, path, data, "data.h5", st4);
  EXPECT_EQ(crashed.state.next_generation, 2);
  EXPECT_TRUE(reconstruct::extend(crashed.state, st4));
  const auto resumed = reconstruct::run(data, st4, {}, &crashed.state);
  expect_same_state(resumed, straight, false);

  const auto two = reconstruct::run(data, st2);
  EXPECT_TRUE(two.standing.finished);
  EXPECT_FALSE(two.standing.converged);
  EXPECT_NE(two.autocorrelation, straight.autocorrelation);
  reconstruct::write_checkpoint(path, two, reconstruct::identify(data, st2, "data.h5"));
  auto stopped = reconstruct::read_checkpoint(path);
  reconstruct::check_resumable(stopped, path, data, "data.h5", st4);  // generations.max may change
  EXPECT_FALSE(reconstruct::extend(stopped.state, st2));
  EXPECT_TRUE(reconstruct::extend(stopped.state, st4));
  expect_same_state(reconstruct::run(data, st4, {}, &stopped.state), straight, false);
}

// On the loop's box (grid.box = 0: chosen after generation 0, box_backend.hpp): the box is
// in the checkpoint, and a run resumed after generation 1 goes on on it, bit for bit.
TEST(Checkpoint, ResumeOnTheLoopsBox) {
  TempDir dir;
  const auto data = small_data(150);
  auto st = loop_settings(3);
  st.grid.n = 31;
  const auto straight = reconstruct::run(data, st);
  ASSERT_GT(straight.box, 0);
  EXPECT_LT(straight.box, 31);
  const std::size_t n = 31, o = (n - static_cast<std::size_t>(straight.box)) / 2;
  // On the axis through the centre: inside the box's face (merging's ball of radius m/2 in
  // the box) a value, just outside it 0.
  const std::size_t c = n / 2;
  EXPECT_NE(straight.autocorrelation[c + n * c + n * n * (o + 1)], 0.0);
  EXPECT_EQ(straight.autocorrelation[c + n * c + n * n * (o - 1)], 0.0);
  const auto path = dir.file("checkpoint.h5");
  auto crashed = crashed_after(data, st, path, 1);
  EXPECT_EQ(crashed.state.box, straight.box);
  expect_same_state(reconstruct::run(data, st, {}, &crashed.state), straight, false);
}

// Into the local stage: refinement converges at once (stop_reassigned = stop_moved_far =
// 1), two local generations follow; a crash in the first of them resumes to the same end.
TEST(Checkpoint, ResumeInTheLocalStage) {
  TempDir dir;
  const auto data = small_data(150);
  const auto st = [] {
    auto s = loop_settings(8, "1");
    s.generations.stop_moved_far = 1;
    return s;
  }();
  const auto straight = reconstruct::run(data, st);
  ASSERT_EQ(straight.generations.size(), 6u);
  EXPECT_EQ(straight.generations[3].stage, reconstruct::Stage::refine);
  EXPECT_EQ(straight.generations[4].stage, reconstruct::Stage::local);
  EXPECT_EQ(straight.generations[5].stage, reconstruct::Stage::local);
  EXPECT_GT(straight.generations[4].local_s, 0);
  EXPECT_TRUE(straight.standing.converged);
  // Locally refined orientations are no longer references.
  std::int64_t off_grid = 0;
  for (auto i : reconstruct::reference_indices(straight.orientations, geometry::reference_orientations(300)))
    off_grid += i < 0;
  EXPECT_GT(off_grid, 75);

  const auto path = dir.file("checkpoint.h5");
  auto crashed = crashed_after(data, st, path, 4);
  EXPECT_TRUE(crashed.state.standing.local);
  EXPECT_EQ(crashed.state.next_generation, 5);
  const auto resumed = reconstruct::run(data, st, {}, &crashed.state);
  expect_same_state(resumed, straight, false);
}

TEST(Checkpoint, ConvergedRunsStayFinished) {
  auto s = full_state(3, 2);
  s.standing.finished = s.standing.converged = true;
  EXPECT_FALSE(reconstruct::extend(s, loop_settings(100)));
  EXPECT_TRUE(s.standing.finished);
  s.standing.converged = false;  // finished by generations.max = 4
  EXPECT_FALSE(reconstruct::extend(s, loop_settings(4)));
  EXPECT_TRUE(reconstruct::extend(s, loop_settings(5)));
  EXPECT_FALSE(s.standing.finished);
}

TEST(Checkpoint, UnreadableCheckpointsNameTheFile) {
  TempDir dir;
  const auto missing = dir.file("missing.h5");
  EXPECT_NE(error_of([&] { reconstruct::read_checkpoint(missing); }).find(missing + ": no such file"), std::string::npos);
  const auto text = dir.file("text.h5");
  std::ofstream(text) << "checkpoint";
  EXPECT_NE(error_of([&] { reconstruct::read_checkpoint(text); }).find(text + ": not an HDF5 file"), std::string::npos);
  const auto foreign = dir.file("foreign.h5");
  {
    io::Hdf5Writer w(foreign);
    w.write<double>("density", std::vector<double>{1}, {1});
    w.finish();
  }
  EXPECT_NE(error_of([&] { reconstruct::read_checkpoint(foreign); }).find(foreign + ": not a spire checkpoint"),
            std::string::npos);

  const auto good = dir.file("good.h5");
  reconstruct::RunIdentity id;
  id.settings = reconstruct::to_toml(reconstruct::load_settings("", {"grid.n=21"}));
  id.data_path = "d.h5", id.n_images = 50, id.n_pixels = 9, id.grid_n = 21;
  reconstruct::write_checkpoint(good, full_state(21, 50), id);
  const auto size = std::filesystem::file_size(good);
  for (const double keep : {0.5, 0.9}) {  // cut short: a crash of something other than spire
    const auto cut = dir.file("cut.h5");
    std::filesystem::copy_file(good, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, static_cast<std::uintmax_t>(keep * static_cast<double>(size)));
    const auto message = error_of([&] { reconstruct::read_checkpoint(cut); });
    EXPECT_EQ(message.find(cut + ": "), 0u) << message;
  }
}

TEST(Checkpoint, ResumeWithOtherDataOrSettingsNamesTheFile) {
  const auto data = small_data(20);
  const auto st = loop_settings(4);
  reconstruct::Checkpoint c;
  c.run = reconstruct::identify(data, st, "/runs/data.h5");
  const std::string path = "/runs/r/checkpoint.h5";
  reconstruct::check_resumable(c, path, data, "data.h5", st);  // the same: fine

  auto fewer = data;
  fewer.n_images = 19;
  fewer.images.resize(static_cast<std::size_t>(19 * data.n_pixels));
  auto message = error_of([&] { reconstruct::check_resumable(c, path, fewer, "other.h5", st); });
  EXPECT_EQ(message.find(path + ": "), 0u) << message;
  EXPECT_NE(message.find("20 images"), std::string::npos) << message;
  EXPECT_NE(message.find("other.h5 gives 19 images"), std::string::npos) << message;

  auto changed = data;
  changed.images[123] += 1;
  message = error_of([&] { reconstruct::check_resumable(c, path, changed, "other.h5", st); });
  EXPECT_EQ(message.find(path + ": "), 0u) << message;
  EXPECT_NE(message.find("other data"), std::string::npos) << message;

  auto st_other = st;
  st_other.merging.tolerance = 1e-5;
  st_other.phasing.beta = 0.5;
  message = error_of([&] { reconstruct::check_resumable(c, path, data, "data.h5", st_other); });
  EXPECT_EQ(message.find(path + ": "), 0u) << message;
  EXPECT_NE(message.find("merging.tolerance = 0 (now 1e-05)"), std::string::npos) << message;
  EXPECT_NE(message.find("phasing.beta = 0.3 (now 0.5)"), std::string::npos) << message;

  auto st_neutral = st;  // what a resume may change
  st_neutral.generations.max = 50;
  st_neutral.runtime.threads = 1;
  st_neutral.output.every_generation = false;
  reconstruct::check_resumable(c, path, data, "data.h5", st_neutral);
  auto st_planning = st;  // other FFT plans round otherwise, and phasing amplifies it
  st_planning.runtime.fft_planning = Planning::measure;
  message = error_of([&] { reconstruct::check_resumable(c, path, data, "data.h5", st_planning); });
  EXPECT_NE(message.find("runtime.fft_planning"), std::string::npos) << message;
}

// orientations.h5 holds the quaternions, the image index and, for orientations that are
// references, their index in the reference set.
TEST(OrientationsFile, QuaternionsImageAndReferenceIndex) {
  TempDir dir;
  const auto st = reconstruct::load_settings("", {"orientations.references=50"});
  const auto refs = geometry::reference_orientations(50);
  std::vector<geometry::Quaternion> found = {refs[7], refs[0], geometry::random_orientations(1, 4)[0], refs[49], refs[7]};
  EXPECT_EQ(reconstruct::reference_indices(found, refs), (std::vector<std::int64_t>{7, 0, -1, 49, 7}));
  const auto path = dir.file("orientations.h5");
  reconstruct::write_orientations(path, found, {}, st, "/d/data.h5", 3);
  const io::Hdf5Reader r(path);
  const auto q = r.read<double>("orientations", {5, 4});
  for (std::size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(q[4 * i], found[i].w);
    EXPECT_EQ(q[4 * i + 1], found[i].x);
    EXPECT_EQ(q[4 * i + 2], found[i].y);
    EXPECT_EQ(q[4 * i + 3], found[i].z);
  }
  EXPECT_NE(r.string_attribute("orientations", "convention").find("w,x,y,z"), std::string::npos);
  EXPECT_EQ(r.read<std::int64_t>("image_index", {5}), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  const auto scores = r.read<double>("score", {5});
  EXPECT_TRUE(std::all_of(scores.begin(), scores.end(), [](double v) { return std::isnan(v); }));
  EXPECT_EQ(r.read<std::int64_t>("reference_index", {5}), (std::vector<std::int64_t>{7, 0, -1, 49, 7}));
  EXPECT_EQ(r.string_attribute("", "data"), "/d/data.h5");
  EXPECT_EQ(r.integer_attribute("", "references"), 50);
  EXPECT_EQ(r.integer_attribute("", "generations"), 3);
  // Oracle runs merge with the true orientations: no reference index.
  reconstruct::write_orientations(path, found, {}, reconstruct::load_settings("", {"orientations.oracle=true"}), "d", 1);
  EXPECT_EQ(io::Hdf5Reader(path).read<std::int64_t>("reference_index", {5}), std::vector<std::int64_t>(5, -1));
}

// A run on images 5.. of the file (data.first = 5): the file's indices, and the scores.
TEST(OrientationsFile, ImageIndexHonoursDataFirst) {
  TempDir dir;
  const auto st = reconstruct::load_settings("", {"orientations.references=50", "data.first=5"});
  const auto found = geometry::random_orientations(3, 4);
  const std::vector<double> scores = {1.5, -2.25, 3};
  const auto path = dir.file("orientations.h5");
  reconstruct::write_orientations(path, found, scores, st, "d", 1);
  const io::Hdf5Reader r(path);
  EXPECT_EQ(r.read<std::int64_t>("image_index", {3}), (std::vector<std::int64_t>{5, 6, 7}));
  EXPECT_EQ(r.read<double>("score", {3}), scores);
  EXPECT_THROW(reconstruct::write_orientations(path, found, {1.0}, st, "d", 1), Error);
}

// orientations.csv: header, the file's image index, the quaternion, ZYZ Euler angles that
// give the quaternion back, the score ("nan" where none).
TEST(OrientationsFile, CsvRowsRoundTrip) {
  const auto found = geometry::random_orientations(4, 9);
  const auto csv = reconstruct::orientations_csv(found, {0.5, 1, 2, 3}, 5);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "image_index,w,x,y,z,euler_z1_deg,euler_y_deg,euler_z2_deg,score");
  for (std::size_t i = 0; std::getline(in, line); ++i) {
    std::vector<double> v;
    std::istringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) v.push_back(std::stod(cell));
    ASSERT_EQ(v.size(), 9u);
    EXPECT_EQ(v[0], static_cast<double>(5 + i));
    EXPECT_EQ(v[1], found[i].w);
    EXPECT_EQ(v[4], found[i].z);
    const auto back = geometry::from_euler_zyz({v[5], v[6], v[7]});
    EXPECT_LT(geometry::angle_between(back, found[i]), 1e-9);
    EXPECT_EQ(v[8], i == 0 ? 0.5 : static_cast<double>(i));
  }
  EXPECT_NE(reconstruct::orientations_csv(found, {}, 0).find(",nan\n"), std::string::npos);
}

// A version 3 checkpoint (before scores) still resumes, with no scores.
TEST(Checkpoint, ReadsVersion3WithoutScores) {
  TempDir dir;
  const auto path = dir.file("checkpoint.h5");
  reconstruct::write_checkpoint(path, full_state(5, 7), small_identity());
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t attribute = H5Aopen(file, "version", H5P_DEFAULT);
    const std::int64_t three = 3;
    ASSERT_GE(H5Awrite(attribute, H5T_NATIVE_INT64, &three), 0);
    H5Aclose(attribute);
    H5Fclose(file);
  }
  const auto c = reconstruct::read_checkpoint(path);
  EXPECT_EQ(c.run.version, 3);
  EXPECT_TRUE(c.state.scores.empty());
  EXPECT_TRUE(c.state.scales.empty());
  EXPECT_EQ(c.state.orientations.size(), 7u);
}
