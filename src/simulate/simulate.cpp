#include "simulate/simulate.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>
#include <utility>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "simulate/form_factors.hpp"
#include "simulate/tabulated_transform.hpp"
#include "simulate/transform.hpp"

namespace spire::simulate {
namespace {

constexpr double kElectronRadius = 2.8179403262e-15;  // m (CODATA 2018)
constexpr double kPerMeterToPerAngstrom = 1e-10;

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Salts of an image's independent random streams: noise (0, as before these existed),
// fluence, bad pixels.
constexpr std::uint64_t kFluenceStream = 0x6a09e667f3bcc909ULL, kBadPixelStream = 0xbb67ae8584caa73bULL;

std::uint64_t image_stream(std::uint64_t seed, std::int64_t image, std::uint64_t salt = 0) {
  return splitmix(((seed * 0x9e3779b97f4a7c15ULL) ^ salt) + static_cast<std::uint64_t>(image));
}

double largest_s(const geometry::Detector& det, double wavelength_m) {
  double s_max = 0;
  for (const auto& v : geometry::reciprocal_positions(det, wavelength_m))
    s_max = std::max(s_max, std::hypot(v[0], v[1], v[2]) * kPerMeterToPerAngstrom);
  return s_max;
}

// The model density moved from the centred atoms' frame back to the PDB's.
void place_in_pdb_frame(io::Map& density, const std::array<double, 3>& centroid) {
  for (int d = 0; d < 3; ++d) density.origin[std::size_t(d)] += centroid[std::size_t(d)];
  density.labels = {"model electron density (electrons/A^3) placed on the PDB's atoms"};
}

// The dataset's geometry and attributes (io/dataset.hpp) for these settings.
io::DatasetInfo dataset_info(const SimulationSettings& st, const PanelDetector& pd,
                             const std::string& command_line, const std::array<double, 3>& centroid) {
  const double lambda = st.beam.wavelength_m();
  const geometry::Detector& det = pd.detector;
  io::DatasetInfo info;
  info.n_images = static_cast<std::size_t>(st.n_images);
  info.panels = pd.panels;
  info.height = pd.height;
  info.width = pd.width;
  for (const auto& v : geometry::reciprocal_positions(det, lambda))
    for (double c : v) info.pixel_position_reciprocal.push_back(static_cast<float>(c));
  for (const auto& rc : pd.assembled) {
    info.pixel_index_map.push_back(rc[0]);
    info.pixel_index_map.push_back(rc[1]);
  }
  for (double v : geometry::polarization_factors(det)) info.polarization.push_back(static_cast<float>(v));
  for (double v : geometry::solid_angles(det)) info.solid_angle.push_back(static_cast<float>(v));
  info.det_distance = st.detector_distance;
  info.photon_energy = st.beam.photon_energy_ev;
  info.photons_per_pulse = st.beam.photons_per_pulse;
  info.beam_radius = st.beam.radius_m;
  info.command_line = command_line;
  info.pdb = st.pdb.empty() ? "built-in test molecule" : st.pdb;
  info.model_centroid = centroid;
  return info;
}

void check_layout(const SimulationSettings& st) {
  if (st.panels != 1 && st.panels != 2 && st.panels != 4)
    fail("simulate: panels must be 1, 2 or 4, got " + std::to_string(st.panels));
  if (st.gap < 0) fail("simulate: the gap must be at least 0 pixels, got " + std::to_string(st.gap));
  if (st.panels == 1 && st.gap != 0) fail("simulate: a gap needs 2 or 4 panels");
  const std::int64_t rest = st.detector_pixels - st.gap;
  if (st.panels > 1 && (rest < 2 || rest % 2 != 0))
    fail("simulate: detector pixels less the gap must be even and at least 2 for " + std::to_string(st.panels) +
         " panels, got " + std::to_string(st.detector_pixels) + " - " + std::to_string(st.gap));
}

void check_settings(const SimulationSettings& st) {
  if (st.n_images < 1) fail("simulate: n_images must be at least 1");
  if (st.detector_pixels < 2) fail("simulate: detector_pixels must be at least 2");
  if (!(st.detector_width > 0) || !(st.detector_distance > 0))
    fail("simulate: detector width and distance must be positive");
  if (!(st.beam.photon_energy_ev > 0) || !(st.beam.photons_per_pulse > 0) || !(st.beam.radius_m > 0))
    fail("simulate: photon energy, photons per pulse and beam radius must be positive");
  if (st.batch_images < 1) fail("simulate: batch_images must be at least 1");
  if (!(st.focus_fwhm >= 0) || !(st.position_radius >= 0) || !std::isfinite(st.focus_fwhm) ||
      !std::isfinite(st.position_radius))
    fail("simulate: the focus FWHM and the position radius must be 0 or positive");
  if (!(st.beamstop_radius >= 0) || !std::isfinite(st.beamstop_radius))
    fail("simulate: the beamstop radius must be 0 or positive");
  if (!(st.bad_pixels >= 0 && st.bad_pixels < 1))
    fail("simulate: the fraction of bad pixels must be in [0, 1), got " + std::to_string(st.bad_pixels));
  check_layout(st);
}

// What turns an image's expected photons into the recorded image (simulate.hpp).
struct Recording {
  std::int64_t pixels = 0, usable = 0, bad = 0;
  const std::vector<std::uint8_t>* mask = nullptr;  // empty: every pixel usable
  bool noise = true;
  std::uint64_t seed = 1;
};

// Marks `bad` of the usable pixels NaN, each subset of that size equally likely (selection
// sampling: one pass, no memory).
void mark_bad_pixels(float* img, const Recording& rec, std::int64_t image) {
  PhotonCounter stream(image_stream(rec.seed, image, kBadPixelStream));
  std::int64_t needed = rec.bad, left = rec.usable;
  for (std::int64_t p = 0; p < rec.pixels && needed > 0; ++p) {
    if (!rec.mask->empty() && !(*rec.mask)[p]) continue;
    if (stream.uniform() * static_cast<double>(left) < static_cast<double>(needed)) {
      img[p] = std::numeric_limits<float>::quiet_NaN();
      --needed;
    }
    --left;
  }
}

// Scales the image by its fluence factor, draws its photons, zeroes the beamstop's pixels and
// marks its bad pixels. Returns its expected photons over the usable pixels.
double record_image(float* img, const Recording& rec, std::int64_t image, double factor) {
  PhotonCounter counter(image_stream(rec.seed, image));
  double expected = 0;
  for (std::int64_t p = 0; p < rec.pixels; ++p) {
    if (!rec.mask->empty() && !(*rec.mask)[p]) {
      img[p] = 0;
      continue;
    }
    img[p] = static_cast<float>(img[p] * factor);
    expected += img[p];
    if (rec.noise) img[p] = counter.draw(img[p]);
  }
  if (rec.bad > 0) mark_bad_pixels(img, rec, image);
  return expected;
}

}  // namespace

PanelDetector panel_detector(const SimulationSettings& st) {
  check_layout(st);
  const std::int64_t n = st.detector_pixels, g = st.gap;
  auto square = geometry::Detector::square(n, st.detector_width, st.detector_distance);
  if (st.panels == 1) {
    auto assembled = square.pixel_index_map();
    return {std::move(square), 1, static_cast<int>(n), static_cast<int>(n), std::move(assembled)};
  }
  const std::int64_t h = (n - g) / 2, w = st.panels == 4 ? h : n;
  std::vector<geometry::Vec3> positions;
  std::vector<double> areas;
  std::vector<std::array<std::int32_t, 2>> stacked, assembled;
  for (std::int64_t q = 0; q < st.panels; ++q) {
    // Panel q's first row and column in the square: halves top, bottom; quadrants row-major.
    const std::int64_t r0 = (st.panels == 2 ? q : q / 2) * (h + g), c0 = (st.panels == 2 ? 0 : q % 2) * (w + g);
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; ++c) {
        const auto p = static_cast<std::size_t>((r0 + r) * n + c0 + c);
        positions.push_back(square.position_m()[p]);
        areas.push_back(square.area_m2()[p]);
        stacked.push_back({static_cast<std::int32_t>(q * h + r), static_cast<std::int32_t>(c)});
        assembled.push_back(square.pixel_index_map()[p]);
      }
  }
  geometry::Detector det(st.panels * h, w, st.detector_distance, std::move(positions), std::move(areas),
                         std::move(stacked));
  return {std::move(det), st.panels, static_cast<int>(h), static_cast<int>(w), std::move(assembled)};
}

