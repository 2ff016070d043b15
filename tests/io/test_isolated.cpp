// run_isolated's contract (io/isolated.hpp) on work that returns, throws, crashes and hangs,
// and probe_images on every corrupt file of fuzz/hdf5_findings: inputs on which libhdf5 1.10
// itself crashes or loops (before isolation: `spire info` ended in SIGSEGV or never).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <string>

#include "core/error.hpp"
#include "io/dragonfly.hpp"
#include "io/isolated.hpp"
#include "support.hpp"

namespace spire::io {
namespace {

using namespace std::chrono_literals;

TEST(Isolated, ReturnsWhenTheWorkReturnsAndKeepsItsEffectsToItself) {
  int touched = 0;
  run_isolated("f.h5", 10s, [&] { touched = 1; });
  EXPECT_EQ(touched, 0);  // the child's memory, not ours
}

TEST(Isolated, AnErrorReadsAsWithoutIsolation) {
  EXPECT_EQ(test::error_of([] { run_isolated("f.h5", 10s, [] { fail_in("f.h5", "dataset 'x': missing"); }); }),
            "f.h5: dataset 'x': missing");
}

TEST(Isolated, ACrashIsAnErrorNamingTheFile) {
  for (const int sig : {SIGSEGV, SIGBUS, SIGABRT}) {
    const auto m = test::error_of([&] { run_isolated("bad.h5", 10s, [&] { std::raise(sig); }); });
    EXPECT_EQ(m.rfind("bad.h5: ", 0), 0u) << m;
    EXPECT_NE(m.find(fmt::format("crashed (signal {},", sig)), std::string::npos) << m;
  }
}

TEST(Isolated, AnExitWithoutAMessageIsAnErrorNamingTheFile) {
  const auto m = test::error_of([] { run_isolated("bad.h5", 10s, [] { ::_exit(1); }); });
  EXPECT_EQ(m.rfind("bad.h5: ", 0), 0u) << m;
  EXPECT_NE(m.find("exit code 1, no message"), std::string::npos) << m;
}

TEST(Isolated, WorkPastTheLimitIsStoppedAndNamed) {
  const auto start = std::chrono::steady_clock::now();
  const auto m = test::error_of([] { run_isolated("slow.h5", 1s, [] { for (;;) ::pause(); }); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(m.rfind("slow.h5: ", 0), 0u) << m;
  EXPECT_NE(m.find("did not finish in 1 s"), std::string::npos) << m;
  EXPECT_NE(m.find("SPIRE_PROBE_SECONDS"), std::string::npos) << m;
}

TEST(Isolated, TheLimitComesFromTheEnvironment) {
  ::setenv("SPIRE_PROBE_SECONDS", "7", 1);
  EXPECT_EQ(probe_limit(), 7s);
  ::setenv("SPIRE_PROBE_SECONDS", "soon", 1);
  EXPECT_NE(test::error_of([] { (void)probe_limit(); }).find("SPIRE_PROBE_SECONDS=soon"), std::string::npos);
  ::unsetenv("SPIRE_PROBE_SECONDS");
  EXPECT_EQ(probe_limit(), 120s);
}

// Every file HDF5 1.10 crashes or loops on (docs/fuzzing.md): an error naming the file, in
// seconds, and never a crash of the caller. The photon energy lets the CXI files reach
// their geometry's reads.
TEST(Isolated, CorruptFilesLibhdf5CrashesOnAreErrors) {
  ::setenv("SPIRE_PROBE_SECONDS", "3", 1);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SPIRE_HDF5_FINDINGS)) {
    const std::string path = entry.path().string();
    ++files;
    OpenOptions options;
    options.photon_energy = 6000;
    // "silent-": memory errors only a sanitizer sees; a release build reads on.
    if (entry.path().filename().string().rfind("silent-", 0) == 0) {
      try {
        probe_images(path, options);
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
      }
      continue;
    }
    const auto m = test::error_of([&] { probe_images(path, options); });
    EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << m;
  }
  EXPECT_GE(files, 17);
  const std::string detector = std::string(SPIRE_HDF5_FINDINGS) + "/segv-group-btree-detector-3b6c4848.h5";
  const auto m = test::error_of([&] { run_isolated(detector, 3s, [&] { (void)read_dragonfly_detector(detector); }); });
  EXPECT_EQ(m.rfind(detector + ": ", 0), 0u) << m;
  ::unsetenv("SPIRE_PROBE_SECONDS");
}

}  // namespace
}  // namespace spire::io
