#include "resolution/fsc.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/fft.hpp"

namespace spire::resolution {
namespace {

void commit(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail_in(path, "cannot move the finished file into place");
  }
}

}  // namespace

std::optional<double> FscCurve::crossing(double threshold) const {
  for (std::size_t s = 1; s < fsc.size(); ++s)
    if (fsc[s] < threshold) {
      const double above = fsc[s - 1], below = fsc[s];
      if (!(above >= threshold)) return 0.0;  // below from shell 0 on: nothing to interpolate
      return static_cast<double>(s - 1) + (above - threshold) / (above - below);
    }
  return std::nullopt;
}

template <typename T>
FscCurve fsc(int n, std::span<const T> map1, std::span<const T> map2, int threads) {
  if (n < 2) fail("FSC: grid size must be >= 2, got " + std::to_string(n));
  const std::int64_t nn = n, size = nn * nn * nn;
  if (static_cast<std::int64_t>(map1.size()) != size ||
      static_cast<std::int64_t>(map2.size()) != size)
    fail("FSC: maps must have n^3 = " + std::to_string(size) + " values");
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  auto z = aligned_zeros<std::complex<T>>(static_cast<std::size_t>(size));
  FftPlan3<T> plan(n, n, n, -1, z.get(), nt, Planning::estimate);
  for (std::int64_t i = 0; i < size; ++i) z[i] = std::complex<T>(map1[i], map2[i]);
  plan.execute(z.get());

  // Both real maps from one complex FFT: F1 = (Z(k) + Z(-k)*) / 2, F2 = (Z(k) - Z(-k)*) / 2i.
  const int shells = n / 2 + 1;
  std::vector<double> cross(shells, 0.0), p1(shells, 0.0), p2(shells, 0.0);
  std::vector<std::int64_t> count(shells, 0);
  auto freq = [n](int j) { return j <= n / 2 ? j : j - n; };
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> c_(shells, 0.0), a_(shells, 0.0), b_(shells, 0.0);
    std::vector<std::int64_t> k_(shells, 0);
#pragma omp for schedule(static)
    for (int kz = 0; kz < n; ++kz)
      for (int ky = 0; ky < n; ++ky)
        for (int kx = 0; kx < n; ++kx) {
          const double r = std::sqrt(static_cast<double>(freq(kx) * freq(kx) +
                                                         freq(ky) * freq(ky) +
                                                         freq(kz) * freq(kz)));
          const auto s = static_cast<int>(std::lround(r));
          if (s >= shells) continue;
          const auto at = [&](int x, int y, int zz) {
            return std::complex<double>(z[x + nn * (y + nn * zz)]);
          };
          const std::complex<double> zk = at(kx, ky, kz);
          const std::complex<double> zm = std::conj(at((n - kx) % n, (n - ky) % n, (n - kz) % n));
          const std::complex<double> f1 = 0.5 * (zk + zm);
          const std::complex<double> f2 = std::complex<double>(0, -0.5) * (zk - zm);
          c_[s] += (f1 * std::conj(f2)).real();
          a_[s] += std::norm(f1);
          b_[s] += std::norm(f2);
          ++k_[s];
        }
#pragma omp critical
    for (int s = 0; s < shells; ++s) {
      cross[s] += c_[s];
      p1[s] += a_[s];
      p2[s] += b_[s];
      count[s] += k_[s];
    }
  }
  FscCurve curve;
  curve.n = n;
  curve.voxels = count;
  curve.fsc.resize(shells);
  // A shell whose power is at the FFT's rounding level (e.g. beyond a hard low-pass) holds
  // only rounding noise, whose correlation would be meaningless: it counts as empty.
  const double eps = std::numeric_limits<T>::epsilon();
  double total1 = 0, total2 = 0;
  for (int s = 0; s < shells; ++s) total1 += p1[s], total2 += p2[s];
  for (int s = 0; s < shells; ++s) {
    const bool empty = !(p1[s] > 100 * eps * eps * total1 && p2[s] > 100 * eps * eps * total2);
    curve.fsc[s] = empty ? 0.0 : cross[s] / std::sqrt(p1[s] * p2[s]);
  }
  return curve;
}

double voxel_from_reciprocal(int n, double dk_inv_angstrom) {
  if (!(dk_inv_angstrom > 0) || n < 1) fail("FSC: reciprocal voxel size must be > 0");
  return 1.0 / (n * dk_inv_angstrom);
}

double shell_frequency(int n, double voxel_angstrom, double shell) {
  return shell / (n * voxel_angstrom);
}

double shell_resolution(int n, double voxel_angstrom, double shell) {
  return shell > 0 ? n * voxel_angstrom / shell : std::numeric_limits<double>::infinity();
}

ResolutionAt resolution_at(const FscCurve& curve, double voxel_angstrom, double threshold) {
  const auto c = curve.crossing(threshold);
  if (!c) return {shell_resolution(curve.n, voxel_angstrom, curve.n / 2), true, false};
  if (*c == 0) return {shell_resolution(curve.n, voxel_angstrom, 1), false, true};
  return {shell_resolution(curve.n, voxel_angstrom, *c), false, false};
}

std::string describe(const ResolutionAt& r) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  if (r.beyond_grid_edge) s << "beyond the grid edge (better than " << r.angstrom << " A)";
  else if (r.below_first_shell) s << "none (below the threshold from the first shell: worse than " << r.angstrom << " A)";
  else if (!std::isfinite(r.angstrom)) s << "none";
  else s << r.angstrom << " A";
  return s.str();
}

namespace {

// The curves of one grid, at least one: what both files need.
void check_curves(const std::string& path, std::span<const NamedCurve> curves) {
  if (curves.empty()) fail_in(path, "no FSC curve to write");
  if (curves.size() > 4) fail_in(path, "at most 4 FSC curves in one file");
  for (const auto& c : curves) {
    if (c.curve.fsc.size() < 2) fail_in(path, "FSC curve has fewer than 2 shells");
    if (c.curve.fsc.size() != curves[0].curve.fsc.size() || c.curve.n != curves[0].curve.n)
      fail_in(path, "FSC curves of different grids in one file");
  }
}

}  // namespace

void write_fsc_csv(const std::string& path, std::span<const NamedCurve> curves, double voxel_angstrom) {
  if (!(voxel_angstrom > 0)) fail_in(path, "voxel size must be > 0");
  check_curves(path, curves);
  const FscCurve& first = curves[0].curve;
  const std::string tmp = temporary_path(path);
  {
    std::ofstream out(tmp);
    out << "shell,frequency_inv_angstrom,resolution_angstrom";
    for (const auto& c : curves) out << (c.name.empty() ? ",fsc" : ",fsc_" + c.name);
    out << ",voxels\n";
    out.precision(8);
    for (std::size_t s = 0; s < first.fsc.size(); ++s) {
      const auto sh = static_cast<double>(s);
      out << s << ',' << shell_frequency(first.n, voxel_angstrom, sh) << ','
          << shell_resolution(first.n, voxel_angstrom, sh);
      for (const auto& c : curves) out << ',' << c.curve.fsc[s];
      out << ',' << first.voxels[s] << '\n';
    }
    if (!out.flush()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail_in(path, "cannot write");
    }
  }
  commit(tmp, path);
}

template FscCurve fsc<float>(int, std::span<const float>, std::span<const float>, int);
template FscCurve fsc<double>(int, std::span<const double>, std::span<const double>, int);

}  // namespace spire::resolution
