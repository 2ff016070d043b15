#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/images.hpp"
#include "support.hpp"

namespace spire::io {
namespace {

using test::TempDir;
using test::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::size_t N = 7;
constexpr int H = 16, W = 12;  // H != W, so a transposition shows

// Geometry with a distinct value in every component of every pixel.
DatasetInfo small_info(bool optional_parts = true) {
  DatasetInfo info;
  info.n_images = N;
  info.height = H;
  info.width = W;
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) {
      info.pixel_position_reciprocal.insert(
          info.pixel_position_reciprocal.end(),
          {float(c - W / 2) * 1e7f, float(r - H / 2) * 1e7f, -float(r * W + c)});
      info.pixel_index_map.insert(info.pixel_index_map.end(), {r, c});
      if (optional_parts) {
        info.polarization.push_back(1.0f - 0.001f * float(r * W + c));
        info.solid_angle.push_back(1e-8f * float(1 + r * W + c));
      }
    }
  if (optional_parts) {
    info.det_distance = 0.2;
    info.photon_energy = 4600;
    info.photons_per_pulse = 1e12;
    info.beam_radius = 5e-7;
    info.command_line = "skopi simulate --pdb 3iyf.pdb";
    info.pdb = "3iyf.pdb";
    info.model_centroid = std::array<double, 3>{71.25, -40.5, 3.125};
  }
  return info;
}

// Image i pixel p holds i * 1000 + p, so every value says where it came from.
std::vector<float> small_images() {
  std::vector<float> images(N * H * W);
  for (std::size_t i = 0; i < images.size(); ++i)
    images[i] = float((i / (H * W)) * 1000 + i % (H * W));
  return images;
}

std::vector<double> small_orientations() {
  std::vector<double> q;
  for (std::size_t i = 0; i < N; ++i) {
    const double a = 0.3 * double(i + 1);
    q.insert(q.end(), {std::cos(a), std::sin(a) * 0.6, std::sin(a) * 0.8, 0.0});
  }
  return q;
}

Volume small_volume() {
  Volume v{{5, 6, 7}, std::vector<float>(5 * 6 * 7)};
  for (std::size_t i = 0; i < v.values.size(); ++i) v.values[i] = 0.25f * float(i);
  return v;
}

// Raw HDF5 edits of a written file, to make the broken files a reader must reject.
class RawFile {
 public:
  explicit RawFile(const std::string& path)
      : id_(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    EXPECT_GE(id_, 0) << path;
  }
  ~RawFile() { H5Fclose(id_); }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  void remove(const char* name) { EXPECT_GE(H5Ldelete(id_, name, H5P_DEFAULT), 0) << name; }
  // A new dataset of the given shape and file type holding values (zeros when empty), in
  // place of the one of that name if there is one.
  void replace(const char* name, std::vector<hsize_t> dims, hid_t file_type = H5T_IEEE_F32LE,
               std::vector<double> values = {}) {
    if (H5Lexists(id_, name, H5P_DEFAULT) > 0) remove(name);
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    values.resize(n);
    const hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    const hid_t d = H5Dcreate2(id_, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    H5Dclose(d);
    H5Sclose(space);
  }
  // h5py's complex128: a compound of two float64 'r' and 'i' (values zero).
  void replace_with_complex(const char* name, std::vector<hsize_t> dims) {
    remove(name);
    const hid_t type = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(type, "r", 0, H5T_IEEE_F64LE);
    H5Tinsert(type, "i", 8, H5T_IEEE_F64LE);
    const hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    const hid_t d = H5Dcreate2(id_, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(d, 0) << name;
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
  }
  void replace_with_string(const char* name) {
    remove(name);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 6);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t d = H5Dcreate2(id_, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, "hello"), 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
  }
  void set_attribute(const char* name, double value) {
    if (H5Aexists(id_, name) > 0) H5Adelete(id_, name);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(id_, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_DOUBLE, &value), 0);
    H5Aclose(a);
    H5Sclose(space);
  }