std::vector<double> fluence_factors(const SimulationSettings& st) {
  std::vector<double> f(static_cast<std::size_t>(std::max<std::int64_t>(st.n_images, 0)), 1.0);
  if (!(st.focus_fwhm > 0)) return f;
  // r^2 = R^2 u with u uniform: uniform over the disc of radius R (the angle does not matter
  // to a round focus); f = exp(-4 ln 2 r^2 / fwhm^2).
  const double R = st.position_radius > 0 ? st.position_radius : st.focus_fwhm;
  const double a = 4 * std::numbers::ln2 * (R / st.focus_fwhm) * (R / st.focus_fwhm);
  for (std::size_t i = 0; i < f.size(); ++i) {
    PhotonCounter stream(image_stream(st.seed, static_cast<std::int64_t>(i), kFluenceStream));
    f[i] = std::exp(-a * stream.uniform());
  }
  return f;
}

std::vector<std::uint8_t> beamstop_mask(const SimulationSettings& st, const PanelDetector& pd) {
  if (!(st.beamstop_radius > 0)) return {};
  const double limit = st.beamstop_radius * st.detector_width / static_cast<double>(st.detector_pixels);
  std::vector<std::uint8_t> mask;
  for (const auto& r : pd.detector.position_m()) mask.push_back(std::hypot(r[0], r[1]) > limit);
  return mask;
}

