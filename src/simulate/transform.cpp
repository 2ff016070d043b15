#include "simulate/transform.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "core/error.hpp"
#include "nufft/kernel.hpp"
#include "nufft/nufft.hpp"
#include "simulate/form_factors.hpp"

namespace spire::simulate {
namespace {

constexpr double two_pi = 2 * std::numbers::pi;

// Atoms grouped by scattering species: one factor and a list of (position, occupancy).
struct SpeciesGroup {
  const FormFactor* factor = nullptr;
  std::vector<std::array<double, 3>> positions;
  std::vector<double> occupancy;
};

std::vector<SpeciesGroup> group_by_species(const std::vector<Atom>& atoms) {
  if (atoms.empty()) fail("molecular transform of an empty molecule");
  std::map<const FormFactor*, std::size_t> index;
  std::vector<SpeciesGroup> groups;
  for (const Atom& a : atoms) {
    const FormFactor* f = &atom_form_factor(a.element, a.charge);
    auto [it, added] = index.try_emplace(f, groups.size());
    if (added) groups.push_back({f, {}, {}});
    groups[it->second].positions.push_back(a.position_angstrom);
    groups[it->second].occupancy.push_back(a.occupancy);
  }
  return groups;
}

// A smooth function tabulated at x_k = k dx, k = -1 .. K + 2, and interpolated by cubic
// Lagrange polynomials on [0, K dx]: fourth order, so a few thousand nodes give ~1e-12.
class CubicTable {
 public:
  CubicTable() = default;
  template <typename F>
  CubicTable(double x_max, int intervals, F&& f)
      : k_(intervals), inv_dx_(intervals / x_max), v_(static_cast<std::size_t>(intervals) + 4) {
    const double dx = x_max / intervals;
    for (int k = -1; k <= intervals + 2; ++k) v_[static_cast<std::size_t>(k + 1)] = f(k * dx);
  }
  double operator()(double x) const {
    const double g = x * inv_dx_;
    const int i = std::clamp(static_cast<int>(g), 0, k_ - 1);
    const double t = g - i;
    const double* v = v_.data() + i;  // nodes i-1 .. i+2
    return -v[0] * t * (t - 1) * (t - 2) / 6 + v[1] * (t + 1) * (t - 1) * (t - 2) / 2 -
           v[2] * (t + 1) * t * (t - 2) / 2 + v[3] * (t + 1) * t * (t - 1) / 6;
  }