 private:
  hid_t id_;
};

std::string write_small(const TempDir& dir, const std::string& name = "data.h5",
                        std::vector<float> images = small_images()) {
  const std::string path = dir.file(name);
  write_dataset(path, small_info(), images, small_orientations(), small_volume());
  return path;
}

TEST(Dataset, RoundTripWithAllParts) {
  TempDir dir;
  const std::string path = write_small(dir);
  const DatasetReader reader(path);
  const DatasetInfo& info = reader.info();
  const DatasetInfo want = small_info();

  EXPECT_EQ(info.n_images, N);
  EXPECT_EQ(info.height, H);
  EXPECT_EQ(info.width, W);
  EXPECT_EQ(info.pixel_position_reciprocal, want.pixel_position_reciprocal);
  EXPECT_EQ(info.pixel_index_map, want.pixel_index_map);
  EXPECT_EQ(info.polarization, want.polarization);
  EXPECT_EQ(info.solid_angle, want.solid_angle);
  EXPECT_EQ(info.det_distance, want.det_distance);
  EXPECT_EQ(info.photon_energy, want.photon_energy);
  EXPECT_EQ(info.photons_per_pulse, want.photons_per_pulse);
  EXPECT_EQ(info.beam_radius, want.beam_radius);
  EXPECT_EQ(info.command_line, want.command_line);
  EXPECT_EQ(info.pdb, want.pdb);
  EXPECT_EQ(info.model_centroid, want.model_centroid);

  std::vector<float> images(N * H * W);
  reader.read_images(0, N, images.data());
  EXPECT_EQ(images, small_images());

  ASSERT_TRUE(reader.has_orientations());
  EXPECT_EQ(reader.read_orientations(), small_orientations());
  ASSERT_TRUE(reader.has_volume());
  const Volume volume = reader.read_volume();
  EXPECT_EQ(volume.shape, small_volume().shape);
  EXPECT_EQ(volume.values, small_volume().values);
}

TEST(Dataset, FileLayoutIsSpinifels) {
  TempDir dir;
  const std::string path = write_small(dir);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  auto dims_of = [&](const char* name) {
    const hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    const hid_t s = H5Dget_space(d);
    std::vector<hsize_t> dims(std::size_t(H5Sget_simple_extent_ndims(s)));
    H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    H5Sclose(s);
    H5Dclose(d);
    return dims;
  };
  using D = std::vector<hsize_t>;
  EXPECT_EQ(dims_of("intensities"), (D{N, 1, H, W}));
  EXPECT_EQ(dims_of("pixel_position_reciprocal"), (D{1, H, W, 3}));
  EXPECT_EQ(dims_of("pixel_index_map"), (D{1, H, W, 2}));
  EXPECT_EQ(dims_of("polarization"), (D{1, H, W}));
  EXPECT_EQ(dims_of("solid_angle"), (D{1, H, W}));
  EXPECT_EQ(dims_of("orientations"), (D{N, 1, 4}));
  EXPECT_EQ(dims_of("volume"), (D{5, 6, 7}));

  // One chunk per image, so a range of images is read without the rest.
  const hid_t d = H5Dopen2(f, "intensities", H5P_DEFAULT);
  const hid_t dcpl = H5Dget_create_plist(d);
  ASSERT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  hsize_t chunk[4];
  ASSERT_EQ(H5Pget_chunk(dcpl, 4, chunk), 4);
  EXPECT_EQ((D{chunk, chunk + 4}), (D{1, 1, H, W}));
  H5Pclose(dcpl);
  H5Dclose(d);

  std::int64_t n_images = 0;
  const hid_t a = H5Aopen(f, "n_images", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_INT64, &n_images);
  H5Aclose(a);
  EXPECT_EQ(n_images, std::int64_t(N));
  H5Fclose(f);
}

TEST(Dataset, RoundTripWithoutOptionalParts) {
  TempDir dir;
  const std::string path = dir.file("minimal.h5");
  write_dataset(path, small_info(false), small_images());
  const DatasetReader reader(path);
  EXPECT_TRUE(reader.info().polarization.empty());
  EXPECT_TRUE(reader.info().solid_angle.empty());
  EXPECT_FALSE(reader.info().det_distance.has_value());
  EXPECT_TRUE(reader.info().command_line.empty());
  EXPECT_FALSE(reader.has_orientations());
  EXPECT_FALSE(reader.has_volume());
  const std::string message = error_of([&] { reader.read_orientations(); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("'orientations'"));
  EXPECT_THAT(error_of([&] { reader.read_volume(); }), HasSubstr("'volume'"));
}

// A 'volume' whose header declares more than memory holds (8e15 bytes in a chunked dataset
// of a few kB: the byte-level fuzz campaign's out-of-memory, a 3.4 TB allocation) is an
// error naming the file and the dataset, not an allocation failure.
TEST(Dataset, AVolumeLargerThanMemoryIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.file("huge_volume.h5");
  write_dataset(path, small_info(false), small_images());
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hsize_t dims[3] = {200000, 200000, 200000}, chunk[3] = {16, 16, 16};
    const hid_t space = H5Screate_simple(3, dims, nullptr), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    const hid_t d = H5Dcreate2(f, "volume", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(space), H5Fclose(f);
  }
  const DatasetReader reader(path);
  ASSERT_TRUE(reader.has_volume());
  const std::string message = error_of([&] { reader.read_volume(); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("'volume'"));
  EXPECT_THAT(message, HasSubstr("more than this machine's memory"));
}

TEST(Dataset, ReadsSkopisTypesAndOrientationsWithoutPanelAxis) {
  // skopi writes float64 geometry and int64 index maps, and orientations may lack the
  // panel axis; all are converted on read.
  TempDir dir;
  const std::string path = write_small(dir);
  const DatasetInfo want = small_info();
  const std::vector<double> q = small_orientations();
  {
    RawFile f(path);
    f.replace("pixel_position_reciprocal", {1, H, W, 3}, H5T_IEEE_F64LE,
              {want.pixel_position_reciprocal.begin(), want.pixel_position_reciprocal.end()});
    f.replace("pixel_index_map", {1, H, W, 2}, H5T_STD_I64LE,
              {want.pixel_index_map.begin(), want.pixel_index_map.end()});
    f.replace("orientations", {N, 4}, H5T_IEEE_F64LE, q);
  }
  const DatasetReader reader(path);
  EXPECT_EQ(reader.info().pixel_position_reciprocal, want.pixel_position_reciprocal);
  EXPECT_EQ(reader.info().pixel_index_map, want.pixel_index_map);
  EXPECT_EQ(reader.read_orientations(), q);
}

TEST(Dataset, ReadsImageRanges) {
  TempDir dir;
  const std::string path = write_small(dir);
  const DatasetReader reader(path);
  const std::vector<float> all = small_images();
  const std::size_t p = H * W;
  for (auto [first, count] : {std::pair<std::size_t, std::size_t>{0, 2}, {3, 2}, {6, 1}, {0, N}}) {
    std::vector<float> part(count * p);
    reader.read_images(first, count, part.data());
    EXPECT_EQ(part, std::vector<float>(all.begin() + std::ptrdiff_t(first * p),
                                       all.begin() + std::ptrdiff_t((first + count) * p)))
        << "images " << first << " + " << count;
  }
  reader.read_images(N, 0, nullptr);  // an empty range at the end is fine

  std::vector<float> buffer(2 * p);
  for (auto [first, count] : {std::pair<std::size_t, std::size_t>{6, 2}, {7, 1}, {8, 0}}) {
    const std::string message = error_of([&] { reader.read_images(first, count, buffer.data()); });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr("'intensities'"));
  }
}

TEST(Dataset, StreamingWriterWritesRangesInAnyOrder) {
  TempDir dir;
  const std::string path = dir.file("streamed.h5");
  const std::vector<float> all = small_images();
  {
    DatasetWriter writer(path, small_info());
    writer.write_images(4, 3, all.data() + 4 * H * W);
    writer.write_images(0, 4, all.data());
    writer.finish();
  }
  std::vector<float> back(all.size());
  DatasetReader(path).read_images(0, N, back.data());
  EXPECT_EQ(back, all);
}

// --- errors: each names the file, and the dataset where there is one -----------------

TEST(DatasetErrors, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("nothing-here.h5");
  const std::string message = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("no such file"));
}

TEST(DatasetErrors, TextFileIsNotHdf5) {
  TempDir dir;
  const std::string path = dir.file("notes.h5");
  std::ofstream(path) << "these are not diffraction patterns\n";
  const std::string message = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("not an HDF5 file"));
}