std::array<double, 3> electron_centroid(const std::vector<Atom>& atoms) {
  double w = 0;
  std::array<double, 3> c{};
  for (const auto& a : atoms) {
    const double z = a.occupancy * atom_form_factor(a.element, a.charge).atomic_number;
    for (int d = 0; d < 3; ++d) c[d] += z * a.position_angstrom[d];
    w += z;
  }
  if (w > 0)
    for (double& v : c) v /= w;
  return c;
}

std::vector<Atom> centred(std::vector<Atom> atoms) {
  const auto c = electron_centroid(atoms);
  for (auto& a : atoms)
    for (int d = 0; d < 3; ++d) a.position_angstrom[d] -= c[d];
  return atoms;
}

io::Map model_map(const std::vector<Atom>& atoms, double voxel, std::int64_t n, double tolerance) {
  if (!(voxel > 0)) fail("model map: the voxel size must be positive");
  const auto c = electron_centroid(atoms);
  io::Map map = reference_model(centred(atoms), 1 / (2 * voxel), n, tolerance).density;
  place_in_pdb_frame(map, c);
  return map;
}

double PhotonCounter::uniform() {
  state = splitmix(state);
  return static_cast<double>(state >> 11) * 0x1.0p-53;
}

float PhotonCounter::draw(double lambda) {
  if (!(lambda > 0)) return 0;
  if (lambda < 30) {  // inversion: exact, O(lambda) steps
    double p = std::exp(-lambda), cdf = p;
    const double u = uniform();
    int k = 0;
    while (u > cdf && k < 200) {
      ++k;
      p *= lambda / k;
      cdf += p;
    }
    return static_cast<float>(k);
  }
  std::mt19937_64 engine(splitmix(state ^ 0x5851f42d4c957f2dULL));
  state = splitmix(state);
  return static_cast<float>(std::poisson_distribution<long>(lambda)(engine));
}

struct PatternSimulator::State {
  std::int64_t pixels = 0;
  std::vector<double> s[3];       // reciprocal pixel positions, 1/Angstrom
  std::vector<double> prefactor;  // fluence r_e^2 solid angle polarization, per pixel
  int threads = 1;
  // grid: the tabulated transform, the pixel positions and prefactors in float.
  std::unique_ptr<TabulatedTransform> grid;
  std::vector<float> sf[3], prefactor_f;
  // nufft: the transform and its per-call point and value buffers.
  std::unique_ptr<MolecularTransform<float>> transform;
  std::vector<float> x, y, z;
  std::vector<std::complex<float>> F;
};

