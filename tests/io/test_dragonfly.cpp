// Dragonfly's files (io/dragonfly.hpp): fixtures built here byte for byte from the layout
// Dragonfly's writers make (utils/py_src/writeemc.py, utils/py_src/detector.py), not with
// spire's writer; round trips through spire's writers; and the errors of corrupt files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/dragonfly.hpp"
#include "io/images.hpp"
#include "support.hpp"

namespace spire::io::test {
namespace {

using ::testing::HasSubstr;

constexpr double kEnergy = 6000;  // eV
constexpr double kEwald = 200.5;  // voxels
constexpr int kPixels = 6;

// Three frames of six pixels, as dense photon counts.
const std::vector<float> kFrames = {0, 1, 0, 3, 1, 0,  //
                                    0, 0, 0, 0, 0, 0,  //
                                    2, 0, 1, 0, 0, 7};

// q of pixel p in voxels, and Dragonfly's mask (0 good, 1 not for orientation, 2 bad).
double q_of(int p, int k) { return (k == 2 ? -0.25 : 1.0) * (p + 1) * (k + 2) * 1.5; }
int dragonfly_mask(int p) { return p == 2 ? 2 : p == 4 ? 1 : 0; }

// The sparse lists of kFrames, as Dragonfly's write_frame makes them.
struct Lists {
  std::vector<std::int32_t> ones, multi, place_ones, place_multi, count_multi;
};
Lists lists_of(const std::vector<float>& frames, int num_pix) {
  Lists l;
  for (std::size_t d = 0; d < frames.size() / num_pix; ++d) {
    std::int32_t n1 = 0, nm = 0;
    for (int p = 0; p < num_pix; ++p) {
      const float v = frames[d * num_pix + p];
      if (v == 1) l.place_ones.push_back(p), ++n1;
      if (v > 1) l.place_multi.push_back(p), l.count_multi.push_back(std::int32_t(v)), ++nm;
    }
    l.ones.push_back(n1);
    l.multi.push_back(nm);
  }
  return l;
}

// EMCWriter(hdf5=False): a 256-int32 header (num_data, num_pix, zeros), ones, multi, then
// the three photon lists.
std::vector<char> emc_bytes(const std::vector<float>& frames, int num_pix) {
  const Lists l = lists_of(frames, num_pix);
  std::vector<std::int32_t> words(256, 0);
  words[0] = static_cast<std::int32_t>(l.ones.size());
  words[1] = num_pix;
  for (const auto* part : {&l.ones, &l.multi, &l.place_ones, &l.place_multi, &l.count_multi})
    words.insert(words.end(), part->begin(), part->end());
  std::vector<char> bytes(words.size() * 4);
  std::memcpy(bytes.data(), words.data(), bytes.size());
  return bytes;
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// EMCWriter(hdf5=True) through h5py: num_pix int64 (1,), three (N,) vlen int32 datasets
// chunked (1,) with maxshape (None,).
void write_h5_photons(const std::string& path, const std::vector<float>& frames, int num_pix) {
  const Lists l = lists_of(frames, num_pix);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t one = 1, n = l.ones.size(), unlimited = H5S_UNLIMITED;
  hid_t s1 = H5Screate_simple(1, &one, nullptr);
  hid_t d = H5Dcreate2(f, "num_pix", H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const std::int64_t np = num_pix;
  H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &np);
  H5Dclose(d);
  hid_t vlen = H5Tvlen_create(H5T_STD_I32LE), space = H5Screate_simple(1, &n, &unlimited);
  hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(plist, 1, &one);
  auto put = [&](const char* name, const std::vector<std::int32_t>& flat, const std::vector<std::int32_t>& per_frame) {
    std::vector<hvl_t> seq(n);
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      seq[i] = {static_cast<std::size_t>(per_frame[i]), const_cast<std::int32_t*>(flat.data()) + at};
      at += per_frame[i];
    }
    hid_t ds = H5Dcreate2(f, name, vlen, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    hid_t mem = H5Tvlen_create(H5T_NATIVE_INT32);
    H5Dwrite(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, seq.data());
    H5Tclose(mem);
    H5Dclose(ds);
  };
  put("place_ones", l.place_ones, l.ones);
  put("place_multi", l.place_multi, l.multi);
  put("count_multi", l.count_multi, l.multi);
  H5Pclose(plist), H5Sclose(space), H5Tclose(vlen), H5Sclose(s1), H5Fclose(f);
}

// Detector._write_asciidet: "%d %.6f %.6f" then "%21.15e" x4 "%d" per pixel.
void write_text_detector(const std::string& path, int num_pix, bool header = true) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (header)
    std::fprintf(f, "%d %.6f %.6f\n", num_pix, kEwald, kEwald);
  else
    std::fprintf(f, "%d\n", num_pix);
  for (int p = 0; p < num_pix; ++p)
    std::fprintf(f, "%21.15e %21.15e %21.15e %21.15e %d\n", q_of(p, 0), q_of(p, 1), q_of(p, 2), 1.0 + 0.01 * p,
                 dragonfly_mask(p));
  std::fclose(f);
}

// Detector._write_h5det: qx, qy, qz, corr float64, mask uint8, detd and ewald_rad scalars.
void write_h5_detector(const std::string& path, int num_pix) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t n = num_pix;
  hid_t space = H5Screate_simple(1, &n, nullptr), scalar = H5Screate(H5S_SCALAR);
  auto put = [&](const char* name, hid_t type, hid_t mem, hid_t sp, const void* data) {
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
  };
  const char* names[3] = {"qx", "qy", "qz"};
  for (int k = 0; k < 3; ++k) {
    std::vector<double> q(num_pix);
    for (int p = 0; p < num_pix; ++p) q[p] = q_of(p, k);
    put(names[k], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space, q.data());
  }
  std::vector<double> corr(num_pix);
  std::vector<std::uint8_t> mask(num_pix);
  for (int p = 0; p < num_pix; ++p) corr[p] = 1.0 + 0.01 * p, mask[p] = std::uint8_t(dragonfly_mask(p));
  put("corr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space, corr.data());
  put("mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, space, mask.data());
  put("detd", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, scalar, &kEwald);
  put("ewald_rad", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, scalar, &kEwald);
  H5Sclose(space), H5Sclose(scalar), H5Fclose(f);
}

std::vector<float> read_all(const ImageFile& file) {
  std::vector<float> images(file.info().n_images * file.info().pixels());
  file.read_images(0, file.info().n_images, images.data());
  return images;
}

OpenOptions with_detector(const std::string& detector) {
  return {.detector = detector, .photon_energy = kEnergy, .mask = ""};
}

// Every image value, position and mask value of a file read from the fixtures.
void expect_fixture(const ImageFile& file) {
  const auto& info = file.info();
  ASSERT_EQ(info.n_images, 3u);
  ASSERT_EQ(info.pixels(), std::size_t(kPixels));
  EXPECT_EQ(info.height, 1);
  EXPECT_EQ(read_all(file), kFrames);
  const double wavelength = 12398.419843320026e-10 / kEnergy;
  for (int p = 0; p < kPixels; ++p)
    for (int k = 0; k < 3; ++k)
      EXPECT_FLOAT_EQ(info.pixel_position_reciprocal[3 * p + k], float(q_of(p, k) / (kEwald * wavelength)));
  EXPECT_EQ(info.mask, (std::vector<std::uint8_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(info.photon_energy, kEnergy);
  ASSERT_FALSE(info.ignored.empty());
  EXPECT_THAT(info.ignored[0], HasSubstr("1 pixels of value 1"));
  std::vector<float> middle(2 * kPixels);
  file.read_images(1, 2, middle.data());
  EXPECT_EQ(middle, std::vector<float>(kFrames.begin() + kPixels, kFrames.end()));
}

TEST(Dragonfly, ReadsBinaryPhotonsAndTextDetectorAsDragonflyWritesThem) {
  TempDir dir;
  write_bytes(dir.file("p.emc"), emc_bytes(kFrames, kPixels));
  write_text_detector(dir.file("det.dat"), kPixels);
  EXPECT_EQ(detect_format(dir.file("p.emc")), Format::dragonfly_emc);
  expect_fixture(*open_images(dir.file("p.emc"), with_detector(dir.file("det.dat"))));
}

TEST(Dragonfly, ReadsHdf5PhotonsAndHdf5DetectorAsDragonflyWritesThem) {
  TempDir dir;
  write_h5_photons(dir.file("p.h5"), kFrames, kPixels);
  write_h5_detector(dir.file("det.h5"), kPixels);
  EXPECT_EQ(detect_format(dir.file("p.h5")), Format::dragonfly_h5);
  expect_fixture(*open_images(dir.file("p.h5"), with_detector(dir.file("det.h5"))));
}

TEST(Dragonfly, ReadsDenseBinaryFrames) {
  TempDir dir;
  write_text_detector(dir.file("det.dat"), kPixels);
  for (std::int32_t type : {1, 2}) {
    std::vector<char> bytes(1024, 0);
    const std::int32_t header[3] = {3, kPixels, type};
    std::memcpy(bytes.data(), header, sizeof header);
    for (float v : kFrames) {
      const std::int32_t i = std::int32_t(v);
      const double d = v;
      const char* from = type == 1 ? reinterpret_cast<const char*>(&i) : reinterpret_cast<const char*>(&d);
      bytes.insert(bytes.end(), from, from + (type == 1 ? 4 : 8));
    }
    write_bytes(dir.file("dense.emc"), bytes);
    EXPECT_EQ(read_all(*open_images(dir.file("dense.emc"), with_detector(dir.file("det.dat")))), kFrames);
  }
}

TEST(Dragonfly, WriterMakesDragonflysBytes) {
  TempDir dir;
  write_dragonfly_emc(dir.file("w.emc"), kPixels, kFrames);
  EXPECT_EQ(read_bytes(dir.file("w.emc")), emc_bytes(kFrames, kPixels));
  write_dragonfly_h5(dir.file("w.h5"), kPixels, kFrames);
  write_h5_detector(dir.file("det.h5"), kPixels);
  EXPECT_EQ(read_all(*open_images(dir.file("w.h5"), with_detector(dir.file("det.h5")))), kFrames);
  EXPECT_THAT(dir.entries(), ::testing::UnorderedElementsAre("w.emc", "w.h5", "det.h5"));
}

// A 2-panel SpiniFEL dataset of photon counts with a mask.
DatasetInfo spinifel_info() {
  DatasetInfo info;
  info.n_images = 5;
  info.panels = 2, info.height = 3, info.width = 4;
  for (int p = 0; p < 24; ++p) {
    const double x = (p % 4 - 1.5) * 2e7, y = (p / 4 - 2.5) * 2e7;
    info.pixel_position_reciprocal.insert(info.pixel_position_reciprocal.end(),
                                          {float(x), float(y), float(-(x * x + y * y) * 1e-10)});
  }
  info.mask.assign(24, 1);
  info.mask[5] = info.mask[17] = 0;
  info.photon_energy = kEnergy;
  return info;
}

class DragonflyRoundTrip : public ::testing::TestWithParam<std::pair<Format, std::string>> {};

TEST_P(DragonflyRoundTrip, SpinifelToDragonflyAndBackKeepsImagesPositionsAndMask) {
  TempDir dir;
  const auto [format, detector_name] = GetParam();
  const DatasetInfo info = spinifel_info();
  std::vector<float> images(5 * 24);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = float((i * 7) % 5 == 0 ? (i % 4) : 0);
  write_dataset(dir.file("in.h5"), info, images);
  const auto in = open_images(dir.file("in.h5"));
  const std::string photons = dir.file(format == Format::dragonfly_emc ? "p.emc" : "p.h5");
  DragonflyWriter writer(photons, format, 24, 5);
  writer.write_images(2, images.data());
  writer.write_images(3, images.data() + 2 * 24);
  writer.finish();
  write_dragonfly_detector(dir.file(detector_name), in->info(), kEnergy);
  const auto dragonfly = open_images(photons, with_detector(dir.file(detector_name)));
  EXPECT_EQ(dragonfly->format(), format);
  write_dataset(dir.file("back.h5"), dragonfly->info(), read_all(*dragonfly));
  const auto back = open_images(dir.file("back.h5"));
  EXPECT_EQ(read_all(*back), images);
  EXPECT_EQ(back->info().mask, info.mask);
  ASSERT_EQ(back->info().pixel_position_reciprocal.size(), info.pixel_position_reciprocal.size());
  for (std::size_t i = 0; i < info.pixel_position_reciprocal.size(); ++i)
    EXPECT_NEAR(back->info().pixel_position_reciprocal[i], info.pixel_position_reciprocal[i],
                1e-6 * std::abs(info.pixel_position_reciprocal[i]) + 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Forms, DragonflyRoundTrip,
                         ::testing::Values(std::pair{Format::dragonfly_emc, std::string("det.h5")},
                                           std::pair{Format::dragonfly_emc, std::string("det.dat")},
                                           std::pair{Format::dragonfly_h5, std::string("det.h5")}));

constexpr std::size_t kNothing = std::numeric_limits<std::size_t>::max();

// The fixture's .emc with the int32 at byte offset `at` replaced (kNothing: none) and cut to
// `cut` bytes (0: whole).
std::string corrupt_emc(const TempDir& dir, std::size_t at, std::int32_t value, std::size_t cut = 0) {
  auto bytes = emc_bytes(kFrames, kPixels);
  if (at != kNothing) std::memcpy(bytes.data() + at, &value, 4);
  if (cut) bytes.resize(cut);
  write_bytes(dir.file("bad.emc"), bytes);
  return dir.file("bad.emc");
}

TEST(DragonflyErrors, NameTheFilesAndWhatIsWrong) {
  TempDir dir;
  write_bytes(dir.file("p.emc"), emc_bytes(kFrames, kPixels));
  write_text_detector(dir.file("det.dat"), kPixels);
  write_text_detector(dir.file("det7.dat"), 7);
  write_text_detector(dir.file("old.dat"), kPixels, false);
  const std::string p = dir.file("p.emc");
  EXPECT_THAT(error_of([&] { open_images(p); }), HasSubstr("--detector FILE"));
  EXPECT_THAT(error_of([&] { open_images(p, with_detector(dir.file("none.dat"))); }),
              HasSubstr("none.dat: no such file"));
  const std::string mismatch = error_of([&] { open_images(p, with_detector(dir.file("det7.dat"))); });
  EXPECT_THAT(mismatch, HasSubstr(p + ": has num_pix 6 but the detector file " + dir.file("det7.dat") + " has 7"));
  EXPECT_THAT(error_of([&] { open_images(p, OpenOptions{.detector = dir.file("det.dat"), .photon_energy = 0, .mask = ""}); }),
              HasSubstr("--photon-energy"));
  EXPECT_THAT(error_of([&] { open_images(p, with_detector(dir.file("old.dat"))); }), HasSubstr("old detector file"));
}

TEST(DragonflyErrors, CorruptOrTruncatedPhotonsNeverReadOutOfBounds) {
  TempDir dir;
  write_text_detector(dir.file("det.dat"), kPixels);
  const auto open = [&](const std::string& path) { return read_all(*open_images(path, with_detector(dir.file("det.dat")))); };
  const std::size_t total = emc_bytes(kFrames, kPixels).size();
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, kNothing, 0, total - 4)); }), HasSubstr("truncated"));
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, kNothing, 0, 1000)); }), HasSubstr("1024-byte header"));
  // ones[0] = 2^31-1: refused before anything is allocated by it.
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, 1024, 0x7fffffff)); }),
              HasSubstr("frame 0: ones = 2147483647 at byte offset 1024"));
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, 0, 0x7fffffff)); }), HasSubstr("too short"));
  // Lists: ones 2,0,1, multi 1,0,2: place_ones at 1048, place_multi at 1060, count_multi at 1072.
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, 1052, 99)); }),
              HasSubstr("frame 0: pixel number 99 at byte offset 1052"));
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, 1076, -3)); }),
              HasSubstr("frame 2: photon count -3 at byte offset 1076"));
  EXPECT_THAT(error_of([&] { open(corrupt_emc(dir, 8, 5)); }), HasSubstr("frame type 5"));
}