TEST(DatasetErrors, TruncatedFile) {
  TempDir dir;
  const std::string path = write_small(dir);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  const std::string message = error_of([&] {
    const DatasetReader reader(path);
    std::vector<float> images(N * H * W);
    reader.read_images(0, N, images.data());
  });
  EXPECT_THAT(message, HasSubstr(path));
}

TEST(DatasetErrors, MissingRequiredDataset) {
  for (const char* name : {"intensities", "pixel_position_reciprocal"}) {
    TempDir dir;
    const std::string path = write_small(dir);
    RawFile(path).remove(name);
    const std::string message = error_of([&] { DatasetReader{path}; });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr(std::string("'") + name + "'"));
    EXPECT_THAT(message, HasSubstr("missing"));
  }
}

TEST(DatasetErrors, WrongShapes) {
  using D = std::vector<hsize_t>;
  const std::pair<const char*, D> cases[] = {
      {"intensities", {N, H, W}},                   // no panel axis
      {"pixel_position_reciprocal", {1, W, H, 3}},  // transposed
      {"pixel_position_reciprocal", {1, H, W, 2}},
      {"pixel_position_reciprocal", {2, H, W, 3}},  // panels disagree with intensities
  };
  for (const auto& [name, dims] : cases) {
    TempDir dir;
    const std::string path = write_small(dir);
    RawFile(path).replace(name, dims);
    const std::string message = error_of([&] { DatasetReader{path}; });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr(std::string("'") + name + "'"));
    EXPECT_THAT(message, HasSubstr("shape"));
  }
}