PatternSimulator::PatternSimulator(const std::vector<Atom>& atoms, const geometry::Detector& det,
                                   const geometry::Beam& beam, double tolerance, int threads,
                                   PatternMethod method)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.threads = threads > 0 ? threads : omp_get_max_threads();
  s.pixels = det.size();
  const auto recip = geometry::reciprocal_positions(det, beam.wavelength_m());
  const auto pol = geometry::polarization_factors(det);
  const auto omega = geometry::solid_angles(det);
  for (auto& v : s.s) v.resize(static_cast<std::size_t>(s.pixels));
  s.prefactor.resize(static_cast<std::size_t>(s.pixels));
  const double f = beam.fluence_per_m2() * kElectronRadius * kElectronRadius;
  for (std::int64_t p = 0; p < s.pixels; ++p) {
    for (int d = 0; d < 3; ++d) s.s[d][p] = recip[p][d] * kPerMeterToPerAngstrom;
    s.prefactor[p] = f * omega[p] * pol[p];
  }
  // Any rotation keeps every component of R^T s within |s|.
  const double s_max = largest_s(det, beam.wavelength_m());
  if (method == PatternMethod::grid) {
    s.grid = std::make_unique<TabulatedTransform>(atoms, s_max, tolerance, s.threads);
    for (int d = 0; d < 3; ++d) s.sf[d].assign(s.s[d].begin(), s.s[d].end());
    s.prefactor_f.assign(s.prefactor.begin(), s.prefactor.end());
    return;
  }
  TransformOptions opt;
  opt.threads = s.threads;
  s.transform = std::make_unique<MolecularTransform<float>>(atoms, s_max, tolerance, opt);
}

PatternSimulator::~PatternSimulator() = default;
PatternSimulator::PatternSimulator(PatternSimulator&&) noexcept = default;
PatternSimulator& PatternSimulator::operator=(PatternSimulator&&) noexcept = default;

std::int64_t PatternSimulator::pixels() const { return s_->pixels; }
double PatternSimulator::electrons() const {
  return s_->grid ? s_->grid->electrons() : s_->transform->electrons();
}

void PatternSimulator::patterns(const std::vector<geometry::Quaternion>& orientations, float* out) {
  State& s = *s_;
  const std::int64_t n = static_cast<std::int64_t>(orientations.size()), P = s.pixels;
  if (s.grid) {
    // One image per iteration, in blocks of pixels: a block's pixels sweep neighbouring
    // grid cells (cache-friendly) and its buffers stay in L1.
    constexpr std::int64_t B = 256;
#pragma omp parallel for num_threads(s.threads) schedule(dynamic, 4)
    for (std::int64_t i = 0; i < n; ++i) {
      const auto Rd = geometry::rotation_matrix(orientations[i]);
      float R[9];
      for (int e = 0; e < 9; ++e) R[e] = static_cast<float>(Rd[e]);
      float x[B], y[B], z[B];
      std::complex<float> F[B];
      for (std::int64_t p0 = 0; p0 < P; p0 += B) {
        const std::int64_t m = std::min(B, P - p0);
        const float *a = s.sf[0].data() + p0, *b = s.sf[1].data() + p0, *c = s.sf[2].data() + p0;
        for (std::int64_t p = 0; p < m; ++p) {  // R^T s: the columns of R dotted with s
          x[p] = R[0] * a[p] + R[3] * b[p] + R[6] * c[p];
          y[p] = R[1] * a[p] + R[4] * b[p] + R[7] * c[p];
          z[p] = R[2] * a[p] + R[5] * b[p] + R[8] * c[p];
        }
        s.grid->evaluate(m, x, y, z, F);
        float* img = out + i * P + p0;
        for (std::int64_t p = 0; p < m; ++p)
          img[p] = s.prefactor_f[p0 + p] * std::norm(F[p]);
      }
    }
    return;
  }
  const std::int64_t total = n * P;
  s.x.resize(static_cast<std::size_t>(total));
  s.y.resize(static_cast<std::size_t>(total));
  s.z.resize(static_cast<std::size_t>(total));
  s.F.resize(static_cast<std::size_t>(total));
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto R = geometry::rotation_matrix(orientations[i]);
    for (std::int64_t p = 0; p < P; ++p) {
      const double a = s.s[0][p], b = s.s[1][p], c = s.s[2][p];
      const std::int64_t k = i * P + p;
      // R^T s: the columns of R dotted with s.
      s.x[k] = static_cast<float>(R[0] * a + R[3] * b + R[6] * c);
      s.y[k] = static_cast<float>(R[1] * a + R[4] * b + R[7] * c);
      s.z[k] = static_cast<float>(R[2] * a + R[5] * b + R[8] * c);
    }
  }
  s.transform->evaluate(total, s.x.data(), s.y.data(), s.z.data(), s.F.data());
