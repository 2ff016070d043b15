// Fuzz target: the HDF5 dataset reader (io/dataset.hpp) on VALID HDF5 files whose structure
// the input chooses. Byte-level fuzzing of HDF5 files (fuzz/dataset.cpp) mostly finds HDF5
// 1.10.8's own parser bugs (fuzz/hdf5_findings); here the input bytes drive a builder that
// makes a well-formed file through the HDF5 API, in memory (the core driver without backing
// store; H5Fget_file_image gives its bytes, written to the scratch file), so every input
// reaches spire's checks:
//  - which datasets exist (intensities, pixel_position_reciprocal, pixel_index_map,
//    polarization, solid_angle, mask, orientations, volume, and extras spire does not
//    read), or a group, a dangling soft link or a hard link to intensities in their place;
//  - their shapes (the consistent (N,P,H,W) family, one extent changed, another rank, an
//    axis added or dropped, SpiniFEL's in-memory (3,P,H,W)), N, P, H, W and the volume's
//    side up to 6, so a file holds a few thousand values at most;
//  - their element types (int8 to uint64, float16, float32, big-endian float64, complex128
//    as h5py's compound {r, i}, fixed- and variable-length strings), layout (contiguous,
//    chunked, deflated, or never written: the fill value), and values (a palette of 0, 1,
//    -1, the 1/m of real detectors, float32's and int64's limits, 1e300, NaN, +-Inf, or any
//    sign and scale);
//  - the root attributes the reader knows (n_images, det_distance, photon_energy,
//    photons_per_pulse, beam_radius, command_line, pdb, model_centroid_angstrom) and one it
//    does not, each a number, an integer, an array, or a fixed- or variable-length string
//    (valid strings written by the API: the HDF5 bugs in fuzz/hdf5_findings are in parsing
//    corrupt variable-length string attributes, not these);
//  - the file format (HDF5 1.8's or the latest, which stores groups and attributes
//    differently).
// Then the reader runs exactly as in fuzz/dataset.cpp: open, up to 4 images, the orientations
// and volume when present, and `spire info`'s summary.
#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "fuzz/read_dataset.hpp"
#include "io/dataset.hpp"
#include "io/hdf5_handle.hpp"

namespace {

using spire::io::detail::Handle;
using Dims = std::vector<hsize_t>;

// The input as a stream of choices; zeros once it is used up.
class Choices {
 public:
  Choices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  int below(int n) { return byte() % n; }
  bool flag() { return (byte() & 1) != 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_, at_ = 0;
};

double number(Choices& c) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  static const double palette[] = {0,    1,     -1,    0.5,     2,      255,    65535, 2.5e9, -4e9,  1e8,
                                   3e10, 1e-12, 1e300, -1e300,  3.5e38, 3.4e38, 2.2e9, -2.2e9, 9.3e18, 1.9e19,
                                   inf,  -inf,  std::numeric_limits<double>::quiet_NaN()};
  constexpr int n = sizeof palette / sizeof palette[0];
  const int k = c.below(n + 1);
  if (k < n) return palette[k];
  return (c.byte() - 128.0) * std::ldexp(1.0, c.below(96) - 48);  // any sign and scale
}

enum class Kind { i8, u8, i16, u16, i32, u32, i64, u64, f16, f32, f64be, f64, complex128, fixed_string, vlen_string };
constexpr int kKinds = 15;

hid_t make_type(Kind kind) {
  static const hid_t integers[] = {H5T_STD_I8LE,  H5T_STD_U8LE,  H5T_STD_I16LE, H5T_STD_U16LE,
                                   H5T_STD_I32LE, H5T_STD_U32LE, H5T_STD_I64LE, H5T_STD_U64LE};
  if (kind <= Kind::u64) return H5Tcopy(integers[static_cast<int>(kind)]);
  if (kind == Kind::f16) {  // IEEE half: sign bit 15, exponent bits 10-14, mantissa 0-9
    const hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
  }
  if (kind == Kind::f32) return H5Tcopy(H5T_IEEE_F32LE);
  if (kind == Kind::f64be) return H5Tcopy(H5T_IEEE_F64BE);
  if (kind == Kind::f64) return H5Tcopy(H5T_IEEE_F64LE);
  if (kind == Kind::complex128) {
    const hid_t t = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "i", 8, H5T_NATIVE_DOUBLE);
    return t;
  }
  const hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, kind == Kind::fixed_string ? 8 : H5T_VARIABLE);
  return t;
}