TEST(DatasetErrors, PositionsWithTheCoordinateAxisFirst) {
  TempDir dir;
  const std::string path = write_small(dir);
  RawFile(path).replace("pixel_position_reciprocal", {3, 1, H, W});
  EXPECT_THAT(error_of([&] { DatasetReader{path}; }), HasSubstr("the coordinate axis comes last in the file"));
}

// An optional dataset spire cannot use is left out with a note; the file still opens.
TEST(DatasetOptional, WrongShapesAreIgnoredWithANote) {
  using D = std::vector<hsize_t>;
  const std::pair<const char*, D> cases[] = {
      {"pixel_index_map", {1, H, W, 3}}, {"polarization", {1, H, W + 1}}, {"solid_angle", {H, W}},
      {"orientations", {N - 1, 1, 4}},   {"orientations", {N, 1, 3}},     {"volume", {5, 6}},
  };
  for (const auto& [name, dims] : cases) {
    TempDir dir;
    const std::string path = write_small(dir);
    RawFile(path).replace(name, dims);
    const DatasetReader reader(path);
    ASSERT_EQ(reader.info().ignored.size(), 1u) << name;
    EXPECT_THAT(reader.info().ignored[0], HasSubstr(std::string(name) + ": has shape "));
    EXPECT_THAT(reader.info().ignored[0], HasSubstr("not used"));
    EXPECT_THAT(describe(path), HasSubstr("ignored       " + reader.info().ignored[0]));
  }
}

TEST(DatasetOptional, ComplexVolumeStringsAndUnknownDatasetsAreNoted) {
  TempDir dir;
  const std::string path = write_small(dir);
  {
    RawFile f(path);
    f.replace_with_complex("volume", {5, 5, 5});
    f.replace_with_string("orientations");
    f.replace("beam_offsets", {N, 2}, H5T_IEEE_F64LE);
  }
  const DatasetReader reader(path);
  EXPECT_FALSE(reader.has_volume());
  EXPECT_FALSE(reader.has_orientations());
  EXPECT_THAT(reader.info().ignored,
              ::testing::UnorderedElementsAre(
                  "volume: has type complex128 (compound of 2 float64), expected numbers; not used",
                  HasSubstr("orientations: has type string"), "beam_offsets: float64 (7,2), not read by spire"));
}

// fluences (N,) float64 round-trip and spire info describes them: mean, spread, range, and
// the mean relative to photons_per_pulse (1e12 in small_info).
TEST(DatasetOptional, FluencesRoundTripAndAreDescribed) {
  TempDir dir;
  DatasetInfo info = small_info();
  info.fluences = {1e12, 5e11, 5e11, 1e12, 5e11, 1e12, 1e12};  // mean 7.857e11, spread 2.474e11
  const std::string path = dir.file("fluences.h5");
  write_dataset(path, info, small_images());
  const DatasetReader reader(path);
  EXPECT_EQ(reader.info().fluences, info.fluences);
  EXPECT_TRUE(reader.info().ignored.empty());
  EXPECT_THAT(describe(path), HasSubstr("fluences      7.857e+11 photons/pulse at the particle, spread 2.47e+11 (31.5%), "
                                        "5e+11 .. 1e+12, mean 0.786 of photons/pulse"));
  EXPECT_THAT(describe(write_small(dir, "none.h5")), HasSubstr("fluences      absent"));
  DatasetInfo wrong = info;
  wrong.fluences.pop_back();
  EXPECT_THAT(error_of([&] { write_dataset(dir.file("wrong.h5"), wrong, small_images()); }),
              HasSubstr("dataset 'fluences': has 6 values, expected 7"));
}

