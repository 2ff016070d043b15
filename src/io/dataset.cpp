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
#include "core/files.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

namespace {

using detail::class_name;
using detail::optional_part;
using detail::Handle;
using detail::prepare_hdf5;
using detail::write_problem;

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

// A dataset's element type in words: "float64", "int64", "complex128 (compound of 2
// float64)" (h5py's complex numbers), "string".
std::string type_words(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t bits = 8 * H5Tget_size(type);
  if (cls == H5T_FLOAT) return fmt::format("float{}", bits);
  if (cls == H5T_INTEGER) return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
  if (cls != H5T_COMPOUND) return class_name(cls);
  const int members = H5Tget_nmembers(type);
  if (members == 2) {
    Handle a(H5Tget_member_type(type, 0), H5Tclose), b(H5Tget_member_type(type, 1), H5Tclose);
    if (a.valid() && b.valid() && H5Tget_class(a.get()) == H5T_FLOAT && H5Tequal(a.get(), b.get()) > 0)
      return fmt::format("complex{} (compound of 2 float{})", bits, bits / 2);
  }
  return fmt::format("compound of {} members", members);
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
    fail_dataset(file, name, "has type " + type_words(type.get()) + ", expected numbers");
  // HDF5 1.10 accepts a corrupt type size and allocates by it (fuzz/corpus/dataset/oom-type-size-3eed5c96).
  if (const std::size_t size = H5Tget_size(type.get()); size == 0 || size > 16)
    fail_dataset(file, name, fmt::format("has {}-byte numbers (corrupt file?)", size));
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
  if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_NATIVE_UINT8;
}

// This machine's physical memory in bytes (0: unknown).
double physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

// Whole dataset, converted to T by HDF5. A shape that could not fit in memory (a corrupt
// header can declare terabytes in a file of kilobytes: found by fuzzing) is an error naming
// the dataset, before any allocation.
template <typename T>
std::vector<T> read_all(const std::string& file, const std::string& name, const Numeric& ds) {
  double values = 1;
  for (hsize_t d : ds.dims) values *= static_cast<double>(d);
  const double bytes = values * sizeof(T), memory = physical_memory();
  if (memory > 0 && bytes > memory)
    fail_dataset(file, name,
                 fmt::format("has shape {}: {:.3g} GB to read, more than this machine's memory ({:.3g} GB); a "
                             "corrupt header?",
                             shape_string(ds.dims), bytes / 1e9, memory / 1e9));
  std::vector<T> out(static_cast<std::size_t>(values));
  if (H5Dread(ds.dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_dataset(file, name, "read failed (corrupt or truncated file?)");
  return out;
}

// Where pixel p (panel-major, then row, then column) lies; the panel is named only when
// there are several.
std::string pixel_words(std::size_t p, const DatasetInfo& det) {
  const auto w = static_cast<std::size_t>(det.width), hw = static_cast<std::size_t>(det.height) * w;
  const std::string panel = det.panels > 1 ? fmt::format("panel {}, ", p / hw) : "";
  return fmt::format("pixel ({}row {}, column {})", panel, p % hw / w, p % w);
}

// Where value i of a per-pixel dataset of `components` values per pixel lies.
auto pixel_place(std::size_t components, const DatasetInfo& det) {
  return [components, &det](std::size_t i) {
    return fmt::format("{} component {}", pixel_words(i / components, det), i % components);
  };
}

template <typename T, typename Place>
void expect_finite(const std::string& file, const std::string& name, const std::vector<T>& v, Place place) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) fail_dataset(file, name, fmt::format("{} is {}", place(i), v[i]));
}

std::string beyond_float32(double v) { return fmt::format("value {} does not fit in float32", v); }

// Values read as double, as float32; a finite value beyond float32's range is an error
// naming it (HDF5's conversion would make it inf). place(i) says where value i lies.
template <typename Place>
std::vector<float> to_float32(const std::string& file, const std::string& name,
                              const std::vector<double>& v, Place place) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i]) && std::abs(v[i]) > std::numeric_limits<float>::max())
      fail_dataset(file, name, place(i) + ": " + beyond_float32(v[i]));
    out[i] = static_cast<float>(v[i]);
  }
  return out;
}

