#include "simulate/simulate.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "simulate/form_factors.hpp"
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

double largest_s(const geometry::Detector& det, double wavelength_m) {
  double s_max = 0;
  for (const auto& v : geometry::reciprocal_positions(det, wavelength_m))
    s_max = std::max(s_max, std::hypot(v[0], v[1], v[2]) * kPerMeterToPerAngstrom);
  return s_max;
}

}  // namespace

std::vector<Atom> centred(std::vector<Atom> atoms) {
  double w = 0, c[3] = {0, 0, 0};
  for (const auto& a : atoms) {
    const double z = a.occupancy * atom_form_factor(a.element, a.charge).atomic_number;
    for (int d = 0; d < 3; ++d) c[d] += z * a.position_angstrom[d];
    w += z;
  }
  if (w > 0)
    for (auto& a : atoms)
      for (int d = 0; d < 3; ++d) a.position_angstrom[d] -= c[d] / w;
  return atoms;
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

// F on a Cartesian reciprocal grid as cubic B-spline coefficients: F(s) is band-limited
// (the molecule has a finite radius R), so sampled finely enough (2 pi R ds = kSplineStep)
// the spline reproduces it between the nodes far below the tolerance, at 64 taps a point
// instead of the NUFFT's w^3 per form-factor component.
class SplineTransform {
 public:
  static constexpr double kSplineStep = 0.35;  // phase step 2 pi R ds per grid spacing
  static constexpr int kMargin = 12;           // nodes beyond s_max: the prefilter's end effects decay as 0.27^k

  SplineTransform(const std::vector<Atom>& atoms, double s_max, double tolerance) {
    double radius = 0;
    for (const auto& a : atoms)
      radius = std::max(radius, std::hypot(a.position_angstrom[0], a.position_angstrom[1], a.position_angstrom[2]));
    radius += 2.0;  // the atoms' electron clouds
    ds_ = kSplineStep / (2 * std::numbers::pi * radius);
    const auto half = static_cast<std::int64_t>(std::ceil(s_max / ds_)) + kMargin;
    n_ = 2 * half + 1;
    origin_ = -static_cast<double>(half) * ds_;
    const std::int64_t n3 = n_ * n_ * n_;
    std::vector<double> x(n3), y(n3), z(n3);
    for (std::int64_t k = 0; k < n3; ++k) {
      x[k] = origin_ + static_cast<double>(k % n_) * ds_;
      y[k] = origin_ + static_cast<double>((k / n_) % n_) * ds_;
      z[k] = origin_ + static_cast<double>(k / (n_ * n_)) * ds_;
    }
    std::vector<std::complex<double>> F(n3);
    MolecularTransform<double> transform(atoms, -origin_, std::min(tolerance, 1e-7));
    transform.evaluate(n3, x.data(), y.data(), z.data(), F.data());
    prefilter(F);
    coeff_.assign(F.begin(), F.end());
  }

  std::int64_t grid_size() const { return n_; }
  double spacing() const { return ds_; }

  std::complex<float> operator()(double sx, double sy, double sz) const {
    std::int64_t i[3];
    float w[3][4];
    const double s[3] = {sx, sy, sz};
    for (int d = 0; d < 3; ++d) {
      const double u = (s[d] - origin_) / ds_;
      const double f = std::floor(u);
      i[d] = static_cast<std::int64_t>(f) - 1;
      const auto t = static_cast<float>(u - f), t2 = t * t, t3 = t2 * t, m = 1 - t;
      w[d][0] = m * m * m / 6;
      w[d][1] = (3 * t3 - 6 * t2 + 4) / 6;
      w[d][2] = (-3 * t3 + 3 * t2 + 3 * t + 1) / 6;
      w[d][3] = t3 / 6;
    }
    std::complex<float> sum = 0;
    for (int c = 0; c < 4; ++c) {
      std::complex<float> plane = 0;
      for (int b = 0; b < 4; ++b) {
        const std::complex<float>* row = coeff_.data() + i[0] + n_ * ((i[1] + b) + n_ * (i[2] + c));
        plane += w[1][b] * (w[0][0] * row[0] + w[0][1] * row[1] + w[0][2] * row[2] + w[0][3] * row[3]);
      }
      sum += w[2][c] * plane;
    }
    return sum;
  }

 private:
  // Interpolating cubic B-spline coefficients: the causal and anti-causal recursive filter
  // with pole sqrt(3) - 2 along each axis (mirror boundaries; the margin keeps their effect
  // away from the detector's range).
  void prefilter(std::vector<std::complex<double>>& c) const {
    const double pole = std::sqrt(3.0) - 2, gain = (1 - pole) * (1 - 1 / pole);
    const std::int64_t n = n_;
    for (int axis = 0; axis < 3; ++axis) {
      const std::int64_t stride = axis == 0 ? 1 : axis == 1 ? n : n * n;
#pragma omp parallel for schedule(static)
      for (std::int64_t line = 0; line < n * n; ++line) {
        const std::int64_t a = line % n, b = line / n;
        const std::int64_t base = axis == 0 ? n * (a + n * b) : axis == 1 ? a + n * n * b : a + n * b;
        auto at = [&](std::int64_t k) -> std::complex<double>& { return c[base + k * stride]; };
        for (std::int64_t k = 0; k < n; ++k) at(k) *= gain;
        std::complex<double> sum = at(0);  // causal start: the mirrored sum, truncated
        double zk = pole;
        for (std::int64_t k = 1; k < std::min<std::int64_t>(n, 30); ++k, zk *= pole) sum += zk * at(k);
        at(0) = sum;
        for (std::int64_t k = 1; k < n; ++k) at(k) += pole * at(k - 1);
        at(n - 1) = (pole / (pole * pole - 1)) * (pole * at(n - 2) + at(n - 1));
        for (std::int64_t k = n - 2; k >= 0; --k) at(k) = pole * (at(k + 1) - at(k));
      }
    }
  }

  std::int64_t n_ = 0;
  double ds_ = 0, origin_ = 0;
  std::vector<std::complex<float>> coeff_;
};

struct PatternSimulator::State {
  std::int64_t pixels = 0;
  std::vector<double> s[3];       // reciprocal pixel positions, 1/Angstrom
  std::vector<double> prefactor;  // fluence r_e^2 solid angle polarization, per pixel
  Method method = Method::spline;
  std::unique_ptr<MolecularTransform<float>> transform;  // Method::nufft
  std::unique_ptr<SplineTransform> spline;               // Method::spline
  std::vector<float> x, y, z;
  std::vector<std::complex<float>> F;
  int threads = 1;
};

PatternSimulator::PatternSimulator(const std::vector<Atom>& atoms, const geometry::Detector& det,
                                   const geometry::Beam& beam, double tolerance, int threads,
                                   Method method)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.method = method;
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
  TransformOptions opt;
  opt.threads = s.threads;
  // Any rotation keeps every component of R^T s within |s|.
  const double s_max = largest_s(det, beam.wavelength_m());
  if (method == Method::spline)
    s.spline = std::make_unique<SplineTransform>(atoms, s_max, tolerance);
  else
    s.transform = std::make_unique<MolecularTransform<float>>(atoms, s_max, tolerance, opt);
  electrons_ = 0;
  for (const auto& a : atoms) electrons_ += a.occupancy * atom_form_factor(a.element, a.charge)(0.0);
}