// fluences of another length, or negative or NaN, are left out with a note.
TEST(DatasetOptional, BadFluencesAreIgnoredWithANote) {
  const std::pair<std::vector<double>, const char*> cases[] = {
      {std::vector<double>(N + 1, 1.0), "fluences: has shape (8), expected (7) (N), one per image; not used"},
      {{1, 2, -3, 4, 5, 6, 7}, "fluences: image 2 is -3, expected a finite number >= 0; not used"},
      {{1, 2, 3, 4, 5, 6, std::nan("")}, "fluences: image 6 is nan, expected a finite number >= 0; not used"}};
  for (const auto& [values, note] : cases) {
    TempDir dir;
    const std::string path = write_small(dir);
    RawFile(path).replace("fluences", {values.size()}, H5T_IEEE_F64LE, values);
    const DatasetReader reader(path);
    EXPECT_TRUE(reader.info().fluences.empty());
    EXPECT_THAT(reader.info().ignored, ::testing::ElementsAre(note));
    EXPECT_THAT(describe(path), HasSubstr("fluences      not used (ignored below)"));
  }
}

TEST(DatasetOptional, IndexMapIsCheckedAndMayBeAbsent) {
  TempDir dir;
  const std::string path = write_small(dir);
  {
    const DatasetReader reader(path);
    EXPECT_EQ(reader.info().assembled_height, H);
    EXPECT_EQ(reader.info().assembled_width, W);
    EXPECT_TRUE(reader.info().ignored.empty());
  }
  std::vector<double> map(2 * H * W, 0.0);
  for (auto [value, why] : {std::pair{-1.0, "is -1, expected 0 to 65535"}, {65536.0, "is 65536"}}) {
    map[2 * (3 * W + 4) + 1] = value;
    RawFile(path).replace("pixel_index_map", {1, H, W, 2}, H5T_STD_I64LE, map);
    const DatasetReader reader(path);
    EXPECT_TRUE(reader.info().pixel_index_map.empty());
    EXPECT_EQ(reader.info().assembled_height, 0);
    ASSERT_EQ(reader.info().ignored.size(), 1u);
    EXPECT_THAT(reader.info().ignored[0], HasSubstr("pixel (row 3, column 4) component 1 " + std::string(why)));
  }
  RawFile(path).replace("pixel_index_map", {1, H, W, 2}, H5T_IEEE_F64LE);
  EXPECT_THAT(DatasetReader(path).info().ignored.at(0), HasSubstr("has type float64, expected integers"));
  RawFile(path).remove("pixel_index_map");
  const DatasetReader reader(path);
  EXPECT_TRUE(reader.info().pixel_index_map.empty());
  EXPECT_TRUE(reader.info().ignored.empty());
}

// P panels: images and per-pixel arrays are panel-major, and errors name the panel.
TEST(Dataset, SeveralPanels) {
  constexpr int P = 4, h = H / 2, w = W / 2;
  DatasetInfo info = small_info();
  info.panels = P;
  info.height = h;
  info.width = w;
  for (int p = 0; p < P; ++p)  // quadrants of the small detector, as an index map says
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) {
        const std::size_t i = std::size_t((p * h + r) * w + c);
        info.pixel_index_map[2 * i] = (p / 2) * h + r;
        info.pixel_index_map[2 * i + 1] = (p % 2) * w + c;
      }
  TempDir dir;
  const std::string good = dir.file("good.h5");
  write_dataset(good, info, small_images());
  EXPECT_THAT(describe(good), HasSubstr("of 4 panels of 8 x 6 pixels"));
  EXPECT_THAT(describe(good), HasSubstr("index map     assembles a 16 x 12 picture"));
  std::vector<float> images = small_images();
  images[(5 * P + 2) * h * w + 3 * w + 1] = -1.0f;  // image 5, panel 2, row 3, column 1
  const std::string path = dir.file("panels.h5");
  write_dataset(path, info, images);
  const DatasetReader reader(path);
  EXPECT_EQ(reader.info().panels, P);
  EXPECT_EQ(reader.info().pixels(), std::size_t(H * W));
  EXPECT_EQ(reader.info().pixel_index_map, info.pixel_index_map);
  EXPECT_EQ(reader.info().assembled_height, H);
  EXPECT_EQ(reader.info().assembled_width, W);
  EXPECT_EQ(reader.info().pixel_position_reciprocal, info.pixel_position_reciprocal);
  std::vector<float> back(5 * H * W);
  reader.read_images(0, 5, back.data());
  EXPECT_EQ(back, std::vector<float>(images.begin(), images.begin() + 5 * H * W));
  reader.read_images(5, 1, back.data());  // a negative value is kept (images.hpp), panel-major
  EXPECT_EQ(back[std::size_t(2 * h * w + 3 * w + 1)], -1.0f);
}

