#include "io/mrc.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/files.hpp"

namespace spire::io {

// Map data goes to and from disk without conversion on the little-endian hosts we build for.
static_assert(std::endian::native == std::endian::little, "MRC I/O assumes a little-endian host");

namespace {

constexpr std::size_t header_bytes = 1024;
using Header = std::array<unsigned char, header_bytes>;

// MRC2014 numbers its 4-byte header words from 1.
std::size_t offset(int word) { return 4 * static_cast<std::size_t>(word - 1); }

void put_i32(Header& h, int word, std::int32_t v) { std::memcpy(&h[offset(word)], &v, 4); }
void put_f32(Header& h, int word, double v) {
  const auto f = static_cast<float>(v);
  std::memcpy(&h[offset(word)], &f, 4);
}

std::uint32_t get_u32(const Header& h, int word, bool swap) {
  std::uint32_t v;
  std::memcpy(&v, &h[offset(word)], 4);
  return swap ? __builtin_bswap32(v) : v;
}
std::int32_t get_i32(const Header& h, int word, bool swap) {
  return std::bit_cast<std::int32_t>(get_u32(h, word, swap));
}
double get_f32(const Header& h, int word, bool swap) {
  return std::bit_cast<float>(get_u32(h, word, swap));
}

std::string system_error() { return errno ? std::strerror(errno) : "I/O error"; }

constexpr int label_word = 57, label_chars = 80, max_labels = 10;

// "spire <version>", then the map's own labels (module contract: mrc.hpp).
void put_labels(Header& h, const std::string& path, const std::vector<std::string>& labels) {
  std::vector<std::string> out{"spire " SPIRE_VERSION};
  for (const auto& l : labels) {
    if (l.size() > label_chars)
      fail_in(path, fmt::format("MRC label '{}' has {} characters (at most 80)", l, l.size()));
    if (std::any_of(l.begin(), l.end(), [](char c) { return c < 32 || c > 126; }))
      fail_in(path, fmt::format("MRC label '{}' holds a character outside printable ASCII", l));
    if (l.rfind("spire ", 0) != 0 && out.size() < max_labels) out.push_back(l);
  }
  put_i32(h, 56, static_cast<std::int32_t>(out.size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned char* at = &h[offset(label_word) + i * label_chars];
    std::memset(at, ' ', label_chars);
    std::memcpy(at, out[i].data(), out[i].size());
  }
}

std::vector<std::string> get_labels(const Header& h, bool swap) {
  const int count = std::clamp(get_i32(h, 56, swap), 0, max_labels);
  std::vector<std::string> labels;
  for (int i = 0; i < count; ++i) {
    const auto* at = reinterpret_cast<const char*>(&h[offset(label_word) + std::size_t(i) * label_chars]);
    std::string l(at, label_chars);
    l.erase(std::find(l.begin(), l.end(), '\0'), l.end());
    l.erase(l.find_last_not_of(' ') + 1);
    labels.push_back(l);
  }
  return labels;
}

// The origin in whole voxels for NXSTART..NZSTART, or zeros when it is not whole.
std::array<std::int32_t, 3> start_indices(const Map& map) {
  std::array<std::int32_t, 3> start{};
  for (int a = 0; a < 3; ++a) {
    const double v = map.origin[std::size_t(a)] / map.voxel_size;
    if (std::abs(v - std::round(v)) > 1e-4 || std::abs(v) > 1e9) return {};
    start[std::size_t(a)] = static_cast<std::int32_t>(std::lround(v));
  }
  return start;
}

}  // namespace

void write_mrc(const std::string& path, const Map& map) {
  if (map.nx <= 0 || map.ny <= 0 || map.nz <= 0)
    fail_in(path, fmt::format("cannot write a map of {} x {} x {} voxels", map.nx, map.ny, map.nz));
  const std::size_t n = std::size_t(map.nx) * std::size_t(map.ny) * std::size_t(map.nz);
  if (map.data.size() != n)
    fail_in(path, fmt::format("map of {} x {} x {} voxels has {} values", map.nx, map.ny, map.nz,
                              map.data.size()));
  if (!(map.voxel_size > 0) || !std::isfinite(map.voxel_size))
    fail_in(path, fmt::format("voxel size {} is not a positive number", map.voxel_size));

  double sum = 0, sum2 = 0;
  float lo = map.data[0], hi = map.data[0];
  for (float v : map.data) {
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double mean = sum / double(n);
  for (float v : map.data) sum2 += (v - mean) * (v - mean);

  Header h{};
  put_i32(h, 1, map.nx);
  put_i32(h, 2, map.ny);
  put_i32(h, 3, map.nz);
  put_i32(h, 4, 2);  // mode 2: 32-bit float
  const auto start = start_indices(map);  // words 5-7: the origin in voxels when whole
  for (int a = 0; a < 3; ++a) put_i32(h, 5 + a, start[std::size_t(a)]);
  put_i32(h, 8, map.nx);  // mx, my, mz: sampling = map size, so cell / m is the voxel size
  put_i32(h, 9, map.ny);
  put_i32(h, 10, map.nz);
  put_f32(h, 11, map.nx * map.voxel_size);
  put_f32(h, 12, map.ny * map.voxel_size);
  put_f32(h, 13, map.nz * map.voxel_size);
  for (int word : {14, 15, 16}) put_f32(h, word, 90.0);
  put_i32(h, 17, 1);  // mapc, mapr, maps: columns x, rows y, sections z
  put_i32(h, 18, 2);
  put_i32(h, 19, 3);
  put_f32(h, 20, lo);
  put_f32(h, 21, hi);
  put_f32(h, 22, mean);
  put_i32(h, 23, 1);      // ispg 1: a single volume (0 would mean an image stack)
  put_i32(h, 24, 0);      // nsymbt: no extended header
  put_i32(h, 28, 20140);  // nversion: MRC2014
  for (int a = 0; a < 3; ++a) put_f32(h, 50 + a, map.origin[std::size_t(a)]);
  std::memcpy(&h[offset(53)], "MAP ", 4);
  const unsigned char stamp[4] = {0x44, 0x44, 0x00, 0x00};  // little-endian
  std::memcpy(&h[offset(54)], stamp, 4);
  put_f32(h, 55, std::sqrt(sum2 / double(n)));
  put_labels(h, path, map.labels);

  // Written beside the target and renamed, so readers never see half a map.
  const std::string tmp = temporary_path(path);
  errno = 0;
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) fail_in(path, "cannot create " + tmp + ": " + system_error());
  out.write(reinterpret_cast<const char*>(h.data()), std::streamsize(h.size()));
  out.write(reinterpret_cast<const char*>(map.data.data()), std::streamsize(n * sizeof(float)));
  out.close();
  std::error_code ec;
  if (!out) {
    const std::string why = system_error();
    std::filesystem::remove(tmp, ec);
    fail_in(path, "writing " + tmp + " failed: " + why);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail_in(path, "cannot move " + tmp + " into place: " + ec.message());
  }
}

Map read_mrc(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail_in(path, "no such file");
  const std::uintmax_t length = std::filesystem::file_size(path, ec);
  if (ec) fail_in(path, "cannot read: " + ec.message());
  if (length < header_bytes)
    fail_in(path, fmt::format("{} bytes is too short for an MRC file (header 1024 bytes)", length));

  errno = 0;
  std::ifstream in(path, std::ios::binary);
  Header h{};
  if (!in.read(reinterpret_cast<char*>(h.data()), std::streamsize(h.size())))
    fail_in(path, "cannot read the MRC header: " + system_error());
  if (std::memcmp(&h[offset(53)], "MAP ", 4) != 0)
    fail_in(path, "not an MRC map (no 'MAP ' tag at byte 208)");
  const bool swap = h[offset(54)] == 0x11;  // big-endian machine stamp 0x11 0x11 0 0

  Map map;
  map.nx = get_i32(h, 1, swap);
  map.ny = get_i32(h, 2, swap);
  map.nz = get_i32(h, 3, swap);
  const std::int32_t mode = get_i32(h, 4, swap);
  const std::int32_t nsymbt = get_i32(h, 24, swap);
  if (mode != 2)
    fail_in(path, fmt::format("MRC mode {} is not supported (only mode 2, 32-bit float)", mode));
  if (map.nx <= 0 || map.ny <= 0 || map.nz <= 0 || nsymbt < 0)
    fail_in(path, fmt::format("invalid header: {} x {} x {} voxels, extended header {} bytes",
                              map.nx, map.ny, map.nz, nsymbt));
  const std::uintmax_t n = std::uintmax_t(map.nx) * std::uintmax_t(map.ny) * std::uintmax_t(map.nz);
  const std::uintmax_t expected = header_bytes + std::uintmax_t(nsymbt) + 4 * n;
  if (length != expected)
    fail_in(path, fmt::format("{}: the header describes {} x {} x {} floats ({} bytes) but the "
                              "file has {} bytes",
                              length < expected ? "truncated" : "unexpected length", map.nx, map.ny,
                              map.nz, expected, length));
  const std::int32_t mapc = get_i32(h, 17, swap), mapr = get_i32(h, 18, swap),
                     maps = get_i32(h, 19, swap);
  if (mapc != 1 || mapr != 2 || maps != 3)
    fail_in(path, fmt::format("axis order mapc/mapr/maps {},{},{} is not supported (only 1,2,3)",
                              mapc, mapr, maps));

  const int dims[3] = {map.nx, map.ny, map.nz};
  double voxel[3];
  for (int a = 0; a < 3; ++a) {
    const std::int32_t m = get_i32(h, 8 + a, swap);
    const double cell = get_f32(h, 11 + a, swap);
    if (!(cell > 0) || !std::isfinite(cell))
      fail_in(path, fmt::format("cell dimension {} along axis {} is not positive", cell, a + 1));
    voxel[a] = cell / (m > 0 ? m : dims[a]);
  }
  if (std::abs(voxel[1] - voxel[0]) > 1e-4 * voxel[0] ||
      std::abs(voxel[2] - voxel[0]) > 1e-4 * voxel[0])
    fail_in(path,
            fmt::format("voxels of {} x {} x {} A are not cubic", voxel[0], voxel[1], voxel[2]));
  map.voxel_size = voxel[0];

  // Like ChimeraX: the origin words when set, otherwise the start indices.
  for (int a = 0; a < 3; ++a) map.origin[std::size_t(a)] = get_f32(h, 50 + a, swap);
  if (map.origin == std::array<double, 3>{})
    for (int a = 0; a < 3; ++a) map.origin[std::size_t(a)] = get_i32(h, 5 + a, swap) * voxel[a];

  map.labels = get_labels(h, swap);
  map.data.resize(n);
  in.seekg(std::streamoff(header_bytes) + nsymbt);
  if (!in.read(reinterpret_cast<char*>(map.data.data()), std::streamsize(n * sizeof(float))))
    fail_in(path, "cannot read the map data: " + system_error());
  if (swap)
    for (float& v : map.data)
      v = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<std::uint32_t>(v)));
  return map;
}

}  // namespace spire::io