#pragma omp parallel for num_threads(s.threads) schedule(static)
  for (std::int64_t k = 0; k < total; ++k)
    out[k] = static_cast<float>(s.prefactor[k % P] * std::norm(s.F[k]));
}

ReferenceModel reference_model(const std::vector<Atom>& atoms, const geometry::Detector& det,
                               double wavelength_m, std::int64_t n, double tolerance) {
  return reference_model(atoms, largest_s(det, wavelength_m), n, tolerance);
}

ReferenceModel reference_model(const std::vector<Atom>& atoms, double s_max, std::int64_t n, double tolerance) {
  if (n < 3 || n % 2 == 0)
    fail("reference model grid size must be odd and at least 3, got " + std::to_string(n));
  // The reconstruction's real-space voxel is 1 / (2 s_max) (slicing/slicing.hpp); the
  // reciprocal spacing that makes this map's voxel the same is 2 s_max / n.
  const double ds = 2 * s_max / static_cast<double>(n);
  const std::int64_t n3 = n * n * n, half = n / 2;
  std::vector<float> x(n3), y(n3), z(n3);
  for (std::int64_t k = 0; k < n3; ++k) {
    x[k] = static_cast<float>(static_cast<double>(k % n - half) * ds);
    y[k] = static_cast<float>(static_cast<double>((k / n) % n - half) * ds);
    z[k] = static_cast<float>(static_cast<double>(k / (n * n) - half) * ds);
  }
  MolecularTransform<float> transform(atoms, s_max, tolerance);
  std::vector<std::complex<float>> F(n3);
  transform.evaluate(n3, x.data(), y.data(), z.data(), F.data());

  ReferenceModel model;
  model.reciprocal_spacing = ds;
  const auto un = static_cast<std::size_t>(n);
  model.intensity.shape = {un, un, un};
  model.intensity.values.resize(static_cast<std::size_t>(n3));
  for (std::int64_t k = 0; k < n3; ++k) model.intensity.values[k] = std::norm(F[k]);

  // rho(r) = sum_k F(k) exp(-2 pi i k.r / n) ds^3 on centred grids: shift, FFT, shift back.
  auto grid = aligned_zeros<std::complex<double>>(static_cast<std::size_t>(n3));
  auto wrapped = [n, half](std::int64_t i) {  // centred linear index -> FFT-order index
    const std::int64_t a = i % n - half, b = (i / n) % n - half, c = i / (n * n) - half;
    auto w = [n](std::int64_t v) { return (v % n + n) % n; };
    return w(a) + n * (w(b) + n * w(c));
  };
  for (std::int64_t k = 0; k < n3; ++k) grid[wrapped(k)] = F[k];
  FftPlan3<double> fft(static_cast<int>(n), static_cast<int>(n), static_cast<int>(n), -1, grid.get(), 0,
                       Planning::estimate);
  fft.execute(grid.get());
  model.density.nx = model.density.ny = model.density.nz = static_cast<int>(n);
  model.density.voxel_size = 1.0 / (static_cast<double>(n) * ds);
  const double origin = -static_cast<double>(half) * model.density.voxel_size;
  model.density.origin = {origin, origin, origin};
  model.density.data.resize(static_cast<std::size_t>(n3));
  const double scale = ds * ds * ds;
  for (std::int64_t r = 0; r < n3; ++r)
    model.density.data[r] = static_cast<float>(grid[wrapped(r)].real() * scale);
  return model;
}

