// The cases of real data spire simulate makes (simulate.hpp): per-image fluence in a
// Gaussian focus, panels with a gap, a beamstop, NaN bad pixels; each against its own
// independent statement (analytic distribution, the one-panel file, pixel geometry).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <set>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "simulate/simulate.hpp"

using namespace spire;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("spire_real_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Small, fast settings: no reference volume, enough photons that images are not empty.
simulate::SimulationSettings small(std::int64_t images, std::int64_t pixels) {
  simulate::SimulationSettings st;
  st.n_images = images;
  st.detector_pixels = pixels;
  st.volume_size = 0;
  st.seed = 11;
  st.beam.photons_per_pulse = 1e14;
  st.beam.radius_m = 0.1e-6;
  return st;
}

// A simulated file read back: its geometry and every image.
struct Read {
  io::DatasetInfo info;
  std::vector<float> images;
};

Read simulate_and_read(const simulate::SimulationSettings& st, const std::string& name) {
  const std::string path = temp_path(name);
  simulate::simulate_dataset(st, path, "test");
  io::DatasetReader reader(path);
  Read r{reader.info(), std::vector<float>(reader.info().n_images * reader.info().pixels())};
  reader.read_images(0, r.info.n_images, r.images.data());
  std::filesystem::remove(path);
  return r;
}

// f = exp(-a u), u uniform on [0, 1]: the k-th moment (1 - e^-ka) / (ka).
double moment(double a, int k) { return (1 - std::exp(-k * a)) / (k * a); }

}  // namespace

TEST(FluenceFactors, FollowTheGaussianFocusOverAUniformDisc) {
  auto st = small(2000, 8);
  EXPECT_EQ(simulate::fluence_factors(st), std::vector<double>(2000, 1.0));  // off
  st.focus_fwhm = 1e-6;
  for (double radius : {0.0, 0.5e-6, 2e-6}) {  // 0: the FWHM
    st.position_radius = radius;
    const double R = radius > 0 ? radius : st.focus_fwhm;
    const double a = 4 * std::numbers::ln2 * (R / st.focus_fwhm) * (R / st.focus_fwhm);
    const auto f = simulate::fluence_factors(st);
    double sum = 0, squares = 0;
    for (double v : f) {
      ASSERT_LE(v, 1.0);
      ASSERT_GE(v, std::exp(-a));
      sum += v, squares += v * v;
    }
    const double n = double(f.size()), mean = sum / n, mean_square = squares / n;
    const double sd = std::sqrt(moment(a, 2) - moment(a, 1) * moment(a, 1));
    const double sd_of_square = std::sqrt(moment(a, 4) - moment(a, 2) * moment(a, 2));
    std::cout << "R/fwhm " << R / st.focus_fwhm << ": mean " << mean << " (analytic " << moment(a, 1)
              << "), mean square " << mean_square << " (" << moment(a, 2) << ")\n";
    EXPECT_NEAR(mean, moment(a, 1), 4 * sd / std::sqrt(n));
    EXPECT_NEAR(mean_square, moment(a, 2), 4 * sd_of_square / std::sqrt(n));
  }
  auto other = st;
  other.seed = 12;
  EXPECT_NE(simulate::fluence_factors(st), simulate::fluence_factors(other));
  EXPECT_EQ(simulate::fluence_factors(st), simulate::fluence_factors(st));
}