TEST(DatasetErrors, StringInsteadOfNumbers) {
  for (const char* name : {"intensities", "pixel_position_reciprocal"}) {
    TempDir dir;
    const std::string path = write_small(dir);
    RawFile(path).replace_with_string(name);
    const std::string message = error_of([&] { DatasetReader{path}; });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr(std::string("'") + name + "'"));
    EXPECT_THAT(message, HasSubstr("string"));
  }
}

TEST(DatasetErrors, ImageCountAttributeDisagrees) {
  TempDir dir;
  const std::string path = write_small(dir);
  RawFile(path).set_attribute("n_images", double(N + 1));
  const std::string message = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("'n_images'"));
}

// NaN and Inf are bad pixels and negative values intensities (images.hpp): read as stored.
TEST(Dataset, BadAndNegativeValuesReadAsStored) {
  const float values[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), -2.5f};
  for (float value : values) {
    TempDir dir;
    std::vector<float> images = small_images();
    images[(5 * H + 3) * W + 7] = value;  // image 5, row 3, column 7
    const std::string path = write_small(dir, "bad.h5", images);
    const DatasetReader reader(path);
    std::vector<float> buffer(3 * H * W);
    reader.read_images(4, 3, buffer.data());
    const float back = buffer[(1 * H + 3) * W + 7];
    if (std::isnan(value)) EXPECT_TRUE(std::isnan(back));
    else EXPECT_EQ(back, value);
  }
}

// A mask dataset (P,H,W), nonzero = usable, round-trips; the writer stores it as uint8.
TEST(Dataset, MaskRoundTrips) {
  TempDir dir;
  DatasetInfo info = small_info();
  info.mask.assign(info.pixels(), 1);
  info.mask[2 * W + 3] = 0;
  info.mask[0] = 0;
  const std::string path = dir.file("masked.h5");
  write_dataset(path, info, small_images());
  const DatasetReader reader(path);
  EXPECT_EQ(reader.info().mask, info.mask);
  EXPECT_EQ(reader.info().usable_pixels(), info.pixels() - 2);
  EXPECT_THAT(describe(path), HasSubstr(fmt::format("mask          {} of {} pixels usable", info.pixels() - 2, info.pixels())));
}

namespace {

// A mask file as a user makes one: one dataset NAME of `dims` and `type`, value 1 but for
// pixel 5 (0).
std::string mask_file(const TempDir& dir, std::vector<hsize_t> dims, hid_t type = H5T_STD_U8LE,
                      const char* name = "mask") {
  const std::string path = dir.file(std::string("mask_") + name + std::to_string(dims.size()) + ".h5");
  const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::size_t n = 1;
  for (auto v : dims) n *= v;
  std::vector<double> values(n, 1.0);
  values[5] = 0;
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(d), H5Sclose(space), H5Fclose(f);
  return path;
}

OpenOptions with_mask(const std::string& path) {
  OpenOptions o;
  o.mask = path;
  return o;
}

}  // namespace

// --mask FILE: (H,W) or (P,H,W) of integers, nonzero = usable, on top of the file's mask;
// a wrong shape, a missing dataset or floats are errors naming the mask file.
TEST(Dataset, MaskFileAppliesOrNamesTheProblem) {
  TempDir dir;
  const std::string data = write_small(dir);
  const auto file = open_images(data, with_mask(mask_file(dir, {hsize_t(H), hsize_t(W)})));
  EXPECT_EQ(file->info().usable_pixels(), std::size_t(H * W - 1));
  EXPECT_EQ(file->info().mask[5], 0);
  EXPECT_EQ(open_images(data, with_mask(mask_file(dir, {1, hsize_t(H), hsize_t(W)}, H5T_STD_I32LE)))->info().mask[5], 0);
  const std::string wrong = mask_file(dir, {hsize_t(H + 1), hsize_t(W)});
  std::string message = error_of([&] { open_images(data, with_mask(wrong)); });
  EXPECT_THAT(message, HasSubstr(wrong));
  EXPECT_THAT(message, HasSubstr(fmt::format("expected (1, {}, {}) (P,H,W) or (H,W)", H, W)));
  const std::string other = mask_file(dir, {hsize_t(H), hsize_t(W)}, H5T_STD_U8LE, "bad_pixels");
  EXPECT_THAT(error_of([&] { open_images(data, with_mask(other)); }), HasSubstr("dataset 'mask': missing"));
  const std::string floats = mask_file(dir, {hsize_t(H), hsize_t(W)}, H5T_IEEE_F32LE);
  EXPECT_THAT(error_of([&] { open_images(data, with_mask(floats)); }), HasSubstr("not a dataset of integers"));
  EXPECT_THAT(error_of([&] { open_images(data, with_mask(dir.file("none.h5"))); }), HasSubstr("no such file"));
}

