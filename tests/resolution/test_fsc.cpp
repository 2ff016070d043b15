// Fourier shell correlation: the identities (self, independent), the noisy-copy theory,
// the resolution of a low-pass copy, units, and the CSV file (the plots: tests/plot).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "maps.hpp"
#include "resolution/fsc.hpp"

using namespace spire::resolution;
using namespace spire::resolution::test;

namespace {

std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() /
           ("spire-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

TEST(Fsc, MapWithItselfIsOneInEveryShell) {
  const int n = 31;
  const auto m = white(n, 1);
  const FscCurve c = fsc<double>(n, m, m);
  ASSERT_EQ(c.fsc.size(), static_cast<std::size_t>(n / 2 + 1));
  for (std::size_t s = 0; s < c.fsc.size(); ++s) EXPECT_NEAR(c.fsc[s], 1.0, 1e-12) << s;
  EXPECT_EQ(c.voxels[0], 1);
  EXPECT_EQ(c.voxels[1], 6 + 12 + 8 - 8);  // |k| = 1, sqrt 2 round to 1; sqrt 3 rounds to 2
  EXPECT_FALSE(c.crossing(0.5).has_value());
  const auto f = std::vector<float>(m.begin(), m.end());
  const FscCurve cf = fsc<float>(n, f, f);
  for (double v : cf.fsc) EXPECT_NEAR(v, 1.0, 1e-5);
}

TEST(Fsc, IndependentRandomMapsAreUncorrelated) {
  const int n = 41;
  const FscCurve c = fsc<double>(n, white(n, 2), white(n, 3));
  int within = 0;
  for (std::size_t s = 1; s < c.fsc.size(); ++s) {
    within += std::abs(c.fsc[s]) < 4 / std::sqrt(static_cast<double>(c.voxels[s]));
    EXPECT_LT(std::abs(c.fsc[s]), 0.5) << s;
  }
  EXPECT_GE(within, static_cast<int>(0.9 * static_cast<double>(c.fsc.size() - 1)));
}

// Two copies of a signal with independent noise: FSC = SNR / (1 + SNR) per shell; the signal
// against one copy: sqrt(SNR / (1 + SNR)).
TEST(Fsc, NoisyCopiesFollowTheSnrTheory) {
  const int n = 41;
  const double width = 8, noise_var = 0.05;
  auto h = [width](double k) { return std::exp(-k * k / (2 * width * width)); };
  const auto signal = filtered(n, white(n, 4), h);
  auto noisy = [&](unsigned seed) {
    auto m = white(n, seed, std::sqrt(noise_var));
    for (std::size_t i = 0; i < m.size(); ++i) m[i] += signal[i];
    return m;
  };
  const auto a = noisy(5), b = noisy(6);
  const FscCurve halves = fsc<double>(n, a, b), one = fsc<double>(n, signal, a);
  // Expected SNR per shell: E|S|^2 / E|N|^2 = mean of h^2 over the shell / noise variance.
  std::vector<double> h2(n / 2 + 1, 0.0);
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const double k = kabs(n, x, y, z);
        const auto s = static_cast<std::size_t>(std::lround(k));
        if (s < h2.size()) h2[s] += h(k) * h(k);
      }
  double worst = 0;
  for (std::size_t s = 2; s < h2.size(); ++s) {
    const double snr = h2[s] / static_cast<double>(halves.voxels[s]) / noise_var;
    const double theory = snr / (1 + snr);
    const double tol = 4 * std::sqrt(2.0 / static_cast<double>(halves.voxels[s])) * (1 - theory) + 0.01;
    EXPECT_NEAR(halves.fsc[s], theory, tol) << "shell " << s << " snr " << snr;
    EXPECT_NEAR(one.fsc[s], std::sqrt(theory), tol) << "shell " << s;
    worst = std::max(worst, std::abs(halves.fsc[s] - theory));
  }
  std::printf("largest |FSC - SNR/(1+SNR)| over shells 2..%d: %.4f\n", n / 2, worst);
}

TEST(Fsc, LowPassCopyResolvesAtItsCutoff) {
  const int n = 41;
  const auto m = white(n, 7);
  for (int s0 : {5, 10, 15}) {
    const auto low = filtered(n, m, [s0](double k) { return std::lround(k) <= s0 ? 1.0 : 0.0; });
    const FscCurve c = fsc<double>(n, m, low);
    for (int s = 0; s <= s0; ++s) EXPECT_NEAR(c.fsc[s], 1.0, 1e-9);
    for (int s = s0 + 1; s <= n / 2; ++s) EXPECT_NEAR(c.fsc[s], 0.0, 1e-9);
    ASSERT_TRUE(c.crossing(0.5).has_value());
    EXPECT_NEAR(*c.crossing(0.5), s0 + 0.5, 1e-6);
    EXPECT_NEAR(*c.crossing(0.143), s0 + 0.857, 1e-6);
  }
}

TEST(Fsc, CrossingInterpolatesLinearly) {
  FscCurve c;
  c.n = 9;
  c.fsc = {1.0, 0.9, 0.6, 0.4, 0.1};
  c.voxels = {1, 18, 62, 98, 210};
  EXPECT_NEAR(*c.crossing(0.5), 2.5, 1e-12);
  EXPECT_NEAR(*c.crossing(0.143), 3 + (0.4 - 0.143) / 0.3, 1e-12);
  EXPECT_FALSE(c.crossing(0.05).has_value());
}

TEST(Fsc, ResolutionIsAlwaysANumberFlaggedAtTheGridEdge) {
  FscCurve c;
  c.n = 9;
  c.fsc = {1.0, 0.9, 0.6, 0.4, 0.1};
  c.voxels = {1, 18, 62, 98, 210};
  const double voxel = 3.0;  // d(s) = 27 / s A
  const auto half = resolution_at(c, voxel, 0.5);
  EXPECT_FALSE(half.beyond_grid_edge);
  EXPECT_NEAR(half.angstrom, 27 / 2.5, 1e-12);
  EXPECT_EQ(describe(half), "10.8 A");
  const auto never = resolution_at(c, voxel, 0.05);
  EXPECT_TRUE(never.beyond_grid_edge);
  EXPECT_NEAR(never.angstrom, 27 / 4.0, 1e-12);  // shell n/2 = 4
  EXPECT_EQ(describe(never), "beyond the grid edge (better than 6.8 A)");
}

// Maps that do not correlate even at the lowest frequency (zero-mean maps: FSC 0 at shell 0,
// then below the threshold) have no resolution; it was reported as "inf A".
TEST(Fsc, NoCorrelationFromTheFirstShellIsAFiniteNumberNotInf) {
  FscCurve c;
  c.n = 9;
  c.fsc = {0.0, -0.1, 0.05, -0.02, 0.01};
  c.voxels = {1, 18, 62, 98, 210};
  const auto r = resolution_at(c, 3.0, 0.5);
  EXPECT_TRUE(std::isfinite(r.angstrom));
  EXPECT_NEAR(r.angstrom, 27.0, 1e-12);  // d(1): the box
  EXPECT_FALSE(r.beyond_grid_edge);
  EXPECT_EQ(describe(r), "none (below the threshold from the first shell: worse than 27.0 A)");
  // Opposite signs at shell 0 (one map negated) do not interpolate across the DC term either.
  c.fsc = {-1.0, 0.2, 0.1, 0.0, 0.0};
  EXPECT_NEAR(resolution_at(c, 3.0, 0.5).angstrom, 27.0, 1e-12);
}

TEST(Fsc, UnitsFromRealOrReciprocalVoxel) {
  const int n = 81;
  const double voxel = 2.0;  // A
  EXPECT_NEAR(shell_resolution(n, voxel, 40.5), 4.0, 1e-12);
  EXPECT_NEAR(shell_frequency(n, voxel, 40.5), 0.25, 1e-12);
  const double dk = 1.0 / (n * voxel);
  EXPECT_NEAR(voxel_from_reciprocal(n, dk), voxel, 1e-12);
  EXPECT_TRUE(std::isinf(shell_resolution(n, voxel, 0)));
  EXPECT_THROW(voxel_from_reciprocal(n, 0.0), spire::Error);
}

TEST(Fsc, WritesCsvAtomically) {
  const int n = 21;
  const auto m = white(n, 8);
  const auto low = filtered(n, m, [](double k) { return std::exp(-k * k / 50); });
  const FscCurve c = fsc<double>(n, m, low);
  const auto dir = temp_dir("fsc");
  const std::vector<NamedCurve> one{{"", c}};
  write_fsc_csv((dir / "fsc.csv").string(), one, 3.0);

  std::ifstream in(dir / "fsc.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "shell,frequency_inv_angstrom,resolution_angstrom,fsc,voxels");
  int rows = 0;
  while (std::getline(in, line)) {
    int shell = 0;
    double f = 0, d = 0, v = 0;
    long long voxels = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lld", &shell, &f, &d, &v, &voxels), 5)
        << line;
    EXPECT_EQ(shell, rows);
    EXPECT_NEAR(f, shell / (n * 3.0), 1e-6);
    if (shell > 0) {
      EXPECT_NEAR(d, n * 3.0 / shell, 1e-5);
    }
    EXPECT_NEAR(v, c.fsc[shell], 1e-6);
    EXPECT_EQ(voxels, c.voxels[shell]);
    ++rows;
  }
  EXPECT_EQ(rows, n / 2 + 1);

  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();  // none left
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_THROW(write_fsc_csv((dir / "no-such-dir" / "x.csv").string(), one, 3.0), spire::Error);

  // Two named curves: one column each, in order; curves of another grid are refused.
  const FscCurve same = fsc<double>(n, m, m);
  const std::vector<NamedCurve> two{{"reference", c}, {"half_data", same}};
  write_fsc_csv((dir / "two.csv").string(), two, 3.0);
  std::ifstream in2(dir / "two.csv");
  std::getline(in2, line);
  EXPECT_EQ(line, "shell,frequency_inv_angstrom,resolution_angstrom,fsc_reference,fsc_half_data,voxels");
  std::getline(in2, line);
  std::getline(in2, line);  // shell 1
  int shell = 0;
  double f = 0, d = 0, v1 = 0, v2 = 0;
  long long voxels = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lld", &shell, &f, &d, &v1, &v2, &voxels), 6) << line;
  EXPECT_NEAR(v1, c.fsc[1], 1e-6);
  EXPECT_NEAR(v2, 1.0, 1e-6);
  const std::vector<NamedCurve> mixed{{"a", c}, {"b", fsc<double>(n + 2, white(n + 2, 1), white(n + 2, 2))}};
  EXPECT_THROW(write_fsc_csv((dir / "mixed.csv").string(), mixed, 3.0), spire::Error);
  EXPECT_THROW(write_fsc_csv((dir / "none.csv").string(), std::span<const NamedCurve>(), 3.0), spire::Error);
  std::filesystem::remove_all(dir);
}

TEST(Fsc, RejectsMismatchedMaps) {
  EXPECT_THROW(fsc<double>(5, std::vector<double>(125), std::vector<double>(124)), spire::Error);
}