// A per-pixel map as float32, finite (NaN/Inf named by pixel and component).
std::vector<float> read_pixel_floats(const std::string& file, const std::string& name, const Numeric& ds,
                                     std::size_t components, const DatasetInfo& det) {
  const auto place = pixel_place(components, det);
  auto values = to_float32(file, name, read_all<double>(file, name, ds), place);
  expect_finite(file, name, values, place);
  return values;
}

// X-ray SPI detectors reach |q| of 1e8-1e11 1/m; outside [1e6, 1e13] the unit is another
// (1/Angstrom or 1/nm are 1e10 and 1e9 times smaller).
void expect_inverse_metres(const std::string& file, const std::vector<float>& q) {
  double q_max = 0;
  for (std::size_t i = 0; i + 2 < q.size(); i += 3)
    q_max = std::max(q_max, std::hypot(double(q[i]), double(q[i + 1]), double(q[i + 2])));
  if (q_max < 1e6 || q_max > 1e13)
    fail_dataset(file, "pixel_position_reciprocal",
                 fmt::format("pixel_position_reciprocal looks like it is not in 1/m (max |q| = {:.3g}; "
                             "X-ray SPI detectors reach 1e8-1e11 1/m)",
                             q_max));
}

std::optional<double> read_number_attribute(const std::string& file, hid_t f, const char* name) {
  if (H5Aexists(f, name) <= 0) return std::nullopt;
  Handle a(H5Aopen(f, name, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail_attribute(file, name, std::string("has type ") + class_name(cls) + ", expected a number");
  if (const std::size_t size = H5Tget_size(type.get()); size == 0 || size > 16)
    fail_attribute(file, name, fmt::format("has {}-byte numbers (corrupt file?)", size));
  Handle space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    fail_attribute(file, name, "expected one number");
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail_attribute(file, name, "read failed");
  if (!std::isfinite(v)) fail_attribute(file, name, fmt::format("is {}", v));
  return v;
}

std::optional<std::array<double, 3>> read_vector_attribute(const std::string& file, hid_t f, const char* name) {
  if (H5Aexists(f, name) <= 0) return std::nullopt;
  Handle a(H5Aopen(f, name, H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  Handle space(H5Aget_space(a.get()), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT && H5Tget_class(type.get()) != H5T_INTEGER)
    fail_attribute(file, name, "expected 3 numbers");
  if (H5Sget_simple_extent_npoints(space.get()) != 3) fail_attribute(file, name, "expected 3 numbers");
  std::array<double, 3> v{};
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()) < 0) fail_attribute(file, name, "read failed");
  for (double x : v)
    if (!std::isfinite(x)) fail_attribute(file, name, fmt::format("holds {}", x));
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

// The detector of intensities (N,P,H,W): N, P, H, W.
Dims image_dims(const std::string& file, const Numeric& intensities) {
  const Dims& d = intensities.dims;
  if (d.size() != 4 || std::find(d.begin(), d.end(), hsize_t{0}) != d.end())
    fail_dataset(file, "intensities",
                 "has shape " + shape_string(d) + ", expected (N,P,H,W) (images, panels, rows, columns) all > 0");
  constexpr auto int_max = static_cast<hsize_t>(std::numeric_limits<int>::max());
  if (d[1] > int_max || d[2] > int_max || d[3] > int_max || d[1] * d[2] > int_max || d[1] * d[2] * d[3] > int_max)
    fail_dataset(file, "intensities", "detector of " + shape_string(d) + " is too large");
  return d;
}

Dims detector_dims(const DatasetInfo& info, std::initializer_list<hsize_t> tail = {}) {
  Dims d{hsize_t(info.panels), hsize_t(info.height), hsize_t(info.width)};
  d.insert(d.end(), tail);
  return d;
}

// pixel_position_reciprocal (P,H,W,3), required; SpiniFEL's (3,P,H,W) is its in-memory order,
// not the file's, and is refused naming the file's order.
void read_positions(const std::string& file, hid_t f, DatasetInfo& info) {
  const std::string name = "pixel_position_reciprocal";
  Numeric ds = *open_numeric(file, f, name, true);
  if (ds.dims.size() == 4 && ds.dims[0] == 3 && Dims(ds.dims.begin() + 1, ds.dims.end()) == detector_dims(info))
    fail_dataset(file, name, "has shape " + shape_string(ds.dims) + ": the coordinate axis comes last in the file, " +
                                 shape_string(detector_dims(info, {3})) + " (P,H,W,3), as skopi writes it");
  expect_shape(file, name, ds.dims, detector_dims(info, {3}), "(P,H,W,3) for intensities (N,P,H,W)");
  info.pixel_position_reciprocal = read_pixel_floats(file, name, ds, 3, info);
  expect_inverse_metres(file, info.pixel_position_reciprocal);
}

// pixel_index_map (P,H,W,2): integers in [0, max_assembled_side); sets the assembled size.
// False when absent.
bool read_index_map(const std::string& file, hid_t f, DatasetInfo& info) {
  const std::string name = "pixel_index_map";
  auto ds = open_numeric(file, f, name, false);
  if (!ds) return false;
  expect_shape(file, name, ds->dims, detector_dims(info, {2}), "(P,H,W,2) for intensities (N,P,H,W)");
  Handle type(H5Dget_type(ds->dataset.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER)
    fail_dataset(file, name, "has type " + type_words(type.get()) + ", expected integers");
  auto map = read_all<std::int32_t>(file, name, *ds);
  const auto place = pixel_place(2, info);
  std::array<int, 2> side{0, 0};
  for (std::size_t i = 0; i < map.size(); ++i) {
    if (map[i] < 0 || map[i] >= max_assembled_side)
      fail_dataset(file, name, fmt::format("{} is {}, expected 0 to {}", place(i), map[i], max_assembled_side - 1));
    side[i % 2] = std::max(side[i % 2], map[i] + 1);
  }
  info.pixel_index_map = std::move(map);
  info.assembled_height = side[0];
  info.assembled_width = side[1];
  return true;
}

// polarization or solid_angle (P,H,W); empty when absent.
std::vector<float> read_pixel_map(const std::string& file, hid_t f, const std::string& name, const DatasetInfo& info) {
  auto ds = open_numeric(file, f, name, false);
  if (!ds) return {};
  expect_shape(file, name, ds->dims, detector_dims(info), "(P,H,W) for intensities (N,P,H,W)");
  return read_pixel_floats(file, name, *ds, 1, info);
}

// mask (P,H,W): integers, nonzero = usable; empty when absent.
std::vector<std::uint8_t> read_mask(const std::string& file, hid_t f, const DatasetInfo& info) {
  auto ds = open_numeric(file, f, "mask", false);
  if (!ds) return {};
  expect_shape(file, "mask", ds->dims, detector_dims(info), "(P,H,W) for intensities (N,P,H,W)");
  const auto values = read_all<double>(file, "mask", *ds);
  std::vector<std::uint8_t> mask(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) mask[i] = values[i] != 0;
  return mask;
}

// fluences (N): finite numbers >= 0, one per image; empty when absent.
std::vector<double> read_fluences(const std::string& file, hid_t f, hsize_t n) {
  auto ds = open_numeric(file, f, "fluences", false);
  if (!ds) return {};
  expect_shape(file, "fluences", ds->dims, {n}, "(N), one per image");
  auto values = read_all<double>(file, "fluences", *ds);
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!(values[i] >= 0) || !std::isfinite(values[i]))
      fail_dataset(file, "fluences", fmt::format("image {} is {}, expected a finite number >= 0", i, values[i]));
  return values;
}

bool orientations_present(const std::string& file, hid_t f, hsize_t n) {
  auto ds = open_numeric(file, f, "orientations", false);
  if (ds && ds->dims != Dims{n, 1, 4} && ds->dims != Dims{n, 4})
    fail_dataset(file, "orientations",
                 "has shape " + shape_string(ds->dims) + ", expected (" + std::to_string(n) +
                     ",1,4) quaternions w,x,y,z, one per image");
  return ds.has_value();
}

std::array<std::size_t, 3> volume_shape_of(const std::string& file, hid_t f) {
  auto ds = open_numeric(file, f, "volume", false);
  if (!ds) return {};
  if (ds->dims.size() != 3 || ds->dims[0] == 0 || ds->dims[1] == 0 || ds->dims[2] == 0)
    fail_dataset(file, "volume", "has shape " + shape_string(ds->dims) + ", expected (n,n,n)");
  return {ds->dims[0], ds->dims[1], ds->dims[2]};
}

// Root datasets and groups spire does not read (skopi's beam_offsets), one note each.
void note_unread(hid_t f, DatasetInfo& info) {
  static const std::string known[] = {"intensities", "pixel_position_reciprocal", "pixel_index_map", "polarization",
                                      "solid_angle", "mask", "orientations", "volume", "fluences"};
  H5G_info_t group{};
  if (H5Gget_info(f, &group) < 0) return;
  for (hsize_t i = 0; i < group.nlinks && info.ignored.size() < 100; ++i) {
    char name[256] = {};
    if (H5Lget_name_by_idx(f, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) continue;
    if (std::find(std::begin(known), std::end(known), name) != std::end(known)) continue;
    std::string what = "not a dataset";
    Handle d(H5Dopen2(f, name, H5P_DEFAULT), H5Dclose);
    if (d.valid()) {
      Handle type(H5Dget_type(d.get()), H5Tclose);
      Handle space(H5Dget_space(d.get()), H5Sclose);
      Dims dims(static_cast<std::size_t>(std::max(0, H5Sget_simple_extent_ndims(space.get()))));
      H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
      what = type_words(type.get()) + " " + shape_string(dims);
    }
    info.ignored.push_back(std::string(name) + ": " + what + ", not read by spire");
  }
}

void read_attributes(const std::string& file, hid_t f, hsize_t n, DatasetInfo& info) {
  if (auto stated = read_number_attribute(file, f, "n_images"); stated && *stated != double(n))
    fail_attribute(file, "n_images", fmt::format("says {} images but dataset 'intensities' holds {}", *stated, n));
  info.det_distance = read_number_attribute(file, f, "det_distance");
  info.photon_energy = read_number_attribute(file, f, "photon_energy");
  info.photons_per_pulse = read_number_attribute(file, f, "photons_per_pulse");
  info.beam_radius = read_number_attribute(file, f, "beam_radius");
  info.command_line = read_string_attribute(file, f, "command_line");
  info.pdb = read_string_attribute(file, f, "pdb");
  info.model_centroid = read_vector_attribute(file, f, "model_centroid_angstrom");
}

// Value `at` (image, panel, row, column) of a dataset, read as double (nullopt if unreadable).
std::optional<double> stored_value(hid_t dataset, const std::array<hsize_t, 4>& at) {
  Handle file_space(H5Dget_space(dataset), H5Sclose);
  const hsize_t one[4] = {1, 1, 1, 1};
  Handle mem_space(H5Screate_simple(4, one, nullptr), H5Sclose);
  double v = 0;
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, at.data(), nullptr, one, nullptr) < 0 ||
      H5Dread(dataset, H5T_NATIVE_DOUBLE, mem_space.get(), file_space.get(), H5P_DEFAULT, &v) < 0)
    return std::nullopt;
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Reading

DatasetReader::DatasetReader(std::string path) : path_(std::move(path)) {
  file_ = detail::open_for_reading(path_);
  const hid_t f = file_.get();

  Numeric intensities = *open_numeric(path_, f, "intensities", true);
  const Dims nphw = image_dims(path_, intensities);
  info_.n_images = nphw[0];
  info_.panels = static_cast<int>(nphw[1]);
  info_.height = static_cast<int>(nphw[2]);
  info_.width = static_cast<int>(nphw[3]);
  read_positions(path_, f, info_);
  optional_part(path_, "pixel_index_map", info_, [&] { return read_index_map(path_, f, info_); });
  for (auto [name, values] : {std::pair{"polarization", &info_.polarization}, {"solid_angle", &info_.solid_angle}})
    *values = optional_part(path_, name, info_, [&, name = name] { return read_pixel_map(path_, f, name, info_); });
  info_.mask = optional_part(path_, "mask", info_, [&] { return read_mask(path_, f, info_); });
  has_orientations_ = optional_part(path_, "orientations", info_, [&] { return orientations_present(path_, f, nphw[0]); });
  volume_shape_ = optional_part(path_, "volume", info_, [&] { return volume_shape_of(path_, f); });
  info_.fluences = optional_part(path_, "fluences", info_, [&] { return read_fluences(path_, f, nphw[0]); });
  read_attributes(path_, f, nphw[0], info_);
  note_unread(f, info_);
  intensities_ = std::move(intensities.dataset);
}

void DatasetReader::read_images(std::size_t first, std::size_t count, float* out) const {
  const std::size_t n = info_.n_images;
  if (first > n || count > n - first)
    fail_dataset(path_, "intensities",
                 fmt::format("{} images from image {} requested, but the file holds {} images",
                             count, first, n));
  if (count == 0) return;
  const hsize_t start[4] = {first, 0, 0, 0};
  const hsize_t extent[4] = {count, hsize_t(info_.panels), hsize_t(info_.height), hsize_t(info_.width)};
  Handle file_space(H5Dget_space(intensities_.get()), H5Sclose);
  Handle mem_space(H5Screate_simple(4, extent, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr) < 0 ||
      H5Dread(intensities_.get(), H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0)
    fail_dataset(path_, "intensities",
                 fmt::format("reading images {}..{} failed (truncated or corrupt file?)", first,
                             first + count - 1));

  check_infinities(first, count, out);
}

// An inf may be a float64 beyond float32 that HDF5's conversion turned into inf (an error),
// or an inf stored as such (a bad pixel).
void DatasetReader::check_infinities(std::size_t first, std::size_t count, const float* out) const {
  const std::size_t values = count * info_.pixels();
  bool inf = false;
  for (std::size_t i = 0; i < values; ++i) inf |= std::isinf(out[i]);
  if (!inf) return;
  const auto w = static_cast<std::size_t>(info_.width), hw = static_cast<std::size_t>(info_.height) * w;
  for (std::size_t i = 0; i < values; ++i) {
    if (!std::isinf(out[i])) continue;
    const std::size_t image = first + i / info_.pixels(), pixel = i % info_.pixels();
    if (auto stored = stored_value(intensities_.get(), {image, pixel / hw, pixel % hw / w, pixel % w});
        stored && std::isfinite(*stored))
      fail_dataset(path_, "intensities", fmt::format("image {} {}: {}", image, pixel_words(pixel, info_),
                                                     beyond_float32(*stored)));
  }
}

std::vector<double> DatasetReader::read_orientations() const {
  if (!has_orientations_) fail_dataset(path_, "orientations", "not in this file");
  Numeric ds = *open_numeric(path_, file_.get(), "orientations", true);
  auto q = read_all<double>(path_, "orientations", ds);
  expect_finite(path_, "orientations", q, [](std::size_t i) { return fmt::format("image {} component {}", i / 4, i % 4); });
  return q;
}

Volume DatasetReader::read_volume() const {
  if (!has_volume()) fail_dataset(path_, "volume", "not in this file");
  Numeric ds = *open_numeric(path_, file_.get(), "volume", true);
  const std::size_t n1 = volume_shape_[1], n2 = volume_shape_[2];
  auto place = [&](std::size_t i) { return fmt::format("voxel ({}, {}, {})", i / (n1 * n2), i / n2 % n1, i % n2); };
  return Volume{volume_shape_, to_float32(path_, "volume", read_all<double>(path_, "volume", ds), place)};
}

// ---------------------------------------------------------------------------------------
// Writing

namespace {

template <typename T>
void write_array(const std::string& path, hid_t f, const std::string& name, const Dims& dims,
                 hid_t file_type, const T* data) {
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  errno = 0;
  Handle d(
      H5Dcreate2(f, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  if (!d.valid() || H5Dwrite(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_dataset(path, name, write_problem("write failed"));
}

void write_number_attribute(const std::string& path, hid_t f, const char* name, hid_t file_type,
                            hid_t mem_type, const void* value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  errno = 0;
  Handle a(H5Acreate2(f, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), mem_type, value) < 0)
    fail_attribute(path, name, write_problem("write failed"));
}

// Variable-length UTF-8, as h5py writes Python strings.
void write_string_attribute(const std::string& path, hid_t f, const char* name,
                            const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  errno = 0;
  Handle a(H5Acreate2(f, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* s = value.c_str();
  if (!a.valid() || H5Awrite(a.get(), type.get(), &s) < 0)
    fail_attribute(path, name, write_problem("write failed"));
}

void check_info(const std::string& path, const DatasetInfo& info,
                std::span<const double> orientations, const Volume& volume) {
  if (info.n_images == 0 || info.panels <= 0 || info.height <= 0 || info.width <= 0)
    fail_in(path, fmt::format("cannot write {} images of {} panels of {} x {} pixels", info.n_images, info.panels,
                              info.height, info.width));
  const std::size_t p = info.pixels();
  auto expect = [&](const char* name, std::size_t got, std::size_t want) {
    if (got != want) fail_dataset(path, name, fmt::format("has {} values, expected {}", got, want));
  };
  expect("pixel_position_reciprocal", info.pixel_position_reciprocal.size(), 3 * p);
  if (!info.pixel_index_map.empty()) expect("pixel_index_map", info.pixel_index_map.size(), 2 * p);
  if (!info.polarization.empty()) expect("polarization", info.polarization.size(), p);
  if (!info.solid_angle.empty()) expect("solid_angle", info.solid_angle.size(), p);
  if (!info.mask.empty()) expect("mask", info.mask.size(), p);
  if (!orientations.empty()) expect("orientations", orientations.size(), 4 * info.n_images);
  if (!info.fluences.empty()) expect("fluences", info.fluences.size(), info.n_images);
  if (!volume.values.empty())
    expect("volume", volume.values.size(), volume.shape[0] * volume.shape[1] * volume.shape[2]);
}

// The arrays of a dataset besides the images.
void write_arrays(const std::string& path, hid_t f, const DatasetInfo& info,
                  std::span<const double> orientations, const Volume& volume) {
  const hsize_t n = info.n_images;
  write_array(path, f, "pixel_position_reciprocal", detector_dims(info, {3}), H5T_IEEE_F32LE,
              info.pixel_position_reciprocal.data());
  if (!info.pixel_index_map.empty())
    write_array(path, f, "pixel_index_map", detector_dims(info, {2}), H5T_STD_I32LE, info.pixel_index_map.data());
  if (!info.polarization.empty())
    write_array(path, f, "polarization", detector_dims(info), H5T_IEEE_F32LE, info.polarization.data());
  if (!info.solid_angle.empty())
    write_array(path, f, "solid_angle", detector_dims(info), H5T_IEEE_F32LE, info.solid_angle.data());
  if (!info.mask.empty()) write_array(path, f, "mask", detector_dims(info), H5T_STD_U8LE, info.mask.data());
  if (!orientations.empty())
    write_array(path, f, "orientations", {n, 1, 4}, H5T_IEEE_F64LE, orientations.data());
  if (!info.fluences.empty()) write_array(path, f, "fluences", {n}, H5T_IEEE_F64LE, info.fluences.data());
  if (!volume.values.empty())
    write_array(path, f, "volume", {volume.shape[0], volume.shape[1], volume.shape[2]}, H5T_IEEE_F32LE,
                volume.values.data());
}

// One chunk per image: any range of images is read without touching the others.
Handle create_intensities(const std::string& path, hid_t f, hsize_t n, hsize_t p, hsize_t h, hsize_t w) {
  const hsize_t dims[4] = {n, p, h, w};
  const hsize_t chunk[4] = {1, p, h, w};
  Handle space(H5Screate_simple(4, dims, nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl.get(), 4, chunk);
  errno = 0;
  Handle d(H5Dcreate2(f, "intensities", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
           H5Dclose);
  if (!d.valid()) fail_dataset(path, "intensities", write_problem("cannot create"));
  return d;
}

void write_attributes(const std::string& path, hid_t f, const DatasetInfo& info) {
  const auto n_images = static_cast<std::int64_t>(info.n_images);
  write_number_attribute(path, f, "n_images", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_images);
  const std::pair<const char*, const std::optional<double>&> numbers[] = {
      {"det_distance", info.det_distance},
      {"photon_energy", info.photon_energy},
      {"photons_per_pulse", info.photons_per_pulse},
      {"beam_radius", info.beam_radius}};
  for (const auto& [name, value] : numbers)
    if (value) write_number_attribute(path, f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &*value);
  if (!info.command_line.empty()) write_string_attribute(path, f, "command_line", info.command_line);
  if (!info.pdb.empty()) write_string_attribute(path, f, "pdb", info.pdb);
  if (info.model_centroid) {
    const hsize_t three = 3;
    Handle space(H5Screate_simple(1, &three, nullptr), H5Sclose);
    errno = 0;
    Handle a(H5Acreate2(f, "model_centroid_angstrom", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
    if (!a.valid() || H5Awrite(a.get(), H5T_NATIVE_DOUBLE, info.model_centroid->data()) < 0)
      fail_attribute(path, "model_centroid_angstrom", write_problem("write failed"));
  }
}

}  // namespace

DatasetWriter::DatasetWriter(std::string path, const DatasetInfo& info,
                             std::span<const double> orientations, const Volume& volume)
    : path_(std::move(path)),
      panels_(static_cast<std::size_t>(std::max(info.panels, 0))),
      height_(static_cast<std::size_t>(std::max(info.height, 0))),
      width_(static_cast<std::size_t>(std::max(info.width, 0))),
      written_(info.n_images, false) {
  prepare_hdf5();
  check_info(path_, info, orientations, volume);
  tmp_path_ = temporary_path(path_);
  errno = 0;
  file_ = Handle(H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file_.valid())
    fail_in(path_, "cannot create " + std::exchange(tmp_path_, {}) +
                       (errno ? ": " + std::string(std::strerror(errno)) : ""));
  try {
    write_arrays(path_, file_.get(), info, orientations, volume);
    intensities_ = create_intensities(path_, file_.get(), info.n_images, panels_, height_, width_);
    write_attributes(path_, file_.get(), info);
  } catch (...) {
    discard();
    throw;
  }
}

DatasetWriter::~DatasetWriter() { discard(); }

void DatasetWriter::discard() noexcept {
  intensities_.close();
  file_.close();
  if (!tmp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp_path_, ec);
    tmp_path_.clear();
  }
}

void DatasetWriter::write_images(std::size_t first, std::size_t count, const float* images) {
  if (!file_.valid()) fail_in(path_, "write_images after finish");
  const std::size_t n = written_.size();
  if (first > n || count > n - first)
    fail_dataset(path_, "intensities",
                 fmt::format("cannot write {} images from image {}: the file holds {} images",
                             count, first, n));
  if (count == 0) return;
  const hsize_t start[4] = {first, 0, 0, 0};
  const hsize_t extent[4] = {count, panels_, height_, width_};
  Handle file_space(H5Dget_space(intensities_.get()), H5Sclose);
  Handle mem_space(H5Screate_simple(4, extent, nullptr), H5Sclose);
  errno = 0;
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr) < 0 ||
      H5Dwrite(intensities_.get(), H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT, images) < 0)
    fail_dataset(path_, "intensities",
                 write_problem(fmt::format("writing images {}..{} failed", first, first + count - 1)));
  std::fill_n(written_.begin() + static_cast<std::ptrdiff_t>(first), count, true);
}

// On failure the destructor removes the temporary file.
void DatasetWriter::finish() {
  if (!file_.valid()) fail_in(path_, "finish called twice");
  if (auto gap = std::find(written_.begin(), written_.end(), false); gap != written_.end())
    fail_dataset(path_, "intensities",
                 fmt::format("image {} was never written", gap - written_.begin()));
  errno = 0;
  const bool closed_dataset = intensities_.close();
  const bool closed_file = file_.close();
  if (!closed_dataset || !closed_file) fail_in(path_, write_problem("closing " + tmp_path_ + " failed"));
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) fail_in(path_, "cannot move " + tmp_path_ + " into place: " + ec.message());
  tmp_path_.clear();
}

void write_dataset(const std::string& path, const DatasetInfo& info, std::span<const float> images,
                   std::span<const double> orientations, const Volume& volume) {
  if (images.size() != info.n_images * info.pixels())
    fail_dataset(path, "intensities",
                 fmt::format("has {} values, expected {} images x {} panels x {} x {}", images.size(),
                             info.n_images, info.panels, info.height, info.width));
  DatasetWriter writer(path, info, orientations, volume);
  writer.write_images(0, info.n_images, images.data());
  writer.finish();
}

}  // namespace spire::io
