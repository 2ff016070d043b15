// Writers on a full disk (issue 19, item 3): a write that fails part-way through ends in a
// spire::Error naming the file, the temporary file is removed, and the process then exits
// normally. Before the fix, HDF5's exit handler closed the failed file a second time and the
// process died of SIGSEGV after printing the right message.
//
// The disk is "full" through RLIMIT_FSIZE (what `ulimit -f` sets; writes past it fail with
// EFBIG, SIGXFSZ ignored), which needs no privileges. Each case runs in a forked child
// (gtest's EXPECT_EXIT) that exits with code 2 after the error, as `spire` does: the exit
// handlers must not crash.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "io/dataset.hpp"
#include "io/hdf5_file.hpp"
#include "support.hpp"

namespace spire::io {
namespace {

using test::TempDir;

// In the child: files larger than `bytes` cannot be written; run `write`, and exit 2 with its
// error on stderr (0 if nothing failed, which fails the test).
template <typename F>
[[noreturn]] void write_with_file_limit(std::size_t bytes, F&& write) {
  std::signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{bytes, bytes};
  setrlimit(RLIMIT_FSIZE, &limit);
  try {
    write();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::exit(2);
  }
  std::exit(0);
}

bool has_temporary(const TempDir& dir) {
  for (const auto& name : dir.entries())
    if (name.find(".tmp-") != std::string::npos) return true;
  return false;
}

// The layout of `spire simulate`'s output: a few maps, then the images range by range.
void write_images(const std::string& path, std::size_t n) {
  DatasetInfo info;
  info.n_images = n;
  info.height = info.width = 32;
  info.pixel_position_reciprocal.assign(3 * info.pixels(), 1e9f);
  info.pixel_index_map.assign(2 * info.pixels(), 0);
  DatasetWriter writer(path, info);
  const std::vector<float> images(250 * info.pixels(), 1.0f);
  for (std::size_t first = 0; first < n; first += 250)
    writer.write_images(first, std::min<std::size_t>(250, n - first), images.data());
  writer.finish();
}

// A checkpoint-like file: four arrays of `values` doubles and an attribute.
void write_arrays(const std::string& path, std::size_t values) {
  Hdf5Writer w(path);
  const std::vector<double> grid(values, 1.0);
  for (const char* name : {"state/a", "state/b", "state/c", "state/d"})
    w.write<double>(name, grid, {grid.size()});
  w.attribute("", "generation", std::int64_t{3});
  w.finish();
}

// Limits that fail in the middle of the images, and on closing (the last images are still
// in HDF5's chunk cache when the limit is reached).
class DatasetOnFullDisk : public ::testing::TestWithParam<std::size_t> {};

TEST_P(DatasetOnFullDisk, ErrorNamesTheFileNoTemporaryCleanExit) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  EXPECT_EXIT(write_with_file_limit(GetParam(), [&] { write_images(path, 400); }), ::testing::ExitedWithCode(2),
              "error: .*d\\.h5: .*(disk full|No space|too large)");
  EXPECT_FALSE(has_temporary(dir));
  EXPECT_TRUE(dir.entries().empty());
}

INSTANTIATE_TEST_SUITE_P(Limits, DatasetOnFullDisk, ::testing::Values(64 * 1024, 512 * 1024, 1000 * 1024));

// (values per array, file size limit): failing in the first, second and last array (800 kB
// each), and on closing (small arrays stay in HDF5's metadata cache until then).
using Sizes = std::pair<std::size_t, std::size_t>;
class Hdf5FileOnFullDisk : public ::testing::TestWithParam<Sizes> {};

TEST_P(Hdf5FileOnFullDisk, ErrorNamesTheFileNoTemporaryCleanExit) {
  TempDir dir;
  const std::string path = dir.file("checkpoint.h5");
  const auto [values, limit] = GetParam();
  EXPECT_EXIT(write_with_file_limit(limit, [&] { write_arrays(path, values); }), ::testing::ExitedWithCode(2),
              "error: .*checkpoint\\.h5: .*(disk full|No space|too large)");
  EXPECT_TRUE(dir.entries().empty());
}

INSTANTIATE_TEST_SUITE_P(Limits, Hdf5FileOnFullDisk,
                         ::testing::Values(Sizes{100000, 64 * 1024}, Sizes{100000, 1000 * 1024},
                                           Sizes{100000, 3000 * 1024}, Sizes{2000, 40 * 1024}));

// The same writes without a limit succeed (the cases above fail only for the limit).
TEST(WriteFailure, WithoutALimitTheWritesSucceed) {
  TempDir dir;
  write_images(dir.file("d.h5"), 400);
  write_arrays(dir.file("checkpoint.h5"), 100000);
  write_arrays(dir.file("small.h5"), 2000);
  EXPECT_EQ(dir.entries().size(), 3u);
}

}  // namespace
}  // namespace spire::io