PatternSimulator::~PatternSimulator() = default;
PatternSimulator::PatternSimulator(PatternSimulator&&) noexcept = default;
PatternSimulator& PatternSimulator::operator=(PatternSimulator&&) noexcept = default;

std::int64_t PatternSimulator::pixels() const { return s_->pixels; }
double PatternSimulator::electrons() const { return electrons_; }

void PatternSimulator::patterns(const std::vector<geometry::Quaternion>& orientations, float* out) {
  State& s = *s_;
  const std::int64_t n = static_cast<std::int64_t>(orientations.size()), P = s.pixels;
  const std::int64_t total = n * P;
  if (s.method == Method::spline) {
#pragma omp parallel for num_threads(s.threads) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      const auto R = geometry::rotation_matrix(orientations[i]);
      for (std::int64_t p = 0; p < P; ++p) {
        const double a = s.s[0][p], b = s.s[1][p], c = s.s[2][p];
        const auto F = (*s.spline)(R[0] * a + R[3] * b + R[6] * c, R[1] * a + R[4] * b + R[7] * c,
                                   R[2] * a + R[5] * b + R[8] * c);
        out[i * P + p] = static_cast<float>(s.prefactor[p] * std::norm(F));
      }
    }
    return;
  }
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
  if (n < 3 || n % 2 == 0)
    fail("reference model grid size must be odd and at least 3, got " + std::to_string(n));
  const double s_max = largest_s(det, wavelength_m);
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

