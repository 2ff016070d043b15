#pragma once
// Reading the plots' PNGs back with cairo, for the tests.
#include <cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plot/figure.hpp"

struct Png {
  int width = -1, height = -1;
  std::vector<std::uint32_t> pixels;  // 0x00RRGGBB, rows top to bottom
};

inline Png read_png(const std::string& path) {
  Png p;
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    p.width = cairo_image_surface_get_width(s), p.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x)
        p.pixels.push_back(reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride)[x] &
                           0xffffffu);
  }
  cairo_surface_destroy(s);
  return p;
}

// Pixels darker than mid-grey inside `box` (figure points; `scale` PNG pixels a point).
inline int dark_pixels(const Png& p, const spire::plot::Rect& box, double scale) {
  int dark = 0;
  for (int y = static_cast<int>(box.y * scale); y < static_cast<int>(box.bottom() * scale); ++y)
    for (int x = static_cast<int>(box.x * scale); x < static_cast<int>(box.right() * scale); ++x) {
      if (x < 0 || y < 0 || x >= p.width || y >= p.height) continue;
      const std::uint32_t v = p.pixels[static_cast<std::size_t>(y) * p.width + x];
      if (((v >> 16) & 255) + ((v >> 8) & 255) + (v & 255) < 3 * 128) ++dark;
    }
  return dark;
}

// Distinct colours in the image: a blank one has 1.
inline std::size_t colours(const Png& p) {
  std::vector<std::uint32_t> v(p.pixels);
  std::sort(v.begin(), v.end());
  return static_cast<std::size_t>(std::unique(v.begin(), v.end()) - v.begin());
}

inline std::filesystem::path test_root() {
  return std::filesystem::temp_directory_path() / ("spire_test_plot_" + std::to_string(getpid()));
}

// Removes this process's folder when the tests end.
struct RemoveTestRoot : ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(test_root(), ec);
  }
};
inline ::testing::Environment* const kRemoveTestRoot = ::testing::AddGlobalTestEnvironment(new RemoveTestRoot);

inline std::filesystem::path test_dir(const std::string& name) {
  const auto dir = test_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}
