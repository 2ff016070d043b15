#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "io/mrc.hpp"
#include "support.hpp"

namespace spire::io {
namespace {

using test::TempDir;
using test::error_of;
using ::testing::HasSubstr;

// Non-cubic, so a swapped axis shows.
Map small_map() {
  Map m;
  m.nx = 5;
  m.ny = 4;
  m.nz = 3;
  m.voxel_size = 1.5;
  m.origin = {-3.75, 2.0, 10.5};
  for (int i = 0; i < m.nx * m.ny * m.nz; ++i) m.data.push_back(0.5f * float(i) - 3.0f);
  return m;
}

std::vector<unsigned char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// MRC2014 words are numbered from 1; the file is little-endian like this host.
std::int32_t word_i32(const std::vector<unsigned char>& b, int word) {
  std::int32_t v;
  std::memcpy(&v, &b[4 * std::size_t(word - 1)], 4);
  return v;
}
float word_f32(const std::vector<unsigned char>& b, int word) {
  float v;
  std::memcpy(&v, &b[4 * std::size_t(word - 1)], 4);
  return v;
}

TEST(Mrc, RoundTripNonCubic) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  write_mrc(path, small_map());
  const Map back = read_mrc(path);
  const Map want = small_map();
  EXPECT_EQ(back.nx, want.nx);
  EXPECT_EQ(back.ny, want.ny);
  EXPECT_EQ(back.nz, want.nz);
  EXPECT_DOUBLE_EQ(back.voxel_size, want.voxel_size);
  EXPECT_EQ(back.origin, want.origin);
  EXPECT_EQ(back.data, want.data);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"map.mrc"});
}

TEST(Mrc, HeaderFollowsMrc2014) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  const Map m = small_map();
  write_mrc(path, m);
  const auto b = bytes_of(path);
  ASSERT_EQ(b.size(), 1024u + 4u * 60u);

  EXPECT_EQ(word_i32(b, 1), 5);  // nx, ny, nz: columns, rows, sections
  EXPECT_EQ(word_i32(b, 2), 4);
  EXPECT_EQ(word_i32(b, 3), 3);
  EXPECT_EQ(word_i32(b, 4), 2);  // mode 2: float32
  EXPECT_EQ(word_i32(b, 5), 0);  // nxstart, nystart, nzstart
  EXPECT_EQ(word_i32(b, 6), 0);
  EXPECT_EQ(word_i32(b, 7), 0);
  EXPECT_EQ(word_i32(b, 8), 5);  // mx, my, mz
  EXPECT_EQ(word_i32(b, 9), 4);
  EXPECT_EQ(word_i32(b, 10), 3);
  EXPECT_EQ(word_f32(b, 11), 7.5f);  // cell in Angstrom = n * voxel size
  EXPECT_EQ(word_f32(b, 12), 6.0f);
  EXPECT_EQ(word_f32(b, 13), 4.5f);
  EXPECT_EQ(word_f32(b, 14), 90.0f);  // cell angles
  EXPECT_EQ(word_f32(b, 15), 90.0f);
  EXPECT_EQ(word_f32(b, 16), 90.0f);
  EXPECT_EQ(word_i32(b, 17), 1);  // mapc, mapr, maps
  EXPECT_EQ(word_i32(b, 18), 2);
  EXPECT_EQ(word_i32(b, 19), 3);

  double mean = 0, var = 0;
  for (float v : m.data) mean += v;
  mean /= double(m.data.size());
  for (float v : m.data) var += (v - mean) * (v - mean);
  EXPECT_EQ(word_f32(b, 20), -3.0f);          // dmin
  EXPECT_EQ(word_f32(b, 21), 0.5f * 59 - 3);  // dmax
  EXPECT_EQ(word_f32(b, 22), float(mean));    // dmean
  EXPECT_EQ(word_i32(b, 23), 1);              // ispg: one volume
  EXPECT_EQ(word_i32(b, 24), 0);              // nsymbt
  EXPECT_EQ(word_i32(b, 28), 20140);          // nversion
  EXPECT_EQ(word_f32(b, 50), -3.75f);         // origin in Angstrom
  EXPECT_EQ(word_f32(b, 51), 2.0f);
  EXPECT_EQ(word_f32(b, 52), 10.5f);
  EXPECT_EQ(std::string(b.begin() + 208, b.begin() + 212), "MAP ");  // word 53
  EXPECT_EQ(b[212], 0x44);  // word 54: little-endian machine stamp
  EXPECT_EQ(b[213], 0x44);
  EXPECT_EQ(b[214], 0x00);
  EXPECT_EQ(b[215], 0x00);
  EXPECT_FLOAT_EQ(word_f32(b, 55), float(std::sqrt(var / double(m.data.size()))));  // rms
  EXPECT_EQ(word_i32(b, 56), 1);                                                    // one label
  EXPECT_EQ(std::string(b.begin() + 224, b.begin() + 229), "spire");

  // Data right after the header, x fastest.
  float first, second_row;
  std::memcpy(&first, &b[1024], 4);
  std::memcpy(&second_row, &b[1024 + 4 * 5], 4);
  EXPECT_EQ(first, m.data[0]);
  EXPECT_EQ(second_row, m.data[5]);
}

