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
  EXPECT_EQ(s.orientations.metric, MetricChoice::poisson);
  EXPECT_EQ(s.orientations.scale, spire::matching::Scale::none);
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

// What a resumed run may change: only settings that cannot change the result.
TEST(Settings, ResultNeutralSettingsAndDifferences) {
  EXPECT_FALSE(changes_result("runtime.threads"));
  EXPECT_FALSE(changes_result("generations.max"));
  EXPECT_FALSE(changes_result("output.every_generation"));
  EXPECT_TRUE(changes_result("merging.tolerance"));
  EXPECT_TRUE(changes_result("runtime.seed"));
  EXPECT_TRUE(changes_result("data.images"));
  const Settings a = load_settings("", {});
  EXPECT_TRUE(a.output.every_generation);
  const Settings b = load_settings("", {"runtime.threads=3", "generations.max=7", "output.every_generation=false"});
  EXPECT_TRUE(result_differences(a, b).empty());
  const Settings c = load_settings("", {"grid.n=31", "runtime.threads=3"});
  const auto d = result_differences(a, c);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "grid.n");
  EXPECT_EQ(d[0].a, "81");
  EXPECT_EQ(d[0].b, "31");
  // Every difference, neutral ones too (report.html: what a run changed from the defaults).
  const auto all = differences(Settings{}, c);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].key, "grid.n");
  EXPECT_EQ(all[1].key, "runtime.threads");
  EXPECT_EQ(all[1].a, "0");
  EXPECT_EQ(all[1].b, "3");
  EXPECT_NE(schema_toml().find("[output]\nevery_generation = true"), std::string::npos);
  // Settings from text, as a checkpoint keeps them, with overrides on top.
  const Settings t = load_settings_text(to_toml(c), "checkpoint.h5", {"generations.max=9"});
  EXPECT_EQ(t.grid.n, 31);
  EXPECT_EQ(t.generations.max, 9);
  try {
    load_settings_text("[grid]\nn = 30\n", "ckpt.h5 (its settings)");
    ADD_FAILURE() << "an even grid was accepted";
  } catch (const spire::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt.h5 (its settings)"), std::string::npos) << e.what();
  }
}