 private:
  int k_ = 0;
  double inv_dx_ = 0;
  std::vector<double> v_;
};

// f0 as a function of u = |s|^2 = 4 (sin(theta)/lambda)^2: Gaussians, analytic through 0.
double factor_at_u(const FormFactor& f, double u) {
  double v = f.c;
  for (int i = 0; i < 5; ++i) v += f.a[i] * std::exp(-f.b[i] * u / 4);
  return v;
}

// Over the small |s| range of one plan the species' factors are nearly linearly dependent
// (C, N, O differ mostly by scale), so F = sum_e f_e G_e needs fewer NUFFT vectors than
// species: f_e(u) ~ sum_k P[e][k] phi_k(u), phi_k = sum_e C[k][e] f_e, from a pivoted
// Gram-Schmidt on samples of u in [0, u_max], stopped when every f_e is reproduced to
// `tolerance` relative at every sample. Then F = sum_k phi_k(u) H_k with
// H_k = sum_e P[e][k] G_e: one NUFFT of the grid sum_e P[e][k] b_e per component.
struct FactorBasis {
  std::vector<std::vector<double>> P;  // [species][component]
  std::vector<std::vector<double>> C;  // [component][species]
};

FactorBasis factor_basis(const std::vector<const FormFactor*>& species, double u_max,
                         double tolerance) {
  constexpr int samples = 257;
  const std::size_t n_species = species.size();
  std::vector<std::vector<double>> A(n_species, std::vector<double>(samples));
  for (std::size_t e = 0; e < n_species; ++e)
    for (int m = 0; m < samples; ++m)
      A[e][m] = factor_at_u(*species[e], u_max * m / (samples - 1));
  auto dot = [](const std::vector<double>& x, const std::vector<double>& y) {
    double v = 0;
    for (std::size_t m = 0; m < x.size(); ++m) v += x[m] * y[m];
    return v;
  };

  std::vector<std::vector<double>> Q;  // orthonormal sample vectors
  FactorBasis basis;
  while (Q.size() < n_species) {
    // Residuals of every species after projection on the current basis.
    double worst = 0;
    std::size_t pivot = 0;
    double pivot_ratio = -1;
    for (std::size_t e = 0; e < n_species; ++e) {
      std::vector<double> r = A[e];
      for (const auto& q : Q) {
        const double p = dot(A[e], q);
        for (int m = 0; m < samples; ++m) r[m] -= p * q[m];
      }
      for (int m = 0; m < samples; ++m)
        worst = std::max(worst, std::abs(r[m]) / std::max(std::abs(A[e][m]), 1e-300));
      const double ratio = dot(r, r) / dot(A[e], A[e]);
      if (ratio > pivot_ratio) {
        pivot_ratio = ratio;
        pivot = e;
      }
    }
    if (worst <= tolerance) break;
    // New direction: the pivot's residual, orthogonalised twice (for rounding), tracked as
    // a combination of the species' factors.
    std::vector<double> q = A[pivot], c(n_species, 0.0);
    c[pivot] = 1;
    for (int pass = 0; pass < 2; ++pass)
      for (std::size_t k = 0; k < Q.size(); ++k) {
        const double p = dot(q, Q[k]);
        for (int m = 0; m < samples; ++m) q[m] -= p * Q[k][m];
        for (std::size_t e = 0; e < n_species; ++e) c[e] -= p * basis.C[k][e];
      }
    const double norm = std::sqrt(dot(q, q));
    for (double& v : q) v /= norm;
    for (double& v : c) v /= norm;
    Q.push_back(std::move(q));
    basis.C.push_back(std::move(c));
  }
  basis.P.assign(n_species, std::vector<double>(Q.size()));
  for (std::size_t e = 0; e < n_species; ++e)
    for (std::size_t k = 0; k < Q.size(); ++k) basis.P[e][k] = dot(A[e], Q[k]);
  return basis;
}

}  // namespace

void molecular_transform_direct(const std::vector<Atom>& atoms, std::int64_t n,
                                const double* sx, const double* sy, const double* sz,
                                std::complex<double>* F) {
  const std::vector<SpeciesGroup> groups = group_by_species(atoms);
#pragma omp parallel for schedule(dynamic, 64)
  for (std::int64_t i = 0; i < n; ++i) {
    const double s[3] = {sx[i], sy[i], sz[i]};
    const double length = std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
    double re = 0, im = 0;
    for (const SpeciesGroup& g : groups) {
      double gr = 0, gi = 0;
      for (std::size_t j = 0; j < g.positions.size(); ++j) {
        const auto& r = g.positions[j];
        const double phase = two_pi * (s[0] * r[0] + s[1] * r[1] + s[2] * r[2]);
        gr += g.occupancy[j] * std::cos(phase);
        gi += g.occupancy[j] * std::sin(phase);
      }
      const double f = (*g.factor)(length);
      re += f * gr;
      im += f * gi;
    }
    F[i] = {re, im};
  }
}

namespace {

// The grid's centre (Angstrom) and size per axis for atoms spread with spacing h: grid points
// l = -n/2 .. n/2 - 1 must hold the w + 1 points from ceil(X - w/2) of every atom, |X| <= half
// the atoms' extent (in grid units).
void grid_frame(const std::vector<Atom>& atoms, double h, double half_w, std::array<double, 3>& centre,
                std::array<std::int64_t, 3>& n) {
  std::array<double, 3> lo{}, hi{};
  lo.fill(INFINITY);
  hi.fill(-INFINITY);
  for (const Atom& a : atoms)
    for (int d = 0; d < 3; ++d) {
      lo[d] = std::min(lo[d], a.position_angstrom[d]);
      hi[d] = std::max(hi[d], a.position_angstrom[d]);
    }
  for (int d = 0; d < 3; ++d) {
    centre[d] = 0.5 * (lo[d] + hi[d]);
    const double half_extent = 0.5 * (hi[d] - lo[d]) / h;
    n[d] = 2 * static_cast<std::int64_t>(std::ceil(half_extent + half_w + 2));
  }
}

// One species' occupancies spread (in double) onto `grid` (zeroed first) with the kernel;
// its electrons (occupancy x f(0), atom by atom) added to `electrons`.
void spread_species(const SpeciesGroup& g, const std::array<double, 3>& centre, const std::array<std::int64_t, 3>& n,
                    double h, const nufft::KernelParams& kernel, std::vector<double>& grid, double& electrons) {
  const int w = kernel.width;
  const double half_w = w / 2.0;
  std::vector<double> weight[3];
  for (auto& v : weight) v.resize(static_cast<std::size_t>(w) + 1);
  std::fill(grid.begin(), grid.end(), 0.0);
  for (std::size_t j = 0; j < g.positions.size(); ++j) {
    std::array<std::int64_t, 3> first{};
    for (int d = 0; d < 3; ++d) {
      const double X = (g.positions[j][d] - centre[d]) / h;
      first[d] = static_cast<std::int64_t>(std::ceil(X - half_w));
      for (int m = 0; m <= w; ++m)
        weight[d][m] = nufft::es_kernel((static_cast<double>(first[d] + m) - X) / half_w, kernel.beta);
      first[d] += n[d] / 2;  // grid point l sits at index l + n/2
    }
    const double occ = g.occupancy[j];
    for (int m3 = 0; m3 <= w; ++m3)
      for (int m2 = 0; m2 <= w; ++m2) {
        const double w23 = occ * weight[2][m3] * weight[1][m2];
        double* row = grid.data() + first[0] + n[0] * ((first[1] + m2) + n[1] * (first[2] + m3));
        for (int m1 = 0; m1 <= w; ++m1) row[m1] += w23 * weight[0][m1];
      }
    electrons += occ * g.factor->at_stol(0);
  }
}

}  // namespace

template <typename T>
struct MolecularTransform<T>::State {
  TransformOptions options;
  int threads = 1;
  double s_max = 0, h = 0, electrons = 0;
  std::array<double, 3> centre{};
  std::array<std::int64_t, 3> n{};
  std::vector<const FormFactor*> species;
  std::vector<std::complex<T>> grids;  // one n[0] n[1] n[2] grid per component, NUFFT order
  std::unique_ptr<nufft::Plan<T>> plan;
  CubicTable psihat;                   // kernel transform on [0, pi/2]
  std::vector<CubicTable> factor;      // phi_k of each component as a function of |s|^2
};

template <typename T>
MolecularTransform<T>::MolecularTransform(const std::vector<Atom>& atoms, double s_max,
                                          double tolerance, const TransformOptions& options)
    : s_(std::make_unique<State>()) {
  if (!(s_max > 0 && std::isfinite(s_max)))
    fail("molecular transform: s_max must be positive, got " + std::to_string(s_max));
  if (options.chunk_points < 1) fail("molecular transform: chunk_points must be positive");
  State& s = *s_;
  s.options = options;
  s.threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  s.s_max = s_max;
  // |omega| = 2 pi |s_d| h <= pi/2: the band a kernel designed for upsampling 2 resolves.
  s.h = 1 / (4 * s_max);
  const std::vector<SpeciesGroup> groups = group_by_species(atoms);
  const nufft::KernelParams kernel = nufft::choose_kernel(tolerance, 2.0, sizeof(T) == 4);
  const double half_w = kernel.width / 2.0;

  grid_frame(atoms, s.h, half_w, s.centre, s.n);

  for (const SpeciesGroup& g : groups) s.species.push_back(g.factor);
  const double u_max = 3 * s_max * s_max;  // |s|^2 at a corner of the s_max cube
  const FactorBasis basis = factor_basis(s.species, u_max, tolerance);
  const std::size_t n_components = basis.C.size();

  // Spread each species' occupancies (in double) and add them to the component grids.
  const std::int64_t n_grid = s.n[0] * s.n[1] * s.n[2];
  std::vector<double> grid(static_cast<std::size_t>(n_grid));
  std::vector<double> components(static_cast<std::size_t>(n_grid) * n_components, 0.0);
  for (std::size_t e = 0; e < groups.size(); ++e) {
    spread_species(groups[e], s.centre, s.n, s.h, kernel, grid, s.electrons);
    for (std::size_t k = 0; k < n_components; ++k) {
      double* out = components.data() + k * static_cast<std::size_t>(n_grid);
      const double p = basis.P[e][k];
      for (std::int64_t l = 0; l < n_grid; ++l) out[l] += p * grid[l];
    }
  }
  s.grids.assign(components.begin(), components.end());

  nufft::Options nufft_options;
  nufft_options.threads = s.threads;
  s.plan = std::make_unique<nufft::Plan<T>>(2, s.n, +1, tolerance, nufft_options);

  // |omega| <= pi/2 (a hair beyond for rounding; the table reaches two nodes further).
  s.psihat = CubicTable(std::numbers::pi / 2, 4096,
                        [&](double omega) { return nufft::kernel_transform(kernel, omega); });
  for (std::size_t k = 0; k < n_components; ++k)
    s.factor.emplace_back(u_max, 1024, [&](double u) {
      double v = 0;
      for (std::size_t e = 0; e < s.species.size(); ++e)
        v += basis.C[k][e] * factor_at_u(*s.species[e], u);
      return v;
    });
}

template <typename T>
MolecularTransform<T>::~MolecularTransform() = default;
template <typename T>
MolecularTransform<T>::MolecularTransform(MolecularTransform&&) noexcept = default;
template <typename T>
MolecularTransform<T>& MolecularTransform<T>::operator=(MolecularTransform&&) noexcept = default;

template <typename T>
void MolecularTransform<T>::evaluate(std::int64_t n, const T* sx, const T* sy, const T* sz,
                                     std::complex<T>* F) {
  State& s = *s_;
  if (n < 0) fail("molecular transform: negative point count");
  const std::int64_t chunk = std::min(n, s.options.chunk_points);
  const std::size_t n_components = s.factor.size();
  std::vector<T> x(static_cast<std::size_t>(chunk)), y(x.size()), z(x.size());
  std::vector<std::complex<T>> H(static_cast<std::size_t>(chunk) * n_components);
  const double scale = two_pi * s.h;
  // Rounding of float inputs may put a point a few ulps past s_max; the tables allow it.
  const double limit = s.s_max * (1 + 1e-6);

  for (std::int64_t begin = 0; begin < n; begin += chunk) {
    const std::int64_t m = std::min(chunk, n - begin);
    std::int64_t bad = n;
#pragma omp parallel for num_threads(s.threads) schedule(static) reduction(min : bad)
    for (std::int64_t i = 0; i < m; ++i) {
      const double p[3] = {sx[begin + i], sy[begin + i], sz[begin + i]};
      if (!(std::abs(p[0]) <= limit && std::abs(p[1]) <= limit && std::abs(p[2]) <= limit))
        bad = std::min(bad, begin + i);
      x[i] = static_cast<T>(scale * p[0]);
      y[i] = static_cast<T>(scale * p[1]);
      z[i] = static_cast<T>(scale * p[2]);
    }
    if (bad < n)
      fail("molecular transform: point " + std::to_string(bad) + " (" +
           std::to_string(sx[bad]) + ", " + std::to_string(sy[bad]) + ", " +
           std::to_string(sz[bad]) + ") 1/A has a component beyond s_max = " +
           std::to_string(s.s_max) + " given to the plan");
    s.plan->set_points(m, x.data(), y.data(), z.data());
    s.plan->execute(H.data(), s.grids.data(), static_cast<int>(n_components));

#pragma omp parallel for num_threads(s.threads) schedule(static)
    for (std::int64_t i = 0; i < m; ++i) {
      const double p[3] = {sx[begin + i], sy[begin + i], sz[begin + i]};
      const double u = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
      std::complex<double> sum = 0;
      for (std::size_t k = 0; k < n_components; ++k)
        sum += s.factor[k](u) * std::complex<double>(H[k * static_cast<std::size_t>(m) + i]);
      const double kernel = s.psihat(std::abs(scale * p[0])) * s.psihat(std::abs(scale * p[1])) *
                            s.psihat(std::abs(scale * p[2]));
      const double phase =
          two_pi * (p[0] * s.centre[0] + p[1] * s.centre[1] + p[2] * s.centre[2]);
      F[begin + i] =
          std::complex<T>(sum * std::complex<double>(std::cos(phase), std::sin(phase)) / kernel);
    }
  }
}

template <typename T>
double MolecularTransform<T>::s_max() const { return s_->s_max; }
template <typename T>
double MolecularTransform<T>::grid_spacing() const { return s_->h; }
template <typename T>
std::array<std::int64_t, 3> MolecularTransform<T>::grid_size() const { return s_->n; }
template <typename T>
std::array<double, 3> MolecularTransform<T>::centre() const { return s_->centre; }
template <typename T>
double MolecularTransform<T>::electrons() const { return s_->electrons; }
template <typename T>
int MolecularTransform<T>::components() const { return static_cast<int>(s_->factor.size()); }
template <typename T>
std::vector<std::string> MolecularTransform<T>::species() const {
  std::vector<std::string> out;
  for (const FormFactor* f : s_->species) out.emplace_back(f->species);
  return out;
}

template class MolecularTransform<float>;
template class MolecularTransform<double>;

}  // namespace spire::simulate