// Labels: "spire <version>" first, then the map's, read back; an old "spire" label is not
// repeated; a label over 80 characters is refused. A whole-voxel origin also goes into
// NXSTART..NZSTART (the origin words stay the reference: Chimera's convention).
TEST(Mrc, LabelsAndStartIndices) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  Map m = small_map();
  m.origin = {-3.0, 4.5, 0.0};  // -2, 3, 0 voxels
  m.labels = {"spire 0.0 (an older writer)", "first label", std::string(80, 'x')};
  write_mrc(path, m);
  const auto b = bytes_of(path);
  EXPECT_EQ(word_i32(b, 5), -2);
  EXPECT_EQ(word_i32(b, 6), 3);
  EXPECT_EQ(word_i32(b, 7), 0);
  EXPECT_EQ(word_f32(b, 50), -3.0f);
  EXPECT_EQ(word_i32(b, 56), 3);
  const Map back = read_mrc(path);
  ASSERT_EQ(back.labels.size(), 3u);
  EXPECT_THAT(back.labels[0], HasSubstr("spire "));
  EXPECT_EQ(back.labels[1], "first label");
  EXPECT_EQ(back.labels[2], std::string(80, 'x'));
  EXPECT_EQ(back.origin, m.origin);
  write_mrc(path, back);  // read and written again: still one spire label
  EXPECT_EQ(read_mrc(path).labels.size(), 3u);

  m.labels = {std::string(81, 'y')};
  EXPECT_THAT(error_of([&] { write_mrc(dir.file("long.mrc"), m); }), HasSubstr("at most 80"));
  m.labels = {"tab\there"};
  EXPECT_THAT(error_of([&] { write_mrc(dir.file("tab.mrc"), m); }), HasSubstr("printable"));
}

TEST(Mrc, ReadsBigEndianFiles) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  write_mrc(path, small_map());
  auto b = bytes_of(path);
  for (std::size_t i = 0; i < b.size(); i += 4) {
    if (i == 208 || i == 212) continue;  // the tag is text; the stamp is set below
    std::swap(b[i], b[i + 3]);
    std::swap(b[i + 1], b[i + 2]);
  }
  for (std::size_t i = 224; i < 304; i += 4) {  // labels are text too: swap back
    std::swap(b[i], b[i + 3]);
    std::swap(b[i + 1], b[i + 2]);
  }
  b[212] = b[213] = 0x11;
  write_bytes(path, b);
  const Map back = read_mrc(path);
  EXPECT_EQ(back.data, small_map().data);
  EXPECT_EQ(back.origin, small_map().origin);
  EXPECT_DOUBLE_EQ(back.voxel_size, 1.5);
}

TEST(Mrc, TruncatedFileIsAnError) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  write_mrc(path, small_map());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  const std::string message = error_of([&] { read_mrc(path); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("truncated"));

  std::filesystem::resize_file(path, 100);
  EXPECT_THAT(error_of([&] { read_mrc(path); }), HasSubstr("too short"));
}

TEST(Mrc, CorruptHeaderIsAnError) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  write_mrc(path, small_map());
  const auto good = bytes_of(path);

  auto b = good;
  b[208] = 'X';
  write_bytes(path, b);
  EXPECT_THAT(error_of([&] { read_mrc(path); }), HasSubstr("not an MRC map"));

  b = good;
  b[12] = 1;  // mode 1: 16-bit integers
  write_bytes(path, b);
  std::string message = error_of([&] { read_mrc(path); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("mode 1"));

  b = good;
  b[4 * 16] = 3;  // mapc 3
  b[4 * 18] = 1;  // maps 1
  write_bytes(path, b);
  EXPECT_THAT(error_of([&] { read_mrc(path); }), HasSubstr("axis order"));

  const std::string text = dir.file("notes.mrc");
  std::ofstream(text) << std::string(2000, 'a');
  message = error_of([&] { read_mrc(text); });
  EXPECT_THAT(message, HasSubstr(text));
  EXPECT_THAT(message, HasSubstr("not an MRC map"));
}

TEST(Mrc, MissingFileIsAnError) {
  TempDir dir;
  const std::string path = dir.file("absent.mrc");
  const std::string message = error_of([&] { read_mrc(path); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("no such file"));
}

TEST(Mrc, FailedWriteKeepsTheExistingFile) {
  TempDir dir;
  const std::string path = dir.file("map.mrc");
  write_mrc(path, small_map());
  const auto good = bytes_of(path);

  Map bad = small_map();
  bad.data.pop_back();
  EXPECT_THAT(error_of([&] { write_mrc(path, bad); }), HasSubstr(path));
  EXPECT_EQ(bytes_of(path), good);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"map.mrc"});

  const std::string nowhere = dir.file("no/such/dir/map.mrc");
  const std::string message = error_of([&] { write_mrc(nowhere, small_map()); });
  EXPECT_THAT(message, HasSubstr(nowhere));
  EXPECT_THAT(message, HasSubstr("No such file or directory"));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"map.mrc"});
}

}  // namespace
}  // namespace spire::io