// Without noise an image is the nominal one times its factor; with Poisson noise its photon
// sum over factor x nominal sum is 1 within the Poisson error of that sum.
TEST(SimulateRealData, ImagesScaleWithTheirFluence) {
  auto st = small(200, 16);
  st.poisson_noise = false;
  const Read nominal = simulate_and_read(st, "nominal.h5");
  EXPECT_TRUE(nominal.info.fluences.empty());
  st.focus_fwhm = 1e-6;
  const auto f = simulate::fluence_factors(st);
  const Read scaled = simulate_and_read(st, "scaled.h5");
  ASSERT_EQ(scaled.info.fluences.size(), 200u);
  st.poisson_noise = true;
  const Read noisy = simulate_and_read(st, "noisy.h5");
  const std::size_t P = nominal.info.pixels();
  double chi2 = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    EXPECT_DOUBLE_EQ(scaled.info.fluences[i], f[i] * 1e14);
    double expected = 0, counted = 0;
    for (std::size_t p = 0; p < P; ++p) {
      EXPECT_NEAR(scaled.images[i * P + p], nominal.images[i * P + p] * f[i], 1e-6 * nominal.images[i * P + p]);
      expected += nominal.images[i * P + p] * f[i];
      counted += noisy.images[i * P + p];
    }
    ASSERT_GT(expected, 50);
    const double z = (counted - expected) / std::sqrt(expected);
    EXPECT_LT(std::abs(z), 5) << "image " << i;
    chi2 += z * z;
  }
  // Mean z^2 of 200 standard normals: 1 +- 0.1 (five standard errors 0.5).
  std::cout << "mean z^2 of the photon sums against factor x nominal: " << chi2 / 200 << "\n";
  EXPECT_NEAR(chi2 / 200, 1.0, 0.5);
}

// Beamstop pixels: |x, y| <= radius x pitch, counted here from the square's (row, column);
// they read 0 and are masked; the other pixels are the file's without a beamstop.
TEST(SimulateRealData, BeamstopPixelsReadZeroAndAreMasked) {
  auto st = small(5, 20);
  st.poisson_noise = false;
  const Read open = simulate_and_read(st, "open.h5");
  st.beamstop_radius = 3.2;
  const Read stopped = simulate_and_read(st, "stopped.h5");
  ASSERT_EQ(stopped.info.mask.size(), 400u);
  std::size_t behind = 0;
  for (std::size_t p = 0; p < 400; ++p) {
    const double dx = double(p % 20) - 9.5, dy = double(p / 20) - 9.5;
    const bool shadowed = std::hypot(dx, dy) <= 3.2;
    behind += shadowed;
    EXPECT_EQ(stopped.info.mask[p], shadowed ? 0 : 1) << p;
    for (std::size_t i = 0; i < 5; ++i)
      EXPECT_EQ(stopped.images[i * 400 + p], shadowed ? 0.0f : open.images[i * 400 + p]);
  }
  EXPECT_EQ(behind, 32u);  // the 32 centres within 3.2 pixels of a corner-shared centre
  EXPECT_EQ(stopped.info.usable_pixels(), 400u - behind);
  EXPECT_TRUE(open.info.mask.empty());
}

// Every panel pixel has the position, factors and values of the one-panel file's pixel at its
// pixel_index_map place; the gap's rows and columns are no panel's; each place used once.
TEST(SimulateRealData, PanelsAreTheSquaresPixelsLessTheGap) {
  auto st = small(3, 22);
  st.poisson_noise = false;
  const Read one = simulate_and_read(st, "one.h5");
  for (auto [panels, gap] : {std::pair{4, 0}, {2, 0}, {4, 2}, {2, 4}}) {
    st.panels = panels;
    st.gap = gap;
    const Read many = simulate_and_read(st, "many.h5");
    const io::DatasetInfo& info = many.info;
    const int h = (22 - gap) / 2, w = panels == 4 ? h : 22;
    ASSERT_EQ(info.panels, panels);
    ASSERT_EQ(info.height, h);
    ASSERT_EQ(info.width, w);
    std::set<int> places;
    for (std::size_t k = 0; k < info.pixels(); ++k) {
      const int r = info.pixel_index_map[2 * k], c = info.pixel_index_map[2 * k + 1];
      const bool in_gap_rows = r >= h && r < h + gap, in_gap_cols = panels == 4 && c >= h && c < h + gap;
      EXPECT_FALSE(in_gap_rows || in_gap_cols) << panels << " panels, gap " << gap << ": (" << r << ", " << c << ")";
      places.insert(r * 22 + c);
      const std::size_t p = std::size_t(r) * 22 + std::size_t(c);
      for (int d = 0; d < 3; ++d)
        ASSERT_EQ(info.pixel_position_reciprocal[3 * k + d], one.info.pixel_position_reciprocal[3 * p + d]);
      ASSERT_EQ(info.solid_angle[k], one.info.solid_angle[p]);
      ASSERT_EQ(info.polarization[k], one.info.polarization[p]);
      for (std::size_t i = 0; i < 3; ++i)
        ASSERT_EQ(many.images[i * info.pixels() + k], one.images[i * 484 + p]) << panels << " " << gap;
    }
    const std::size_t side = 22 - std::size_t(gap);
    EXPECT_EQ(places.size(), info.pixels());
    EXPECT_EQ(info.pixels(), panels == 4 ? side * side : side * 22);
    EXPECT_EQ(info.assembled_height, 22);
    EXPECT_EQ(info.assembled_width, 22);
  }
}

