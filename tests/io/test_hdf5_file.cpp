// Small HDF5 files of named arrays and attributes: every type and attribute kind round-trips
// exactly, writes are atomic, and errors name the file and the array or attribute.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <limits>

#include "io/hdf5_file.hpp"
#include "support.hpp"

using namespace spire::io;
using spire::io::test::error_of;
using spire::io::test::TempDir;

TEST(Hdf5File, ArraysAndAttributesRoundTrip) {
  TempDir dir;
  const auto path = dir.file("a.h5");
  const std::vector<double> d = {1.0 / 3, -0.0, std::numeric_limits<double>::denorm_min(), 1e300, 5, 6};
  const std::vector<float> f = {1.5f, -2.25f, 3e-30f};
  const std::vector<std::int64_t> i64 = {-1, std::numeric_limits<std::int64_t>::max()};
  const std::vector<std::int32_t> i32 = {7, -8, 9, 10};
  const std::vector<std::uint8_t> u8 = {0, 255};
  {
    Hdf5Writer w(path);
    w.write<double>("d", d, {2, 3});
    w.write<float>("group/deeper/f", f, {3});
    w.write<std::int64_t>("i64", i64, {2});
    w.write<std::int32_t>("i32", i32, {2, 1, 2});
    w.write<std::uint8_t>("u8", u8, {2});
    w.write<double>("empty", {}, {0});
    w.attribute("", "text", std::string("grid.n = 31\n[unicode] \xc3\xa5"));
    w.attribute("/", "number", 0.1);
    w.attribute("", "integer", std::int64_t{-42});
    w.attribute("group/deeper/f", "unit", "1/m");
    EXPECT_EQ(dir.entries().size(), 1u);  // only the temporary file so far
    EXPECT_EQ(error_of([&] { Hdf5Reader r(path); }).find(path), 0u);
    w.finish();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.h5"});
  const Hdf5Reader r(path);
  EXPECT_EQ(r.read<double>("d", {2, 3}), d);
  EXPECT_EQ(r.read<float>("group/deeper/f", {3}), f);
  EXPECT_EQ(r.read<std::int64_t>("i64", {2}), i64);
  EXPECT_EQ(r.read<std::int32_t>("i32", {2, 1, 2}), i32);
  EXPECT_EQ(r.read<std::uint8_t>("u8", {2}), u8);
  EXPECT_EQ(r.shape("empty"), Shape{0});
  EXPECT_TRUE(r.read<double>("empty", {0}).empty());
  EXPECT_EQ(r.string_attribute("", "text"), "grid.n = 31\n[unicode] \xc3\xa5");
  EXPECT_EQ(r.number_attribute("", "number"), 0.1);
  EXPECT_EQ(r.integer_attribute("", "integer"), -42);
  EXPECT_EQ(r.number_attribute("", "integer"), -42.0);  // an integer is a number too
  EXPECT_EQ(r.string_attribute("group/deeper/f", "unit"), "1/m");
  EXPECT_TRUE(r.has("group/deeper/f"));
  EXPECT_FALSE(r.has("group/other/f"));
  EXPECT_FALSE(r.has_attribute("", "absent"));
  EXPECT_FALSE(r.has_attribute("nowhere", "unit"));
}

TEST(Hdf5File, ErrorsNameTheFileAndTheName) {
  TempDir dir;
  const auto path = dir.file("b.h5");
  {
    Hdf5Writer w(path);
    w.write<double>("x", std::vector<double>{1, 2, 3, 4}, {2, 2});
    w.attribute("", "text", "t");
    EXPECT_NE(error_of([&] { w.write<double>("y", std::vector<double>{1, 2, 3}, {2, 2}); }).find("'y'"), std::string::npos);
    EXPECT_NE(error_of([&] { w.attribute("nowhere", "a", 1.0); }).find("nowhere"), std::string::npos);
    w.finish();
  }
  const Hdf5Reader r(path);
  const auto shape = error_of([&] { r.read<double>("x", {4}); });
  EXPECT_NE(shape.find(path), std::string::npos);
  EXPECT_NE(shape.find("'x'"), std::string::npos);
  EXPECT_NE(shape.find("(2,2)"), std::string::npos);
  EXPECT_NE(error_of([&] { r.read<double>("absent", {1}); }).find("'absent': missing"), std::string::npos);
  EXPECT_NE(error_of([&] { r.string_attribute("", "absent"); }).find("'absent': missing"), std::string::npos);
  EXPECT_NE(error_of([&] { r.integer_attribute("", "text"); }).find("expected an integer"), std::string::npos);
  EXPECT_NE(error_of([&] { r.string_attribute("x", "text"); }).find("missing"), std::string::npos);

  std::ofstream(dir.file("text.h5")) << "not hdf5";
  EXPECT_NE(error_of([&] { Hdf5Reader bad(dir.file("text.h5")); }).find("not an HDF5 file"), std::string::npos);
  EXPECT_NE(error_of([&] { Hdf5Reader bad(dir.file("none.h5")); }).find("none.h5: no such file"), std::string::npos);
}

TEST(Hdf5File, UnfinishedWriterLeavesNothingAndKeepsTheOldFile) {
  TempDir dir;
  const auto path = dir.file("c.h5");
  {
    Hdf5Writer w(path);
    w.write<double>("x", std::vector<double>{1}, {1});
    w.finish();
  }
  {
    Hdf5Writer w(path);
    w.write<double>("x", std::vector<double>{2}, {1});
  }  // an error before finish(): the old file stays, no temporary file is left
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.h5"});
  EXPECT_EQ(Hdf5Reader(path).read<double>("x", {1}), std::vector<double>{1});
  EXPECT_NE(error_of([&] { Hdf5Writer w(dir.file("no/such/dir/d.h5")); }).find("d.h5"), std::string::npos);
}
