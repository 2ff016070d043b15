#include "io/dataset.hpp"

#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/error.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

static_assert(std::is_same_v<hid_t, std::int64_t>, "DatasetReader stores hid_t as int64_t");

namespace {

using detail::class_name;
using detail::Handle;
using detail::silence_hdf5;

using Dims = std::vector<hsize_t>;

[[noreturn]] void fail_dataset(const std::string& file, const std::string& name,
                               const std::string& problem) {
  fail_in(file, "dataset '" + name + "': " + problem);
}

[[noreturn]] void fail_attribute(const std::string& file, const std::string& name,
                                 const std::string& problem) {
  fail_in(file, "attribute '" + name + "': " + problem);
}

std::string shape_string(const Dims& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + ")";
}

// An opened dataset whose element type is a number; its shape in dims.
struct Numeric {
  Handle dataset;
  Dims dims;
};

std::optional<Numeric> open_numeric(const std::string& file, hid_t f, const std::string& name,
                                    bool required) {
  if (H5Lexists(f, name.c_str(), H5P_DEFAULT) <= 0) {
    if (required) fail_dataset(file, name, "missing (required)");
    return std::nullopt;
  }
  Handle d(H5Dopen2(f, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) fail_dataset(file, name, "cannot be opened (not a dataset, or corrupt file)");
  Handle type(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail_dataset(file, name, std::string("has type ") + class_name(cls) + ", expected numbers");
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail_dataset(file, name, "unreadable shape (corrupt file?)");
  Dims dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return Numeric{std::move(d), std::move(dims)};
}

void expect_shape(const std::string& file, const std::string& name, const Dims& dims,
                  const Dims& expected, const std::string& layout) {
  if (dims != expected)
    fail_dataset(
        file, name,
        "has shape " + shape_string(dims) + ", expected " + shape_string(expected) + " " + layout);
}

template <typename T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same_v<T, std::int32_t>) return H5T_NATIVE_INT32;
}

// Whole dataset, converted to T by HDF5.
template <typename T>
std::vector<T> read_all(const std::string& file, const std::string& name, const Numeric& ds) {
  std::size_t n = 1;
  for (hsize_t d : ds.dims) n *= d;
  std::vector<T> out(n);
  if (H5Dread(ds.dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_dataset(file, name, "read failed (corrupt or truncated file?)");
  return out;
}

template <typename T>
void expect_finite(const std::string& file, const std::string& name, const std::vector<T>& v,
                   std::size_t components, std::size_t width) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    const std::size_t pixel = i / components;
    fail_dataset(file, name,
                 fmt::format("pixel (row {}, column {}) component {} is {}", pixel / width,
                             pixel % width, i % components, v[i]));
  }
}

std::optional<double> read_number_attribute(const std::string& file, hid_t f, const char* name) {
  if (H5Aexists(f, name) <= 0) return std::nullopt;
  Handle a(H5Aopen(f, name, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail_attribute(file, name, std::string("has type ") + class_name(cls) + ", expected a number");
  Handle space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    fail_attribute(file, name, "expected one number");
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail_attribute(file, name, "read failed");
  if (!std::isfinite(v)) fail_attribute(file, name, fmt::format("is {}", v));
  return v;
}

// h5py writes str attributes as variable-length strings, numpy bytes as fixed-length.
std::string read_string_attribute(const std::string& file, hid_t f, const char* name) {
  if (H5Aexists(f, name) <= 0) return {};
  Handle a(H5Aopen(f, name, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_STRING)
    fail_attribute(file, name, std::string("has type ") + class_name(cls) + ", expected a string");
  std::string problem;
  std::string value = detail::read_string_value(a.get(), type.get(), problem);
  if (!problem.empty()) fail_attribute(file, name, problem);
  return value;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Reading

DatasetReader::DatasetReader(std::string path) : path_(std::move(path)) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) fail_in(path_, "no such file");
  if (std::filesystem::is_directory(path_, ec)) fail_in(path_, "is a directory, not a file");
  if (H5Fis_hdf5(path_.c_str()) <= 0) fail_in(path_, "not an HDF5 file (wrong format, or corrupt)");
  Handle file(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) fail_in(path_, "cannot open as HDF5 (truncated or corrupt file?)");
  const hid_t f = file.get();

  Numeric intensities = *open_numeric(path_, f, "intensities", true);
  const Dims& d = intensities.dims;
  if (d.size() != 4 || d[1] != 1 || d[0] == 0 || d[2] == 0 || d[3] == 0)
    fail_dataset(path_, "intensities",
                 "has shape " + shape_string(d) + ", expected (N,1,H,W) with N, H, W > 0");
  constexpr auto int_max = static_cast<hsize_t>(std::numeric_limits<int>::max());
  if (d[2] > int_max || d[3] > int_max)
    fail_dataset(path_, "intensities", "detector of " + shape_string(d) + " is too large");
  info_.n_images = d[0];
  info_.height = static_cast<int>(d[2]);
  info_.width = static_cast<int>(d[3]);
  const hsize_t n = d[0], h = d[2], w = d[3];
  const std::size_t width = d[3];

  {
    const std::string name = "pixel_position_reciprocal";
    Numeric ds = *open_numeric(path_, f, name, true);
    expect_shape(path_, name, ds.dims, {1, h, w, 3}, "(1,H,W,3) for intensities (N,1,H,W)");
    info_.pixel_position_reciprocal = read_all<float>(path_, name, ds);
    expect_finite(path_, name, info_.pixel_position_reciprocal, 3, width);
  }
  {
    const std::string name = "pixel_index_map";
    Numeric ds = *open_numeric(path_, f, name, true);
    expect_shape(path_, name, ds.dims, {1, h, w, 2}, "(1,H,W,2) for intensities (N,1,H,W)");
    info_.pixel_index_map = read_all<std::int32_t>(path_, name, ds);
  }
  auto read_pixel_map = [&](const std::string& name) -> std::vector<float> {
    auto ds = open_numeric(path_, f, name, false);
    if (!ds) return {};
    expect_shape(path_, name, ds->dims, {1, h, w}, "(1,H,W) for intensities (N,1,H,W)");
    auto values = read_all<float>(path_, name, *ds);
    expect_finite(path_, name, values, 1, width);
    return values;
  };
  info_.polarization = read_pixel_map("polarization");
  info_.solid_angle = read_pixel_map("solid_angle");
  if (auto ds = open_numeric(path_, f, "orientations", false)) {
    if (ds->dims != Dims{n, 1, 4} && ds->dims != Dims{n, 4})
      fail_dataset(path_, "orientations",
                   "has shape " + shape_string(ds->dims) + ", expected (" + std::to_string(n) +
                       ",1,4) quaternions w,x,y,z, one per image");
    has_orientations_ = true;
  }
  if (auto ds = open_numeric(path_, f, "volume", false)) {
    if (ds->dims.size() != 3 || ds->dims[0] == 0 || ds->dims[1] == 0 || ds->dims[2] == 0)
      fail_dataset(path_, "volume", "has shape " + shape_string(ds->dims) + ", expected (n,n,n)");
    volume_shape_ = {ds->dims[0], ds->dims[1], ds->dims[2]};
  }

  if (auto stated = read_number_attribute(path_, f, "n_images"); stated && *stated != double(n))
    fail_attribute(path_, "n_images",
                   fmt::format("says {} images but dataset 'intensities' holds {}", *stated, n));
  info_.det_distance = read_number_attribute(path_, f, "det_distance");
  info_.photon_energy = read_number_attribute(path_, f, "photon_energy");
  info_.photons_per_pulse = read_number_attribute(path_, f, "photons_per_pulse");
  info_.beam_radius = read_number_attribute(path_, f, "beam_radius");
  info_.command_line = read_string_attribute(path_, f, "command_line");
  info_.pdb = read_string_attribute(path_, f, "pdb");

  intensities_ = intensities.dataset.release();
  file_ = file.release();
}

DatasetReader::~DatasetReader() {
  if (intensities_ >= 0) H5Dclose(intensities_);
  if (file_ >= 0) H5Fclose(file_);
}

void DatasetReader::read_images(std::size_t first, std::size_t count, float* out) const {
  const std::size_t n = info_.n_images;
  if (first > n || count > n - first)
    fail_dataset(path_, "intensities",
                 fmt::format("{} images from image {} requested, but the file holds {} images",
                             count, first, n));
  if (count == 0) return;
  const auto h = static_cast<hsize_t>(info_.height), w = static_cast<hsize_t>(info_.width);
  const hsize_t start[4] = {first, 0, 0, 0};
  const hsize_t extent[4] = {count, 1, h, w};
  Handle file_space(H5Dget_space(intensities_), H5Sclose);
  Handle mem_space(H5Screate_simple(4, extent, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr) < 0 ||
      H5Dread(intensities_, H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT, out) <
          0)
    fail_dataset(path_, "intensities",
                 fmt::format("reading images {}..{} failed (truncated or corrupt file?)", first,
                             first + count - 1));

  // One cheap pass; the error path then says which image and pixel is wrong.
  const std::size_t values = count * info_.pixels();
  bool bad = false;
  for (std::size_t i = 0; i < values; ++i) bad |= !(out[i] >= 0.0f) || std::isinf(out[i]);
  if (!bad) return;
  for (std::size_t i = 0; i < values; ++i) {
    const float v = out[i];
    if (v >= 0.0f && !std::isinf(v)) continue;
    const std::size_t pixel = i % info_.pixels();
    fail_dataset(
        path_, "intensities",
        fmt::format("image {} pixel (row {}, column {}) is {}{}", first + i / info_.pixels(),
                    pixel / w, pixel % w, v, std::isfinite(v) ? " (negative intensity)" : ""));
  }
}

std::vector<double> DatasetReader::read_orientations() const {
  if (!has_orientations_) fail_dataset(path_, "orientations", "not in this file");
  Numeric ds = *open_numeric(path_, file_, "orientations", true);
  auto q = read_all<double>(path_, "orientations", ds);
  expect_finite(path_, "orientations", q, 4, 1);
  return q;
}

Volume DatasetReader::read_volume() const {
  if (!has_volume()) fail_dataset(path_, "volume", "not in this file");
  Numeric ds = *open_numeric(path_, file_, "volume", true);
  return Volume{volume_shape_, read_all<float>(path_, "volume", ds)};
}

// ---------------------------------------------------------------------------------------
// Writing

namespace {

template <typename T>
void write_array(const std::string& path, hid_t f, const std::string& name, const Dims& dims,
                 hid_t file_type, const T* data) {
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle d(
      H5Dcreate2(f, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  if (!d.valid() || H5Dwrite(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_dataset(path, name, "write failed");
}

void write_number_attribute(const std::string& path, hid_t f, const char* name, hid_t file_type,
                            hid_t mem_type, const void* value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(f, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), mem_type, value) < 0)
    fail_attribute(path, name, "write failed");
}

// Variable-length UTF-8, as h5py writes Python strings.
void write_string_attribute(const std::string& path, hid_t f, const char* name,
                            const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(f, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* s = value.c_str();
  if (!a.valid() || H5Awrite(a.get(), type.get(), &s) < 0)
    fail_attribute(path, name, "write failed");
}

void check_info(const std::string& path, const DatasetInfo& info,
                std::span<const double> orientations, const Volume& volume) {
  if (info.n_images == 0 || info.height <= 0 || info.width <= 0)
    fail_in(path, fmt::format("cannot write {} images of {} x {} pixels", info.n_images,
                              info.height, info.width));
  const std::size_t p = info.pixels();
  auto expect = [&](const char* name, std::size_t got, std::size_t want) {
    if (got != want) fail_dataset(path, name, fmt::format("has {} values, expected {}", got, want));
  };
  expect("pixel_position_reciprocal", info.pixel_position_reciprocal.size(), 3 * p);
  expect("pixel_index_map", info.pixel_index_map.size(), 2 * p);
  if (!info.polarization.empty()) expect("polarization", info.polarization.size(), p);
  if (!info.solid_angle.empty()) expect("solid_angle", info.solid_angle.size(), p);
  if (!orientations.empty()) expect("orientations", orientations.size(), 4 * info.n_images);
  if (!volume.values.empty())
    expect("volume", volume.values.size(), volume.shape[0] * volume.shape[1] * volume.shape[2]);
}

}  // namespace

DatasetWriter::DatasetWriter(std::string path, const DatasetInfo& info,
                             std::span<const double> orientations, const Volume& volume)
    : path_(std::move(path)),
      tmp_path_(path_ + ".tmp-" + std::to_string(::getpid())),
      height_(static_cast<std::size_t>(std::max(info.height, 0))),
      width_(static_cast<std::size_t>(std::max(info.width, 0))),
      written_(info.n_images, false) {
  silence_hdf5();
  check_info(path_, info, orientations, volume);
  errno = 0;
  file_ = H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0)
    fail_in(path_,
            "cannot create " + tmp_path_ + (errno ? ": " + std::string(std::strerror(errno)) : ""));
  try {
    const hsize_t n = info.n_images, h = height_, w = width_;
    write_array(path_, file_, "pixel_position_reciprocal", {1, h, w, 3}, H5T_IEEE_F32LE,
                info.pixel_position_reciprocal.data());
    write_array(path_, file_, "pixel_index_map", {1, h, w, 2}, H5T_STD_I32LE,
                info.pixel_index_map.data());
    if (!info.polarization.empty())
      write_array(path_, file_, "polarization", {1, h, w}, H5T_IEEE_F32LE,
                  info.polarization.data());
    if (!info.solid_angle.empty())
      write_array(path_, file_, "solid_angle", {1, h, w}, H5T_IEEE_F32LE, info.solid_angle.data());
    if (!orientations.empty())
      write_array(path_, file_, "orientations", {n, 1, 4}, H5T_IEEE_F64LE, orientations.data());
    if (!volume.values.empty())
      write_array(path_, file_, "volume", {volume.shape[0], volume.shape[1], volume.shape[2]},
                  H5T_IEEE_F32LE, volume.values.data());

    // One chunk per image: any range of images is read without touching the others.
    const hsize_t dims[4] = {n, 1, h, w};
    const hsize_t chunk[4] = {1, 1, h, w};
    Handle space(H5Screate_simple(4, dims, nullptr), H5Sclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl.get(), 4, chunk);
    intensities_ = H5Dcreate2(file_, "intensities", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT,
                              dcpl.get(), H5P_DEFAULT);
    if (intensities_ < 0) fail_dataset(path_, "intensities", "cannot create");

    const auto n_images = static_cast<std::int64_t>(info.n_images);
    write_number_attribute(path_, file_, "n_images", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_images);
    const std::pair<const char*, const std::optional<double>&> numbers[] = {
        {"det_distance", info.det_distance},
        {"photon_energy", info.photon_energy},
        {"photons_per_pulse", info.photons_per_pulse},
        {"beam_radius", info.beam_radius}};
    for (const auto& [name, value] : numbers)
      if (value)
        write_number_attribute(path_, file_, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &*value);
    if (!info.command_line.empty())
      write_string_attribute(path_, file_, "command_line", info.command_line);
    if (!info.pdb.empty()) write_string_attribute(path_, file_, "pdb", info.pdb);
  } catch (...) {
    discard();
    throw;
  }
}

DatasetWriter::~DatasetWriter() { discard(); }

void DatasetWriter::discard() noexcept {
  if (intensities_ >= 0) H5Dclose(intensities_);
  if (file_ >= 0) H5Fclose(file_);
  intensities_ = file_ = -1;
  if (!tmp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp_path_, ec);
    tmp_path_.clear();
  }
}

void DatasetWriter::write_images(std::size_t first, std::size_t count, const float* images) {
  if (file_ < 0) fail_in(path_, "write_images after finish");
  const std::size_t n = written_.size();
  if (first > n || count > n - first)
    fail_dataset(path_, "intensities",
                 fmt::format("cannot write {} images from image {}: the file holds {} images",
                             count, first, n));
  if (count == 0) return;
  const hsize_t start[4] = {first, 0, 0, 0};
  const hsize_t extent[4] = {count, 1, height_, width_};
  Handle file_space(H5Dget_space(intensities_), H5Sclose);
  Handle mem_space(H5Screate_simple(4, extent, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr) < 0 ||
      H5Dwrite(intensities_, H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT,
               images) < 0)
    fail_dataset(
        path_, "intensities",
        fmt::format("writing images {}..{} failed (disk full?)", first, first + count - 1));
  std::fill_n(written_.begin() + static_cast<std::ptrdiff_t>(first), count, true);
}

void DatasetWriter::finish() {
  if (file_ < 0) fail_in(path_, "finish called twice");
  if (auto gap = std::find(written_.begin(), written_.end(), false); gap != written_.end())
    fail_dataset(path_, "intensities",
                 fmt::format("image {} was never written", gap - written_.begin()));
  const herr_t closed_dataset = H5Dclose(std::exchange(intensities_, -1));
  const herr_t closed_file = H5Fclose(std::exchange(file_, -1));
  if (closed_dataset < 0 || closed_file < 0)
    fail_in(path_, "closing " + tmp_path_ + " failed (disk full?)");
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) fail_in(path_, "cannot move " + tmp_path_ + " into place: " + ec.message());
  tmp_path_.clear();
}

void write_dataset(const std::string& path, const DatasetInfo& info, std::span<const float> images,
                   std::span<const double> orientations, const Volume& volume) {
  if (images.size() != info.n_images * info.pixels())
    fail_dataset(path, "intensities",
                 fmt::format("has {} values, expected {} images x {} x {}", images.size(),
                             info.n_images, info.height, info.width));
  DatasetWriter writer(path, info, orientations, volume);
  writer.write_images(0, info.n_images, images.data());
  writer.finish();
}

// ---------------------------------------------------------------------------------------
// Summary

std::string describe(const std::string& path, bool every_image) {
  const DatasetReader reader(path);
  const DatasetInfo& info = reader.info();
  const std::size_t h = static_cast<std::size_t>(info.height);
  const std::size_t w = static_cast<std::size_t>(info.width);
  auto s_at = [&](std::size_t row, std::size_t col) {
    const float* p = &info.pixel_position_reciprocal[3 * (row * w + col)];
    return std::sqrt(double(p[0]) * p[0] + double(p[1]) * p[1] + double(p[2]) * p[2]);
  };
  // |s| = 2 sin(theta) / lambda, so the resolution is d = 1/|s| (1/m -> Angstrom: 1e10).
  double s_min = std::numeric_limits<double>::infinity(), s_max = 0;
  for (std::size_t r = 0; r < h; ++r)
    for (std::size_t c = 0; c < w; ++c) {
      s_min = std::min(s_min, s_at(r, c));
      s_max = std::max(s_max, s_at(r, c));
    }
  // The edge midpoints bound the resolution the detector covers in every direction.
  const double s_edge =
      std::min({s_at(0, w / 2), s_at(h - 1, w / 2), s_at(h / 2, 0), s_at(h / 2, w - 1)});
  auto angstrom = [](double s) {
    return s > 0 ? fmt::format("{:.1f} A", 1e10 / s) : std::string("infinite");
  };

  std::string out = path + "\n";
  out += fmt::format("  images        {} of {} x {} pixels (H x W)\n", info.n_images, h, w);
  out += fmt::format("  |s| range     {:.4g} .. {:.4g} 1/A\n", s_min * 1e-10, s_max * 1e-10);
  out += fmt::format("  resolution    {} at the edge, {} at the corner (lowest {})\n",
                     angstrom(s_edge), angstrom(s_max), angstrom(s_min));
  out += fmt::format("  orientations  {}\n",
                     reader.has_orientations() ? "present (ground truth)" : "absent");
  const auto vs = reader.volume_shape();
  out += "  volume        " +
         (reader.has_volume() ? fmt::format("{} x {} x {}", vs[0], vs[1], vs[2]) : "absent") + "\n";
  out += fmt::format("  polarization  {}, solid_angle {}\n",
                     info.polarization.empty() ? "absent" : "present",
                     info.solid_angle.empty() ? "absent" : "present");
  auto number = [&](const char* name, const std::optional<double>& v, const char* unit) {
    if (v) out += fmt::format("  {:<13} {:.6g}{}\n", name, *v, unit);
  };
  number("det_distance", info.det_distance, " m");
  number("photon_energy", info.photon_energy, " eV");
  number("photons/pulse", info.photons_per_pulse, "");
  number("beam_radius", info.beam_radius, " m");
  if (!info.pdb.empty()) out += "  pdb           " + info.pdb + "\n";
  if (!info.command_line.empty()) out += "  command_line  " + info.command_line + "\n";

  const std::size_t sampled = every_image ? info.n_images : std::min<std::size_t>(info.n_images, 1000);
  const std::size_t block = std::max<std::size_t>(1, (std::size_t(1) << 22) / info.pixels());
  std::vector<float> images(std::min(block, sampled) * info.pixels());
  double total = 0;
  for (std::size_t first = 0; first < sampled; first += block) {
    const std::size_t count = std::min(block, sampled - first);
    reader.read_images(first, count, images.data());
    for (std::size_t i = 0; i < count * info.pixels(); ++i) total += images[i];
  }
  out += fmt::format("  photons       {:.4g} per image (mean over {} {} images{})\n",
                     total / double(sampled), sampled == info.n_images ? "all" : "the first", sampled,
                     every_image ? ", every value checked" : "");
  return out;
}

}  // namespace spire::io
