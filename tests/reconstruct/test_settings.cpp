// The settings schema: defaults, file, overrides, and errors that name file and key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.hpp"
#include "reconstruct/settings.hpp"

using namespace spire::reconstruct;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("spire_settings_" + std::to_string(::getpid()) + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::string& path, const std::vector<std::string>& overrides) {
  try {
    load_settings(path, overrides);
  } catch (const spire::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Settings, DefaultsFileAndOverrides) {
  const Settings d = load_settings("", {});
  EXPECT_EQ(d.grid.n, 81);
  EXPECT_EQ(d.orientations.references, 10000);
  const auto path = write_file("a.toml", "[grid]\nn = 41\n[merging]\nregularisation = 0.01\n[orientations]\nmetric = \"poisson\"\n");
  const Settings s = load_settings(path, {"grid.n=31", "orientations.scale=none", "generations.max=3", "merging.regularisation=1"});
  EXPECT_EQ(s.grid.n, 31);  // the command line wins over the file
  EXPECT_EQ(s.orientations.metric, "poisson");
  EXPECT_EQ(s.orientations.scale, "none");
  EXPECT_EQ(s.generations.max, 3);
  EXPECT_DOUBLE_EQ(s.merging.regularisation, 1.0);  // an integer where a number is expected
  std::filesystem::remove(path);
}

TEST(Settings, SchemaRoundTripsThroughItsOwnToml) {
  const auto path = write_file("schema.toml", schema_toml());
  const Settings s = load_settings(path, {});
  EXPECT_EQ(to_toml(s), to_toml(Settings{}));
  std::filesystem::remove(path);
}

TEST(Settings, ErrorsNameTheFileAndTheKey) {
  const auto unknown = write_file("u.toml", "[grid]\nsize = 3\n");
  EXPECT_NE(error_of(unknown, {}).find("grid.size"), std::string::npos);
  EXPECT_NE(error_of(unknown, {}).find(unknown), std::string::npos);
  const auto even = write_file("e.toml", "[grid]\nn = 80\n");
  EXPECT_NE(error_of(even, {}).find("odd"), std::string::npos);
  const auto type = write_file("t.toml", "[grid]\nn = \"big\"\n");
  EXPECT_NE(error_of(type, {}).find("wrong type"), std::string::npos);
  const auto broken = write_file("b.toml", "[grid\nn = 3\n");
  EXPECT_NE(error_of(broken, {}).find(broken), std::string::npos);
  EXPECT_NE(error_of("/no/such/settings.toml", {}).find("/no/such/settings.toml"), std::string::npos);
  EXPECT_NE(error_of("", {"orientations.metric=cosine"}).find("not one of"), std::string::npos);
  EXPECT_NE(error_of("", {"orientations.references=-5"}).find("outside"), std::string::npos);
  EXPECT_NE(error_of("", {"gridn=5"}).find("section.key=value"), std::string::npos);
  EXPECT_NE(error_of("", {"merging.regularisation=nan"}).find("merging.regularisation"), std::string::npos);
  for (const auto& p : {unknown, even, type, broken}) std::filesystem::remove(p);
}
