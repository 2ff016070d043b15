// CXI files as CXIDB serves them (cxi.hpp).
#include "io/cxi.hpp"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "core/error.hpp"
#include "geometry/detector.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

namespace {

using detail::Handle;
using Dims = std::vector<hsize_t>;
using Vec3 = std::array<double, 3>;

const std::string kEntry = "entry_1";
const std::string kDataLink = "entry_1/data_1/data";
const std::string kInstrument = "entry_1/instrument_1";
const std::string kDetector1 = "entry_1/instrument_1/detector_1";
constexpr double kJoulePerEv = 1.602176634e-19;
// Geometry and mask arrays larger than this are not a detector's (a corrupt shape).
constexpr std::size_t kMaxArrayValues = std::size_t{1} << 28;
// 2^26 pixels, 4 times the largest X-ray detector in use (Jungfrau 16M): a larger image
// shape is a corrupt file (fuzz/corpus/cxi/timeout-huge-detector-8dca9f08), whose pixel
// positions would take minutes and gigabytes to compute.
constexpr hsize_t kMaxPixels = hsize_t{1} << 26;

[[noreturn]] void fail_dataset(const std::string& file, const std::string& name, const std::string& problem) {
  fail_in(file, "dataset '" + name + "': " + problem);
}

std::string dims_text(const Dims& d) { return fmt::format("({})", fmt::join(d, ",")); }

// The number of values of an array of shape d (SIZE_MAX when it overflows).
std::size_t count_of(const Dims& d) {
  std::size_t n = 1;
  for (hsize_t x : d) {
    if (x != 0 && n > std::numeric_limits<std::size_t>::max() / x) return std::numeric_limits<std::size_t>::max();
    n *= static_cast<std::size_t>(x);
  }
  return n;
}

// An object at path, every group on the way and the object itself (a dangling soft link is not).
bool exists(hid_t f, const std::string& path) {
  for (std::size_t at = path.find('/');; at = path.find('/', at + 1)) {
    if (H5Lexists(f, path.substr(0, at).c_str(), H5P_DEFAULT) <= 0) return false;
    if (at == std::string::npos) break;
  }
  return H5Oexists_by_name(f, path.c_str(), H5P_DEFAULT) > 0;
}

struct Array {
  Handle dataset;
  Dims dims;
};

// The numeric dataset at name; nullopt when absent, an error when it is not numbers.
std::optional<Array> open_numeric(const std::string& file, hid_t f, const std::string& name) {
  if (!exists(f, name)) return std::nullopt;
  Handle d(H5Dopen2(f, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) fail_dataset(file, name, "cannot be opened (not a dataset, or corrupt file?)");
  Handle type(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t cls = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail_dataset(file, name, std::string("has type ") + detail::class_name(cls) + ", expected numbers");
  // HDF5 1.10 accepts a corrupt type size and allocates by it (fuzz/corpus/dataset/oom-type-size-3eed5c96).
  if (const std::size_t size = H5Tget_size(type.get()); size == 0 || size > 16)
    fail_dataset(file, name, fmt::format("has {}-byte numbers (corrupt file?)", size));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0 || rank > H5S_MAX_RANK) fail_dataset(file, name, "unreadable shape (corrupt file?)");
  Dims dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return Array{std::move(d), std::move(dims)};
}

bool is_integer(const Array& a) {
  Handle type(H5Dget_type(a.dataset.get()), H5Tclose);
  return type.valid() && H5Tget_class(type.get()) == H5T_INTEGER;
}

// The whole (small) array, converted by HDF5 to T.
template <typename T>
std::vector<T> read_all(const std::string& file, const std::string& name, const Array& a, hid_t mem_type) {
  const std::size_t n = count_of(a.dims);
  if (n > kMaxArrayValues) fail_dataset(file, name, "has shape " + dims_text(a.dims) + ", too large (corrupt file?)");
  std::vector<T> v(n);
  if (n > 0 && H5Dread(a.dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    fail_dataset(file, name, "read failed (corrupt or truncated file?)");
  return v;
}

enum class Quantity { length, energy };

// The factor from the dataset's 'units' attribute to SI (1 when absent: CXI's default).
double to_si(const std::string& file, const std::string& name, const Array& a, Quantity quantity) {
  if (H5Aexists(a.dataset.get(), "units") <= 0) return 1;
  Handle attribute(H5Aopen(a.dataset.get(), "units", H5P_DEFAULT), H5Aclose);
  Handle type(attribute.valid() ? H5Aget_type(attribute.get()) : -1, H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING)
    fail_dataset(file, name, "attribute 'units' is not a string");
  std::string problem;
  const std::string unit = detail::read_string_value(attribute.get(), type.get(), problem);
  if (!problem.empty()) fail_dataset(file, name, "attribute 'units': " + problem);
  using Unit = std::pair<const char*, double>;
  static const std::vector<Unit> lengths{{"m", 1}, {"mm", 1e-3}, {"um", 1e-6}, {"nm", 1e-9}};
  static const std::vector<Unit> energies{{"J", 1}, {"eV", kJoulePerEv}, {"keV", 1e3 * kJoulePerEv}};
  const auto& known = quantity == Quantity::length ? lengths : energies;
  for (const auto& [symbol, factor] : known)
    if (unit == symbol) return factor;
  std::vector<const char*> symbols;
  for (const auto& u : known) symbols.push_back(u.first);
  fail_dataset(file, name, fmt::format("has units '{}', expected one of {} (CXI's default, when absent: {})", unit,
                                       fmt::join(symbols, ", "), symbols.front()));
}

// A positive length or energy in SI: one value, or one per image, all equal. nullopt when absent.
std::optional<double> read_scalar(const std::string& file, hid_t f, const std::string& name, Quantity quantity,
                                  std::size_t n_images) {
  auto a = open_numeric(file, f, name);
  if (!a) return std::nullopt;
  const bool per_image = a->dims.size() == 1 && a->dims[0] == n_images;
  if (count_of(a->dims) != 1 && !per_image)
    fail_dataset(file, name, fmt::format("has shape {}, expected one value or one per image ({})",
                                         dims_text(a->dims), n_images));
  const auto v = read_all<double>(file, name, *a, H5T_NATIVE_DOUBLE);
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] != v[0])
      fail_dataset(file, name, fmt::format("is {} for image 0 but {} for image {}: spire uses one geometry and "
                                           "one photon energy for every image", v[0], v[i], i));
  const double x = v.at(0) * to_si(file, name, *a, quantity);
  if (!std::isfinite(x) || !(x > 0)) fail_dataset(file, name, fmt::format("is {}, expected a positive number", x));
  return x;
}

// A geometry array of shape `core` (e.g. (P,2,3)), or (N, core...) whose N rows are equal; in m.
std::vector<double> read_geometry_array(const std::string& file, const std::string& name, const Array& a,
                                        const Dims& core, std::size_t n_images, const std::string& layout) {
  Dims per_image = core;
  per_image.insert(per_image.begin(), n_images);
  if (a.dims != core && a.dims != per_image)
    fail_dataset(file, name, "has shape " + dims_text(a.dims) + ", expected " + dims_text(core) + " " + layout +
                                 " (or one per image, all equal)");
  auto v = read_all<double>(file, name, a, H5T_NATIVE_DOUBLE);
  const std::size_t row = count_of(core);
  for (std::size_t i = row; i < v.size(); ++i)
    if (v[i] != v[i % row])
      fail_dataset(file, name, fmt::format("differs between image 0 and image {}: spire uses one detector "
                                           "geometry for every image", i / row));
  v.resize(row);
  const double factor = to_si(file, name, a, Quantity::length);
  for (double& x : v) {
    x *= factor;
    if (!std::isfinite(x)) fail_dataset(file, name, fmt::format("holds {}", x));
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Where the images and their detector are

namespace {

struct Layout {
  std::string data;      // the images' dataset
  std::string detector;  // the group of its geometry
};

// The group of a soft link's target ".../detector_N/data"; detector_1 for any other target.
std::string detector_of(std::string target) {
  if (target.starts_with('/')) target.erase(0, 1);
  const auto slash = target.rfind('/');
  if (slash == std::string::npos) return kDetector1;
  const std::string group = target.substr(0, slash);
  const std::string last = group.substr(group.rfind('/') + 1);
  return last.starts_with("detector_") ? group : kDetector1;
}

Layout locate(const std::string& file, hid_t f) {
  if (!exists(f, kEntry)) fail_in(file, "no group 'entry_1': not a CXI file");
  if (H5Lexists(f, "entry_1/data_1", H5P_DEFAULT) > 0 && H5Lexists(f, kDataLink.c_str(), H5P_DEFAULT) > 0) {
    H5L_info_t link{};
    if (H5Lget_info(f, kDataLink.c_str(), &link, H5P_DEFAULT) < 0)
      fail_dataset(file, kDataLink, "unreadable link (corrupt file?)");
    if (link.type != H5L_TYPE_SOFT) {
      if (!exists(f, kDataLink)) fail_dataset(file, kDataLink, "cannot be opened (corrupt file?)");
      return {kDataLink, kDetector1};
    }
    std::string target(std::min<std::size_t>(link.u.val_size, 4096) + 1, '\0');
    if (H5Lget_val(f, kDataLink.c_str(), target.data(), target.size(), H5P_DEFAULT) < 0)
      fail_dataset(file, kDataLink, "unreadable link (corrupt file?)");
    target.resize(std::strlen(target.c_str()));
    if (!exists(f, kDataLink)) fail_dataset(file, kDataLink, "links to '" + target + "', which is not in the file");
    return {kDataLink, detector_of(target)};
  }
  const std::string stack = kDetector1 + "/data";
  if (exists(f, stack)) return {stack, kDetector1};
  fail_in(file, "no images: neither dataset '" + kDataLink + "' nor '" + stack + "'");
}

// N, P, H, W of the images' dataset: (H,W), (N,H,W) or (N,P,H,W).
Dims image_dims(const std::string& file, const std::string& name, const Dims& d) {
  Dims nphw;
  if (d.size() == 2) nphw = {1, 1, d[0], d[1]};
  if (d.size() == 3) nphw = {d[0], 1, d[1], d[2]};
  if (d.size() == 4) nphw = d;
  if (nphw.empty())
    fail_dataset(file, name, "has shape " + dims_text(d) + ", expected (H,W) one image, (N,H,W) images or "
                                                           "(N,P,H,W) images of P panels");
  if (std::find(nphw.begin(), nphw.end(), hsize_t{0}) != nphw.end())
    fail_dataset(file, name, "has shape " + dims_text(d) + ": no images (every extent must be > 0)");
  if (nphw[1] > kMaxPixels || nphw[2] > kMaxPixels || nphw[3] > kMaxPixels || nphw[1] * nphw[2] > kMaxPixels ||
      nphw[1] * nphw[2] * nphw[3] > kMaxPixels)
    fail_dataset(file, name, fmt::format("has shape {}: a detector of more than {} pixels, larger than any X-ray "
                                         "detector (corrupt file?)", dims_text(d), kMaxPixels));
  return nphw;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Geometry: where each pixel is, and the photon energy

namespace {

// Per panel: the outer corner of pixel (0,0) and the two basis vectors (rows, columns), m.
struct Panels {
  std::vector<Vec3> corner;
  std::vector<std::array<Vec3, 2>> basis;
};

std::vector<std::array<Vec3, 2>> read_basis(const std::string& file, hid_t f, const std::string& detector,
                                            const DatasetInfo& info) {
  const auto panels = static_cast<std::size_t>(info.panels);
  std::vector<std::array<Vec3, 2>> basis(panels);
  const std::string name = detector + "/basis_vectors";
  if (auto a = open_numeric(file, f, name)) {
    const Dims core = panels > 1 ? Dims{panels, 2, 3} : Dims{2, 3};
    const auto v = read_geometry_array(file, name, *a, core, info.n_images, "(rows, then columns; x, y, z)");
    for (std::size_t i = 0; i < v.size(); ++i) basis[i / 6][i / 3 % 2][i % 3] = v[i];
  } else {
    const auto size = [&](const char* axis) {
      const std::string n = detector + "/" + axis + "_pixel_size";
      auto s = read_scalar(file, f, n, Quantity::length, info.n_images);
      if (!s) fail_dataset(file, n, "missing (required without " + name + ")");
      return *s;
    };
    const double x = size("x"), y = size("y");
    for (auto& b : basis) b = {Vec3{0, -y, 0}, Vec3{-x, 0, 0}};  // CXI's default orientation
  }
  for (std::size_t p = 0; p < panels; ++p) {
    const Vec3 &u = basis[p][0], &v = basis[p][1];
    const Vec3 n{u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    if (!(std::hypot(n[0], n[1], n[2]) > 0))
      fail_dataset(file, name, fmt::format("{}the row and column vectors ({}) and ({}) span no area",
                                           panels > 1 ? fmt::format("panel {}: ", p) : "", fmt::join(u, ", "),
                                           fmt::join(v, ", ")));
  }
  return basis;
}

// Corners from corner_position; without it one panel centred on the beam at `distance`.
Panels read_panels(const std::string& file, hid_t f, const std::string& detector, const DatasetInfo& info,
                   std::optional<double> distance) {
  Panels g{{}, read_basis(file, f, detector, info)};
  const auto panels = static_cast<std::size_t>(info.panels);
  const std::string name = detector + "/corner_position";
  if (auto a = open_numeric(file, f, name)) {
    const Dims core = panels > 1 ? Dims{panels, 3} : Dims{3};
    const auto v = read_geometry_array(file, name, *a, core, info.n_images, "(x, y, z)");
    for (std::size_t p = 0; p < panels; ++p) g.corner.push_back({v[3 * p], v[3 * p + 1], v[3 * p + 2]});
    return g;
  }
  if (panels > 1) fail_dataset(file, name, "missing (required for a detector of several panels)");
  if (!distance) fail_dataset(file, detector + "/distance", "missing (required without " + name + ")");
  const auto& [rows, columns] = g.basis[0];
  Vec3 corner{0, 0, *distance};
  for (int k = 0; k < 3; ++k) corner[k] -= 0.5 * info.height * rows[k] + 0.5 * info.width * columns[k];
  g.corner.push_back(corner);
  return g;
}

// s = (r_hat - z_hat) / lambda of every pixel centre, panel-major, then row, then column.
std::vector<float> reciprocal_positions(const std::string& file, const std::string& detector, const Panels& g,
                                        const DatasetInfo& info, double wavelength_m, double& closest_z) {
  std::vector<float> s(3 * info.pixels());
  closest_z = std::numeric_limits<double>::infinity();
  std::size_t at = 0;
  for (int p = 0; p < info.panels; ++p)
    for (int i = 0; i < info.height; ++i)
      for (int j = 0; j < info.width; ++j) {
        Vec3 r;
        for (int k = 0; k < 3; ++k) r[k] = g.corner[p][k] + (i + 0.5) * g.basis[p][0][k] + (j + 0.5) * g.basis[p][1][k];
        if (!(r[2] > 0))
          fail_dataset(file, detector + "/corner_position",
                       fmt::format("pixel (panel {}, row {}, column {}) lies at z = {:g} m: not downstream of the "
                                   "sample (CXI: z points along the beam)", p, i, j, r[2]));
        closest_z = std::min(closest_z, r[2]);
        for (double c : geometry::reciprocal_position(r, wavelength_m)) s[at++] = static_cast<float>(c);
      }
  return s;
}

// eV, from the file's source or beam; nullopt when it states none.
std::optional<double> file_photon_energy(const std::string& file, hid_t f, std::size_t n) {
  for (const char* name : {"/source_1/energy", "/beam_1/incident_energy"})
    if (auto joule = read_scalar(file, f, kInstrument + name, Quantity::energy, n)) return *joule / kJoulePerEv;
  const geometry::Beam one_ev{.photon_energy_ev = 1.0};
  if (auto metres = read_scalar(file, f, kInstrument + "/beam_1/incident_wavelength", Quantity::length, n))
    return one_ev.wavelength_m() / *metres;
  return std::nullopt;
}

void place_pixels(const std::string& file, hid_t f, const std::string& detector, const OpenOptions& options,
                  DatasetInfo& info) {
  info.photon_energy = file_photon_energy(file, f, info.n_images);
  if (info.photon_energy && options.photon_energy > 0)
    info.ignored.push_back(fmt::format("photon energy {} eV (option): the file states {} eV; not used",
                                       options.photon_energy, *info.photon_energy));
  if (!info.photon_energy && options.photon_energy > 0) info.photon_energy = options.photon_energy;
  if (!info.photon_energy)
    fail_dataset(file, kInstrument + "/source_1/energy",
                 "missing, and no beam_1/incident_energy or incident_wavelength: the photon energy is required "
                 "(or give it: --photon-energy, data.photon_energy)");
  info.det_distance = read_scalar(file, f, detector + "/distance", Quantity::length, info.n_images);
  const Panels panels = read_panels(file, f, detector, info, info.det_distance);
  const geometry::Beam beam{.photon_energy_ev = *info.photon_energy};
  double closest_z = 0;
  info.pixel_position_reciprocal = reciprocal_positions(file, detector, panels, info, beam.wavelength_m(), closest_z);
  if (!info.det_distance) info.det_distance = closest_z;
  for (float c : info.pixel_position_reciprocal)
    if (!std::isfinite(c))
      fail_dataset(file, kInstrument + "/source_1/energy",
                   fmt::format("photon energy {} eV puts pixels beyond float32 in reciprocal space", beam.photon_energy_ev));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The mask and what is left out

namespace {

// Usable pixels from the CXI bit flags at `name`: a pixel with any kCxiExcludedBits set is not.
std::vector<std::uint8_t> read_mask_at(const std::string& file, hid_t f, const std::string& name,
                                       const DatasetInfo& info) {
  const Array a = *open_numeric(file, f, name);
  if (!is_integer(a)) fail_dataset(file, name, "has floats, expected integer bit flags");
  const Dims phw{hsize_t(info.panels), hsize_t(info.height), hsize_t(info.width)};
  if (a.dims != phw && !(info.panels == 1 && a.dims == Dims{phw[1], phw[2]}))
    fail_dataset(file, name, "has shape " + dims_text(a.dims) + ", expected " +
                                 (info.panels == 1 ? dims_text({phw[1], phw[2]}) : dims_text(phw)) +
                                 " (one mask for every image)");
  const auto flags = read_all<std::int64_t>(file, name, a, H5T_NATIVE_INT64);
  std::vector<std::uint8_t> usable(flags.size());
  for (std::size_t p = 0; p < flags.size(); ++p)
    usable[p] = (static_cast<std::uint64_t>(flags[p]) & kCxiExcludedBits) == 0;
  return usable;
}

// The detector's mask, else data_1's; an unusable one is a note "NAME: problem; not used".
std::vector<std::uint8_t> read_mask(const std::string& file, hid_t f, const std::string& detector,
                                    DatasetInfo& info) {
  for (const std::string& name : {detector + "/mask", std::string("entry_1/data_1/mask")}) {
    if (!exists(f, name)) continue;
    return detail::optional_part(file, name, info, [&] { return read_mask_at(file, f, name, info); });
  }
  return {};
}

// One note per member of `group` not in `known`: "GROUP/NAME: not read by spire".
void note_unread(hid_t f, const std::string& group, const std::vector<std::string>& known, DatasetInfo& info) {
  H5G_info_t g{};
  if ((group != "." && !exists(f, group)) || H5Gget_info_by_name(f, group.c_str(), &g, H5P_DEFAULT) < 0) return;
  for (hsize_t i = 0; i < g.nlinks && info.ignored.size() < 100; ++i) {
    char name[256] = {};
    if (H5Lget_name_by_idx(f, group.c_str(), H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
      continue;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    info.ignored.push_back((group == "." ? std::string() : group + "/") + name + ": not read by spire");
  }
}

// condor's true orientations (N,4); false when absent, a note when of another shape.
bool orientations_present(const std::string& file, hid_t f, DatasetInfo& info) {
  try {
    auto a = open_numeric(file, f, kCxiOrientations);
    if (a && a->dims != Dims{info.n_images, 4})
      fail_dataset(file, kCxiOrientations, fmt::format("has shape {}, expected ({},4) quaternions w,x,y,z, one per "
                                                       "image", dims_text(a->dims), info.n_images));
    return a.has_value();
  } catch (const Error& e) {
    std::string problem = e.what();
    const std::string prefix = file + ": dataset '" + kCxiOrientations + "': ";
    if (problem.starts_with(prefix)) problem.erase(0, prefix.size());
    info.ignored.push_back(std::string(kCxiOrientations) + ": " + problem + "; not used");
    return false;
  }
}

void note_unread_parts(hid_t f, const std::string& detector, bool orientations, DatasetInfo& info) {
  const std::string detector_name = detector.substr(detector.rfind('/') + 1);
  note_unread(f, ".", {"cxi_version", "entry_1", "number_of_entries"}, info);
  note_unread(f, kEntry, {"data_1", "instrument_1", orientations ? "particles" : ""}, info);
  note_unread(f, "entry_1/data_1", {"data", "mask"}, info);
  note_unread(f, kInstrument, {detector_name, "source_1", "beam_1"}, info);
  note_unread(f, detector, {"data", "mask", "distance", "corner_position", "basis_vectors", "x_pixel_size",
                            "y_pixel_size"}, info);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Reading

CxiReader::CxiReader(std::string path, const OpenOptions& options) : path_(std::move(path)) {
  file_ = detail::open_for_reading(path_);
  const hid_t f = file_.get();
  const Layout layout = locate(path_, f);
  data_path_ = layout.data;
  Array data = *open_numeric(path_, f, data_path_);
  const Dims nphw = image_dims(path_, data_path_, data.dims);
  rank_ = static_cast<int>(data.dims.size());
  info_.n_images = nphw[0];
  info_.panels = static_cast<int>(nphw[1]);
  info_.height = static_cast<int>(nphw[2]);
  info_.width = static_cast<int>(nphw[3]);
  place_pixels(path_, f, layout.detector, options, info_);
  info_.mask = read_mask(path_, f, layout.detector, info_);
  has_orientations_ = orientations_present(path_, f, info_);
  note_unread_parts(f, layout.detector, has_orientations_, info_);
  data_ = std::move(data.dataset);
}

namespace {

// Reads images first .. first+count-1 of the (H,W), (N,H,W) or (N,P,H,W) dataset into out,
// converted to mem_type; false when HDF5 fails.
bool read_range(hid_t data, int rank, const DatasetInfo& info, std::size_t first, std::size_t count, hid_t mem_type,
                void* out) {
  const hsize_t p = info.panels, h = info.height, w = info.width;
  Dims start(static_cast<std::size_t>(rank), 0), extent;
  if (rank == 2) extent = {h, w};
  if (rank == 3) extent = {count, h, w};
  if (rank == 4) extent = {count, p, h, w};
  if (rank > 2) start[0] = first;
  Handle file_space(H5Dget_space(data), H5Sclose);
  Handle mem_space(H5Screate_simple(rank, extent.data(), nullptr), H5Sclose);
  return H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr) >= 0 &&
         H5Dread(data, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out) >= 0;
}

}  // namespace

void CxiReader::read_images(std::size_t first, std::size_t count, float* out) const {
  const std::size_t n = info_.n_images;
  if (first > n || count > n - first)
    fail_dataset(path_, data_path_,
                 fmt::format("{} images from image {} requested, but the file holds {} images", count, first, n));
  if (count == 0) return;
  if (!read_range(data_.get(), rank_, info_, first, count, H5T_NATIVE_FLOAT, out))
    fail_dataset(path_, data_path_,
                 fmt::format("reading images {}..{} failed (truncated or corrupt file?)", first, first + count - 1));
  check_infinities(first, count, out);
}

// An inf may be a float64 beyond float32 that HDF5's conversion made inf (an error), or an
// inf stored as such (a bad pixel of that image): each image holding one is read again as
// float64 to tell.
void CxiReader::check_infinities(std::size_t first, std::size_t count, const float* out) const {
  const std::size_t pixels = info_.pixels();
  for (std::size_t k = 0; k < count; ++k) {
    const float* image = out + k * pixels;
    if (std::none_of(image, image + pixels, [](float v) { return std::isinf(v); })) continue;
    std::vector<double> stored(pixels);
    if (!read_range(data_.get(), rank_, info_, first + k, 1, H5T_NATIVE_DOUBLE, stored.data()))
      fail_dataset(path_, data_path_, fmt::format("reading image {} failed (truncated or corrupt file?)", first + k));
    for (std::size_t i = 0; i < pixels; ++i)
      if (std::isinf(image[i]) && std::isfinite(stored[i]))
        fail_dataset(path_, data_path_,
                     fmt::format("image {} pixel {}: value {} does not fit in float32", first + k, i, stored[i]));
  }
}

std::vector<double> CxiReader::read_orientations() const {
  if (!has_orientations_) fail_dataset(path_, kCxiOrientations, "not in this file");
  const Array a = *open_numeric(path_, file_.get(), kCxiOrientations);
  auto q = read_all<double>(path_, kCxiOrientations, a, H5T_NATIVE_DOUBLE);
  for (std::size_t i = 0; i < q.size(); ++i)
    if (!std::isfinite(q[i]))
      fail_dataset(path_, kCxiOrientations, fmt::format("image {} component {} is {}", i / 4, i % 4, q[i]));
  return q;
}

std::unique_ptr<ImageFile> open_cxi(const std::string& path, const OpenOptions& options) {
  return std::make_unique<CxiReader>(path, options);
}

}  // namespace spire::io