SimulationSummary simulate_dataset(const SimulationSettings& st, const std::string& out,
                                   const std::string& command_line,
                                   const std::function<void(std::int64_t, std::int64_t)>& progress) {
  if (st.n_images < 1) fail("simulate: n_images must be at least 1");
  if (st.detector_pixels < 2) fail("simulate: detector_pixels must be at least 2");
  if (!(st.detector_width > 0) || !(st.detector_distance > 0))
    fail("simulate: detector width and distance must be positive");
  if (!(st.beam.photon_energy_ev > 0) || !(st.beam.photons_per_pulse > 0) || !(st.beam.radius_m > 0))
    fail("simulate: photon energy, photons per pulse and beam radius must be positive");
  if (st.batch_images < 1) fail("simulate: batch_images must be at least 1");

  const auto atoms = centred(st.pdb.empty() ? built_in_molecule() : read_pdb(st.pdb));
  const auto det = geometry::Detector::square(st.detector_pixels, st.detector_width, st.detector_distance);
  const double lambda = st.beam.wavelength_m();
  PatternSimulator sim(atoms, det, st.beam, st.tolerance, st.threads);

  io::DatasetInfo info;
  info.n_images = static_cast<std::size_t>(st.n_images);
  info.height = static_cast<int>(det.rows());
  info.width = static_cast<int>(det.cols());
  for (const auto& v : geometry::reciprocal_positions(det, lambda))
    for (double c : v) info.pixel_position_reciprocal.push_back(static_cast<float>(c));
  for (const auto& rc : det.pixel_index_map()) {
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

  const auto orientations = geometry::random_orientations(static_cast<std::size_t>(st.n_images), st.seed);
  std::vector<double> quats;
  for (const auto& q : orientations) quats.insert(quats.end(), {q.w, q.x, q.y, q.z});

  ReferenceModel model;
  if (st.volume_size > 0) model = reference_model(atoms, det, lambda, st.volume_size, st.tolerance);

  io::DatasetWriter writer(out, info, quats, model.intensity);
  const std::int64_t P = det.size();
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
    for (std::int64_t i = 0; i < count; ++i) {
      float* img = images.data() + i * P;
      PhotonCounter counter(splitmix(st.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(first + i)));
      for (std::int64_t p = 0; p < P; ++p) {
        expected += img[p];
        if (st.poisson_noise) img[p] = counter.draw(img[p]);
      }
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    writer.write_images(static_cast<std::size_t>(first), static_cast<std::size_t>(count), images.data());
    if (progress) progress(first + count, st.n_images);
  }
  writer.finish();
  if (st.volume_size > 0 && !st.model_map.empty()) io::write_mrc(st.model_map, model.density);

  SimulationSummary sum;
  sum.atoms = static_cast<std::int64_t>(atoms.size());
  sum.electrons = sim.electrons();
  sum.mean_photons = expected / static_cast<double>(st.n_images);
  sum.seconds = seconds;
  sum.resolution_edge = geometry::resolution_edge_angstrom(det, lambda);
  sum.resolution_corner = geometry::resolution_corner_angstrom(det, lambda);
  return sum;
}

}  // namespace spire::simulate