// The fixture's HDF5 photons with one value of one list replaced (h5py's element write).
void corrupt_h5(const std::string& path, const char* name, std::size_t frame, std::size_t entry, std::int32_t value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t mem = H5Tvlen_create(H5T_NATIVE_INT32), space = H5Dget_space(d);
  std::vector<hvl_t> all(3);
  H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data());
  static_cast<std::int32_t*>(all[frame].p)[entry] = value;
  H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data());
  H5Dvlen_reclaim(mem, space, H5P_DEFAULT, all.data());
  H5Sclose(space), H5Tclose(mem), H5Dclose(d), H5Fclose(f);
}

// The stored length of one frame's sequence (the first 4 bytes of its chunk of one frame,
// little-endian) set to `length`.
void corrupt_length(const std::string& path, const char* name, hsize_t frame, std::uint32_t length) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  unsigned filters = 0;
  haddr_t at = HADDR_UNDEF;
  hsize_t size = 0;
  H5Dget_chunk_info_by_coord(d, &frame, &filters, &at, &size);
  H5Dclose(d), H5Fclose(f);
  ASSERT_NE(at, HADDR_UNDEF);
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(static_cast<std::streamoff>(at));
  io.write(reinterpret_cast<const char*>(&length), 4);
}

TEST(DragonflyErrors, CorruptHdf5PhotonsNameTheDatasetAndFrame) {
  TempDir dir;
  write_h5_detector(dir.file("det.h5"), kPixels);
  const auto read = [&] { return read_all(*open_images(dir.file("p.h5"), with_detector(dir.file("det.h5")))); };
  write_h5_photons(dir.file("p.h5"), kFrames, kPixels);
  corrupt_h5(dir.file("p.h5"), "place_ones", 2, 0, 6);
  EXPECT_THAT(error_of(read), HasSubstr("frame 2: pixel number 6 at dataset 'place_ones' entry 0"));
  write_h5_photons(dir.file("p.h5"), kFrames, kPixels);
  corrupt_h5(dir.file("p.h5"), "count_multi", 2, 1, -7);
  EXPECT_THAT(error_of(read), HasSubstr("frame 2: photon count -7 at dataset 'count_multi' entry 1"));
  write_h5_photons(dir.file("p.h5"), kFrames, kPixels);
  corrupt_length(dir.file("p.h5"), "place_multi", 2, 1000000000);
  EXPECT_THAT(error_of(read), HasSubstr("dataset 'place_multi': frame 2 holds 1000000000 entries, more than num_pix 6"));
  write_h5_photons(dir.file("p.h5"), kFrames, kPixels);
  hid_t f = H5Fopen(dir.file("p.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "count_multi", H5P_DEFAULT);
  H5Fclose(f);
  EXPECT_THAT(error_of(read), HasSubstr("dataset 'count_multi': missing"));
}

TEST(DragonflyErrors, WriterRefusesWhatIsNotAPhotonCount) {
  TempDir dir;
  for (float bad : {1.5f, -1.0f, std::numeric_limits<float>::quiet_NaN()}) {
    auto images = kFrames;
    images[kPixels + 4] = bad;
    EXPECT_THAT(error_of([&] { write_dragonfly_emc(dir.file("w.emc"), kPixels, images); }),
                HasSubstr("image 1, pixel 4: value"));
    EXPECT_THAT(error_of([&] { write_dragonfly_h5(dir.file("w.h5"), kPixels, images); }), HasSubstr("not a photon count"));
  }
  for (Format format : {Format::dragonfly_emc, Format::dragonfly_h5}) {
    DragonflyWriter unfinished(dir.file("u"), format, kPixels, 3);
    unfinished.write_images(1, kFrames.data());
    EXPECT_THAT(error_of([&] { unfinished.finish(); }), HasSubstr("only 1 of 3 images"));
  }
  EXPECT_TRUE(dir.entries().empty());  // no file, no temporary left
}

}  // namespace
}  // namespace spire::io::test
