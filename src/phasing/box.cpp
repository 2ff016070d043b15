#include "phasing/box.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace spire::phasing {

namespace {

void check_sizes(int n, int m, const char* what) {
  if (n < 1 || m < 1 || n % 2 == 0 || m % 2 == 0 || m > n)
    fail(std::string(what) + ": box sizes must be odd with m <= n, got n = " + std::to_string(n) +
         ", m = " + std::to_string(m));
}

}  // namespace

template <typename T>
int support_radius(std::span<const T> autocorrelation, int n, double fraction) {
  const auto n3 = static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  if (n < 1 || autocorrelation.size() != n3) fail("support_radius: not n^3 values");
  const int c = n / 2;
  std::vector<double> sum(static_cast<std::size_t>(2 * n), 0.0), count(sum.size(), 0.0);
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const auto r = static_cast<std::size_t>(std::lround(std::hypot(x - c, y - c, z - c)));
        const double v = static_cast<double>(autocorrelation[static_cast<std::size_t>(x + n * (y + n * z))]);
        sum[r] += v * v;
        count[r] += 1;
      }
  const double centre = std::sqrt(sum[0]);
  for (int r = 1; r <= c; ++r)
    if (centre > 0 && std::sqrt(sum[static_cast<std::size_t>(r)] / count[static_cast<std::size_t>(r)]) < fraction * centre)
      return r;
  return c + 1;
}

namespace {

// x(r) = 4 pi du sum_b profile[b] u_b^2 sinc(2 pi u_b r), u_b = (b + 1/2) du (box.hpp).
template <typename T>
double profile_transform(std::span<const T> profile, double du, double r) {
  double sum = 0;
  for (std::size_t b = 0; b < profile.size(); ++b) {
    const double u = (static_cast<double>(b) + 0.5) * du, x = 2 * std::numbers::pi * u * r;
    sum += static_cast<double>(profile[b]) * u * u * (r == 0 ? 1.0 : std::sin(x) / x);
  }
  return 4 * std::numbers::pi * du * sum;
}

template <typename T>
void check_profile(std::span<const T> profile, double du, int n, const char* what) {
  if (profile.empty() || !(du > 0) || n < 1) fail(std::string(what) + ": an empty profile, du <= 0 or n < 1");
}

}  // namespace

template <typename T>
int support_radius_of_profile(std::span<const T> profile, double du, int n, double fraction) {
  check_profile(profile, du, n, "support_radius_of_profile");
  const int c = n / 2;
  const double centre = profile_transform(profile, du, 0);
  if (!(centre > 0)) return c + 1;
  for (int r = 1; r <= c; ++r)
    if (std::abs(profile_transform(profile, du, r)) < fraction * centre) return r;
  return c + 1;
}

template <typename T>
std::vector<T> profile_autocorrelation(std::span<const T> profile, double du, int n, int m) {
  check_profile(profile, du, n, "profile_autocorrelation");
  check_sizes(n, m, "profile_autocorrelation");
  const int h = m / 2, c = n / 2;
  std::vector<double> at_r2(static_cast<std::size_t>(3 * h * h + 1));  // x by |l|^2 (integer)
  for (std::size_t r2 = 0; r2 < at_r2.size(); ++r2)
    at_r2[r2] = profile_transform(profile, du, std::sqrt(static_cast<double>(r2)));
  std::vector<T> out(static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * static_cast<std::size_t>(n), T(0));
  for (int z = -h; z <= h; ++z)
    for (int y = -h; y <= h; ++y)
      for (int x = -h; x <= h; ++x)
        out[static_cast<std::size_t>(x + c + n * (y + c + static_cast<std::int64_t>(n) * (z + c)))] =
            static_cast<T>(at_r2[static_cast<std::size_t>(x * x + y * y + z * z)]);
  return out;
}

int phasing_box(int radius, int n) {
  if (radius < 0 || n < 1 || n % 2 == 0) fail("phasing_box: a radius >= 0 and an odd n are needed");
  const int least = std::max(4 * radius + 1, 5);
  for (int m = least | 1; m < n; m += 2) {
    int rest = m;
    for (const int f : {3, 5, 7})
      while (rest % f == 0) rest /= f;
    if (rest == 1) return m;
  }
  return n;
}

namespace {

// Copies the centred m^3 box between an n^3 grid and an m^3 array: into the box (crop) or
// out of it (pad).
template <typename T>
void copy_box(const T* from, T* to, int n, int m, bool crop) {
  const int o = (n - m) / 2;
  for (int z = 0; z < m; ++z)
    for (int y = 0; y < m; ++y)
      for (int x = 0; x < m; ++x) {
        const auto in_box = static_cast<std::size_t>(x + m * (y + m * z));
        const auto in_grid = static_cast<std::size_t>(x + o + n * (y + o + static_cast<std::int64_t>(n) * (z + o)));
        if (crop)
          to[in_box] = from[in_grid];
        else
          to[in_grid] = from[in_box];
      }
}

std::size_t cube(int n) { return static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * static_cast<std::size_t>(n); }

}  // namespace

template <typename T>
std::vector<T> crop_centred(std::span<const T> values, int n, int m) {
  check_sizes(n, m, "crop_centred");
  if (values.size() != cube(n)) fail("crop_centred: not n^3 values");
  std::vector<T> out(cube(m));
  copy_box(values.data(), out.data(), n, m, true);
  return out;
}

template <typename T>
std::vector<T> pad_centred(std::span<const T> values, int m, int n) {
  check_sizes(n, m, "pad_centred");
  if (values.size() != cube(m)) fail("pad_centred: not m^3 values");
  std::vector<T> out(cube(n), T(0));
  copy_box(values.data(), out.data(), n, m, false);
  return out;
}

template int support_radius(std::span<const float>, int, double);
template int support_radius(std::span<const double>, int, double);
template int support_radius_of_profile(std::span<const float>, double, int, double);
template int support_radius_of_profile(std::span<const double>, double, int, double);
template std::vector<float> profile_autocorrelation(std::span<const float>, double, int, int);
template std::vector<double> profile_autocorrelation(std::span<const double>, double, int, int);
template std::vector<float> crop_centred(std::span<const float>, int, int);
template std::vector<double> crop_centred(std::span<const double>, int, int);
template std::vector<float> pad_centred(std::span<const float>, int, int);
template std::vector<double> pad_centred(std::span<const double>, int, int);

}  // namespace spire::phasing