TEST(DatasetErrors, NonFiniteGeometry) {
  TempDir dir;
  DatasetInfo info = small_info();
  info.pixel_position_reciprocal[3 * (2 * W + 1) + 2] = std::numeric_limits<float>::quiet_NaN();
  const std::string path = dir.file("geometry.h5");
  write_dataset(path, info, small_images());
  const std::string message = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(message, HasSubstr("'pixel_position_reciprocal'"));
  EXPECT_THAT(message, HasSubstr("pixel (row 2, column 1) component 2"));
}

// Pixel positions in 1/Angstrom (|q| ~ 0.01-1) instead of 1/m (~1e8-1e10): the reader says
// so instead of running with a 1e10 times too coarse grid.
TEST(DatasetErrors, PixelPositionsNotInInverseMetres) {
  TempDir dir;
  const std::string path = write_small(dir);
  const DatasetInfo want = small_info();
  std::vector<double> per_angstrom(want.pixel_position_reciprocal.begin(), want.pixel_position_reciprocal.end());
  for (double& q : per_angstrom) q *= 1e-10;
  RawFile(path).replace("pixel_position_reciprocal", {1, H, W, 3}, H5T_IEEE_F64LE, per_angstrom);
  const std::string message = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("pixel_position_reciprocal looks like it is not in 1/m (max |q| = 0.01"));
  // 1/nm is as wrong (|q| 10x larger than in 1/A, still far below 1e6 1/m).
  for (double& q : per_angstrom) q *= 10;
  RawFile(path).replace("pixel_position_reciprocal", {1, H, W, 3}, H5T_IEEE_F64LE, per_angstrom);
  EXPECT_THAT(error_of([&] { DatasetReader{path}; }), HasSubstr("not in 1/m"));
}

// A float64 value beyond float32's range is named as such, not reported as "inf".
TEST(DatasetErrors, Float64BeyondFloat32) {
  TempDir dir;
  const std::string path = write_small(dir);
  const std::vector<float> floats = small_images();
  std::vector<double> images(floats.begin(), floats.end());
  images[5 * H * W + 3 * W + 7] = 1e300;
  RawFile(path).replace("intensities", {N, 1, H, W}, H5T_IEEE_F64LE, images);
  {
    const DatasetReader reader(path);
    std::vector<float> buffer(N * H * W);
    const std::string message = error_of([&] { reader.read_images(0, N, buffer.data()); });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr("'intensities'"));
    EXPECT_THAT(message, HasSubstr("image 5 pixel (row 3, column 7): value 1e+300 does not fit in float32"));
    EXPECT_THAT(message, Not(HasSubstr("inf")));
  }

  const DatasetInfo want = small_info();
  std::vector<double> q(want.pixel_position_reciprocal.begin(), want.pixel_position_reciprocal.end());
  q[3 * (2 * W + 1) + 1] = -1e300;
  RawFile(path).replace("pixel_position_reciprocal", {1, H, W, 3}, H5T_IEEE_F64LE, q);
  const std::string geometry = error_of([&] { DatasetReader{path}; });
  EXPECT_THAT(geometry, HasSubstr("'pixel_position_reciprocal'"));
  EXPECT_THAT(geometry, HasSubstr("pixel (row 2, column 1) component 1: value -1e+300 does not fit in float32"));
}

// --- atomic writing -------------------------------------------------------------------

TEST(DatasetWrite, LeavesNoTemporaryFile) {
  TempDir dir;
  write_small(dir);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"data.h5"});
}