// Writes n values of `kind` from the input: one value for all, one each, or a ramp.
void write_values(hid_t target, bool attribute, Kind kind, std::size_t n, Choices& c) {
  auto write = [&](hid_t mem, const void* buf) {
    return attribute ? H5Awrite(target, mem, buf) : H5Dwrite(target, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  };
  if (kind == Kind::fixed_string || kind == Kind::vlen_string) {
    std::vector<std::string> text(n);
    for (auto& s : text)
      for (int k = c.below(kind == Kind::fixed_string ? 9 : 40); k > 0; --k) s += static_cast<char>(c.byte());
    Handle mem(make_type(kind), H5Tclose);
    if (kind == Kind::vlen_string) {
      std::vector<const char*> pointers;
      for (const auto& s : text) pointers.push_back(s.c_str());
      write(mem.get(), pointers.data());
      return;
    }
    std::vector<char> fixed(8 * n, '\0');
    for (std::size_t i = 0; i < n; ++i) std::copy(text[i].begin(), text[i].end(), fixed.begin() + 8 * i);
    write(mem.get(), fixed.data());
    return;
  }
  const std::size_t values = kind == Kind::complex128 ? 2 * n : n;
  std::vector<double> v(values);
  const int mode = c.below(3);
  const double first = number(c), step = number(c);
  for (std::size_t i = 0; i < values; ++i)
    v[i] = mode == 0 ? first : mode == 1 ? number(c) : first + step * static_cast<double>(i);
  Handle mem(kind == Kind::complex128 ? make_type(kind) : H5Tcopy(H5T_NATIVE_DOUBLE), H5Tclose);
  write(mem.get(), v.data());
}

Handle make_space(const Dims& dims) {
  if (dims.empty()) return Handle(H5Screate(H5S_SCALAR), H5Sclose);
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
}

void add_dataset(hid_t file, const char* name, const Dims& dims, Choices& c) {
  const auto kind = static_cast<Kind>(c.below(kKinds));
  Handle type(make_type(kind), H5Tclose);
  Handle space = make_space(dims);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  std::size_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (c.flag() && n > 0 && !dims.empty()) {
    Dims chunk = dims;
    for (hsize_t& d : chunk) d = 1 + c.below(static_cast<int>(d));
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (c.flag() && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5Pset_deflate(dcpl.get(), 1);
  }
  Handle d(H5Dcreate2(file, name, type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (d.valid() && n > 0 && c.below(8) != 0) write_values(d.get(), false, kind, n, c);  // else: the fill value
}

// The expected shape, or one of the ways a file gets it wrong.
Dims shape_for(Dims expected, Choices& c) {
  switch (c.below(10)) {
    case 0:
      if (!expected.empty()) expected[c.below(static_cast<int>(expected.size()))] = c.below(7);
      return expected;
    case 1: {
      Dims any(static_cast<std::size_t>(c.below(6)));
      for (hsize_t& d : any) d = c.below(7);
      return any;
    }
    case 2:
      if (c.flag() && !expected.empty()) expected.pop_back();
      else expected.push_back(1 + c.below(3));
      return expected;
    default:
      return expected;
  }
}

}  // namespace

namespace {

// A dataset of that shape, or in its place a group, a soft link to nothing, or a hard link
// to intensities (when it exists); absent for one choice in four.
void add_object(hid_t file, const char* name, const Dims& expected, Choices& c) {
  switch (c.below(8)) {
    case 0:
    case 1:
      return;
    case 2:
      Handle(H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      return;
    case 3:
      if (c.flag()) H5Lcreate_soft("/nothing/here", file, name, H5P_DEFAULT, H5P_DEFAULT);
      else if (H5Lexists(file, "intensities", H5P_DEFAULT) > 0)
        H5Lcreate_hard(file, "intensities", file, name, H5P_DEFAULT, H5P_DEFAULT);
      return;
    default:
      add_dataset(file, name, shape_for(expected, c), c);
  }
}

// A root attribute: a number, an integer, an array of numbers, or a string.
void add_attribute(hid_t file, const char* name, hsize_t n_images, Choices& c) {
  Kind kind = Kind::f64;
  Dims dims;
  switch (c.below(7)) {
    case 0:
      return;
    case 1:
      kind = Kind::i64;
      break;
    case 2:
      kind = static_cast<Kind>(c.below(kKinds - 2));  // a number of any type
      dims = {hsize_t(1 + c.below(4))};
      break;
    case 3:
      kind = Kind::fixed_string;
      break;
    case 4:
      kind = Kind::vlen_string;
      break;
    default:
      break;
  }
  Handle type(make_type(kind), H5Tclose);
  Handle space = make_space(dims);
  Handle a(H5Acreate2(file, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid()) return;
  if (kind == Kind::i64 && dims.empty() && c.flag()) {  // n_images and friends: often the right count
    const auto n = static_cast<std::int64_t>(n_images);
    H5Awrite(a.get(), H5T_NATIVE_INT64, &n);
    return;
  }
  write_values(a.get(), true, kind, dims.empty() ? 1 : dims[0], c);
}

// The whole file, in memory; its bytes (empty when HDF5 refused to make it).
std::vector<std::uint8_t> build(Choices& c) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 16, false);
  if (c.flag()) H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  Handle file(H5Fcreate("spire-fuzz-structure.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.valid()) return {};
  const hid_t f = file.get();
  const hsize_t n = 1 + c.below(4), p = 1 + c.below(3), h = 1 + c.below(6), w = 1 + c.below(6);
  add_object(f, "intensities", {n, p, h, w}, c);
  if (c.below(4) == 0) add_dataset(f, "pixel_position_reciprocal", {3, p, h, w}, c);  // SpiniFEL's in-memory order
  else add_object(f, "pixel_position_reciprocal", {p, h, w, 3}, c);
  add_object(f, "pixel_index_map", {p, h, w, 2}, c);
  for (const char* name : {"polarization", "solid_angle", "mask"}) add_object(f, name, {p, h, w}, c);
  add_object(f, "orientations", c.flag() ? Dims{n, 4} : Dims{n, 1, 4}, c);
  const hsize_t side = 1 + c.below(6);
  add_object(f, "volume", {side, side, side}, c);
  add_object(f, "fluences", {n}, c);
  add_object(f, "beam_offsets", {n, 2}, c);
  for (const char* name : {"n_images", "det_distance", "photon_energy", "photons_per_pulse", "beam_radius",
                           "command_line", "pdb", "model_centroid_angstrom", "det_shape"})
    add_attribute(f, name, n, c);
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) return {};
  const ssize_t size = H5Fget_file_image(f, nullptr, 0);
  if (size <= 0) return {};
  std::vector<std::uint8_t> image(static_cast<std::size_t>(size));
  if (H5Fget_file_image(f, image.data(), image.size()) != size) return {};
  return image;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".h5");
  spire::io::detail::prepare_hdf5();
  Choices choices(data, size);
  const std::vector<std::uint8_t> image = build(choices);
  if (image.empty()) return 0;
  const std::string& path = file.write(image.data(), image.size());
  spire::fuzz::read_dataset(path);
  return 0;
}