// Every image holds round(fraction x usable) NaN, none behind the beamstop; the other
// pixels are those of the file without bad pixels (their own noise stream).
TEST(SimulateRealData, BadPixelsAreNaNAtTheAskedFraction) {
  auto st = small(50, 20);
  st.beamstop_radius = 2;
  const Read clean = simulate_and_read(st, "clean.h5");
  st.bad_pixels = 0.05;
  const Read bad = simulate_and_read(st, "bad.h5");
  const std::size_t usable = bad.info.usable_pixels(), want = std::size_t(std::llround(0.05 * double(usable)));
  ASSERT_EQ(usable, 388u);  // 12 centres within 2 pixels
  std::vector<std::size_t> per_pixel(400, 0);
  for (std::size_t i = 0; i < 50; ++i) {
    std::size_t nan = 0;
    for (std::size_t p = 0; p < 400; ++p) {
      const float v = bad.images[i * 400 + p];
      if (std::isnan(v)) {
        ++nan, ++per_pixel[p];
        EXPECT_EQ(bad.info.mask[p], 1);
      } else {
        EXPECT_EQ(v, clean.images[i * 400 + p]);
      }
    }
    EXPECT_EQ(nan, want) << "image " << i;
  }
  // Drawn per image: the NaN spread over many pixels, not the same few in every image.
  std::size_t touched = 0;
  for (std::size_t c : per_pixel) touched += c > 0;
  EXPECT_GT(touched, 300u);
}

TEST(SimulateRealData, RejectsImpossibleLayouts) {
  const auto error = [](simulate::SimulationSettings st) -> std::string {
    try {
      simulate::simulate_dataset(st, temp_path("never.h5"), "");
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  auto st = small(2, 20);
  st.panels = 3;
  EXPECT_EQ(error(st), "simulate: panels must be 1, 2 or 4, got 3");
  st.panels = 1;
  st.gap = 2;
  EXPECT_EQ(error(st), "simulate: a gap needs 2 or 4 panels");
  st.panels = 4;
  st.gap = 3;
  EXPECT_EQ(error(st), "simulate: detector pixels less the gap must be even and at least 2 for 4 panels, got 20 - 3");
  st.gap = 0;
  st.bad_pixels = 1;
  EXPECT_EQ(error(st), "simulate: the fraction of bad pixels must be in [0, 1), got 1.000000");
  st.bad_pixels = 0;
  st.beamstop_radius = 100;
  EXPECT_EQ(error(st), "simulate: the beamstop covers every pixel");
  st.beamstop_radius = 0;
  st.focus_fwhm = -1;
  EXPECT_EQ(error(st), "simulate: the focus FWHM and the position radius must be 0 or positive");
  EXPECT_FALSE(std::filesystem::exists(temp_path("never.h5")));
}