// A temporary file of the same name left by a killed writer (its pid no longer alive) is
// removed; one of a live process is left alone.
TEST(DatasetWrite, RemovesStaleTemporaryFiles) {
  TempDir dir;
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const std::string stale = dir.file("data.h5.tmp-" + std::to_string(dead));
  const std::string live = dir.file("data.h5.tmp-" + std::to_string(getppid()));
  const std::string other = dir.file("other.h5.tmp-" + std::to_string(dead));
  for (const auto& name : {stale, live, other}) std::ofstream(name) << "partial";
  write_small(dir);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_TRUE(std::filesystem::exists(other));
}

TEST(DatasetWrite, MissingDirectoryFailsCleanly) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/data.h5");
  const std::string message = error_of([&] { write_dataset(path, small_info(), small_images()); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(DatasetWrite, FailedWriteKeepsTheExistingFile) {
  TempDir dir;
  const std::string path = write_small(dir);
  const auto size = std::filesystem::file_size(path);

  // Inconsistent input: rejected before anything is written.
  DatasetInfo bad = small_info();
  bad.pixel_index_map.pop_back();
  EXPECT_THAT(error_of([&] { write_dataset(path, bad, small_images()); }),
              HasSubstr("'pixel_index_map'"));

  // A writer that never got all its images, and one abandoned without finish().
  {
    DatasetWriter writer(path, small_info(false));
    writer.write_images(0, 3, small_images().data());
    const std::string message = error_of([&] { writer.finish(); });
    EXPECT_THAT(message, HasSubstr(path));
    EXPECT_THAT(message, HasSubstr("image 3 was never written"));
  }
  { DatasetWriter abandoned(path, small_info(false)); }

  EXPECT_EQ(dir.entries(), std::vector<std::string>{"data.h5"});
  EXPECT_EQ(std::filesystem::file_size(path), size);
  const DatasetReader reader(path);
  EXPECT_TRUE(reader.has_volume());
  std::vector<float> images(N * H * W);
  reader.read_images(0, N, images.data());
  EXPECT_EQ(images, small_images());
}

TEST(DatasetWrite, ImageCountMustMatch) {
  TempDir dir;
  const std::string path = dir.file("short.h5");
  std::vector<float> images = small_images();
  images.pop_back();
  EXPECT_THAT(error_of([&] { write_dataset(path, small_info(), images); }),
              HasSubstr("'intensities'"));
  EXPECT_TRUE(dir.entries().empty());
}

// --- summary --------------------------------------------------------------------------

// The reference geometry of SPEC.md: 4600 eV, 128 x 128 pixels, 0.08 m wide at 0.2 m,
// 13.8 A at the edge midpoint and 9.9 A at the corner.
TEST(Describe, ReferenceGeometry) {
  constexpr int n = 128;
  constexpr double width = 0.08, distance = 0.2, energy = 4600;
  const double lambda = 12398.419843320026e-10 / energy;  // m
  DatasetInfo info;
  info.n_images = 3;
  info.height = info.width = n;
  info.det_distance = distance;
  info.photon_energy = energy;
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      const double x = (c - (n - 1) / 2.0) * width / n, y = (r - (n - 1) / 2.0) * width / n;
      const double len = std::sqrt(x * x + y * y + distance * distance);
      info.pixel_position_reciprocal.insert(
          info.pixel_position_reciprocal.end(),
          {float(x / len / lambda), float(y / len / lambda), float((distance / len - 1) / lambda)});
      info.pixel_index_map.insert(info.pixel_index_map.end(), {r, c});
    }
  std::vector<float> images(3 * n * n, 0.0f);
  images[0] = 10;  // 10 + 20 + 30 photons over three images: mean 20
  images[n * n + 5] = 20;
  images[2 * n * n + 77] = 30;

  TempDir dir;
  const std::string path = dir.file("reference.h5");
  std::vector<double> orientations = small_orientations();
  orientations.resize(3 * 4);
  write_dataset(path, info, images, orientations);
  const std::string text = describe(path);
  EXPECT_THAT(text, HasSubstr(path));
  EXPECT_THAT(text, HasSubstr("3 of 128 x 128 pixels"));
  EXPECT_THAT(text, HasSubstr("13.8 A at the edge"));
  EXPECT_THAT(text, HasSubstr("9.9 A at the corner"));
  EXPECT_THAT(text, HasSubstr("orientations  present"));
  EXPECT_THAT(text, HasSubstr("volume        absent"));
  EXPECT_THAT(text, HasSubstr("photon_energy 4600 eV"));
  EXPECT_THAT(text, HasSubstr("20 per image"));
}

}  // namespace
}  // namespace spire::io