namespace {

// Simulates, records (record_image) and writes every image, batch by batch. Returns the
// expected photons summed over the images and the seconds spent on them (not writing).
std::pair<double, double> write_images(PatternSimulator& sim, const SimulationSettings& st, const Recording& rec,
                                       const std::vector<double>& factors,
                                       const std::vector<geometry::Quaternion>& orientations,
                                       io::DatasetWriter& writer, const Progress& progress) {
  const std::int64_t P = rec.pixels;
  std::vector<float> images;
  double expected = 0, seconds = 0;
  for (std::int64_t first = 0; first < st.n_images; first += st.batch_images) {
    const std::int64_t count = std::min(st.batch_images, st.n_images - first);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<geometry::Quaternion> batch(orientations.begin() + first,
                                                  orientations.begin() + first + count);
    images.resize(static_cast<std::size_t>(count * P));
    sim.patterns(batch, images.data());
#pragma omp parallel for reduction(+ : expected) schedule(static)
    for (std::int64_t i = 0; i < count; ++i)
      expected += record_image(images.data() + i * P, rec, first + i, factors[static_cast<std::size_t>(first + i)]);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    writer.write_images(static_cast<std::size_t>(first), static_cast<std::size_t>(count), images.data());
    if (progress) progress(first + count, st.n_images);
  }
  return {expected, seconds};
}

}  // namespace

SimulationSummary simulate_dataset(const SimulationSettings& st, const std::string& out,
                                   const std::string& command_line,
                                   const Progress& progress) {
  check_settings(st);
  const auto pdb_atoms = st.pdb.empty() ? built_in_molecule() : read_pdb(st.pdb);
  const auto centroid = electron_centroid(pdb_atoms);
  const auto atoms = centred(pdb_atoms);
  const PanelDetector pd = panel_detector(st);
  const geometry::Detector& det = pd.detector;
  const double lambda = st.beam.wavelength_m();
  PatternSimulator sim(atoms, det, st.beam, st.tolerance, st.threads, st.method);

  io::DatasetInfo info = dataset_info(st, pd, command_line, centroid);
  const auto factors = fluence_factors(st);
  if (st.focus_fwhm > 0)
    for (double f : factors) info.fluences.push_back(f * st.beam.photons_per_pulse);
  info.mask = beamstop_mask(st, pd);
  Recording rec{.pixels = det.size(), .usable = static_cast<std::int64_t>(info.usable_pixels()), .mask = &info.mask,
                .noise = st.poisson_noise, .seed = st.seed};
  if (rec.usable == 0) fail("simulate: the beamstop covers every pixel");
  rec.bad = std::llround(st.bad_pixels * static_cast<double>(rec.usable));

  const auto orientations = geometry::random_orientations(static_cast<std::size_t>(st.n_images), st.seed);
  std::vector<double> quats;
  for (const auto& q : orientations) quats.insert(quats.end(), {q.w, q.x, q.y, q.z});

  ReferenceModel model;
  if (st.volume_size > 0) model = reference_model(atoms, det, lambda, st.volume_size, st.tolerance);
  place_in_pdb_frame(model.density, centroid);

  io::DatasetWriter writer(out, info, quats, model.intensity);
  const auto [expected, seconds] = write_images(sim, st, rec, factors, orientations, writer, progress);
  writer.finish();
  if (st.volume_size > 0 && !st.model_map.empty()) io::write_mrc(st.model_map, model.density);

  SimulationSummary sum;
  sum.atoms = static_cast<std::int64_t>(atoms.size());
  sum.electrons = sim.electrons();
  sum.mean_photons = expected / static_cast<double>(st.n_images);
  sum.mean_fluence = std::accumulate(factors.begin(), factors.end(), 0.0) / static_cast<double>(st.n_images);
  sum.pixels = det.size();
  sum.usable_pixels = rec.usable;
  sum.bad_pixels = rec.bad;
  sum.seconds = seconds;
  sum.resolution_edge = geometry::resolution_edge_angstrom(det, lambda);
  sum.resolution_corner = geometry::resolution_corner_angstrom(det, lambda);
  sum.centroid = centroid;
  return sum;
}

}  // namespace spire::simulate
