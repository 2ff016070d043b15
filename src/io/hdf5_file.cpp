#include "io/hdf5_file.hpp"

#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <type_traits>
#include <utility>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

namespace {

using detail::class_name;
using detail::Handle;
using detail::write_problem;

[[noreturn]] void fail_dataset(const std::string& file, const std::string& name, const std::string& problem) {
  fail_in(file, "dataset '" + name + "': " + problem);
}

[[noreturn]] void fail_attribute(const std::string& file, const std::string& name, const std::string& problem) {
  fail_in(file, "attribute '" + name + "': " + problem);
}

template <typename T>
hid_t memory_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_NATIVE_INT32;
  else return H5T_NATIVE_UINT8;
}

template <typename T>
hid_t file_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_IEEE_F64LE;
  else if constexpr (std::is_same_v<T, float>) return H5T_IEEE_F32LE;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_STD_I64LE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_STD_I32LE;
  else return H5T_STD_U8LE;
}

std::string object_name(const std::string& object) { return object.empty() ? "/" : object; }

}  // namespace

std::string shape_text(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

// ---------------------------------------------------------------------------------------
// Writing

Hdf5Writer::Hdf5Writer(std::string path) : path_(std::move(path)), tmp_path_(temporary_path(path_)) {
  detail::prepare_hdf5();
  errno = 0;
  file_ = Handle(H5Fcreate(tmp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file_.valid()) {
    const std::string why = errno ? ": " + std::string(std::strerror(errno)) : "";
    fail_in(path_, "cannot create " + std::exchange(tmp_path_, {}) + why);
  }
}

Hdf5Writer::~Hdf5Writer() { discard(); }

void Hdf5Writer::discard() noexcept {
  file_.close();
  if (!tmp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp_path_, ec);
    tmp_path_.clear();
  }
}

template <typename T>
void Hdf5Writer::write(const std::string& name, std::span<const T> values, const Shape& shape) {
  if (!file_.valid()) fail_dataset(path_, name, "the file is already finished");
  std::size_t count = 1;
  for (auto e : shape) count *= e;
  if (count != values.size())
    fail_dataset(path_, name, fmt::format("{} values for shape {}", values.size(), shape_text(shape)));
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  errno = 0;
  Handle d(H5Dcreate2(file_.get(), name.c_str(), file_type<T>(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (!d.valid()) fail_dataset(path_, name, write_problem("cannot be created (name taken?)"));
  if (count > 0 && H5Dwrite(d.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    fail_dataset(path_, name, write_problem("write failed"));
  if (!d.close()) fail_dataset(path_, name, write_problem("write failed"));
}

Handle Hdf5Writer::open_object(const std::string& object) {
  if (!file_.valid()) fail_in(path_, "the file is already finished");
  Handle o(H5Oopen(file_.get(), object_name(object).c_str(), H5P_DEFAULT), H5Oclose);
  if (!o.valid()) fail_in(path_, "no object '" + object_name(object) + "' to put an attribute on");
  return o;
}

void Hdf5Writer::attribute(const std::string& object, const std::string& name, const std::string& value) {
  Handle o = open_object(object);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  errno = 0;
  Handle a(H5Acreate2(o.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* s = value.c_str();
  if (!a.valid() || H5Awrite(a.get(), type.get(), &s) < 0) fail_attribute(path_, name, write_problem("write failed"));
}

void Hdf5Writer::attribute(const std::string& object, const std::string& name, double value) {
  Handle o = open_object(object);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  errno = 0;
  Handle a(H5Acreate2(o.get(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value) < 0)
    fail_attribute(path_, name, write_problem("write failed"));
}

void Hdf5Writer::attribute(const std::string& object, const std::string& name, std::int64_t value) {
  Handle o = open_object(object);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  errno = 0;
  Handle a(H5Acreate2(o.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid() || H5Awrite(a.get(), H5T_NATIVE_INT64, &value) < 0)
    fail_attribute(path_, name, write_problem("write failed"));
}

// On failure the destructor removes the temporary file.
void Hdf5Writer::finish() {
  if (!file_.valid()) fail_in(path_, "the file is already finished");
  errno = 0;
  if (!file_.close()) fail_in(path_, write_problem("closing " + tmp_path_ + " failed"));
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) fail_in(path_, "cannot move " + tmp_path_ + " into place: " + ec.message());
  tmp_path_.clear();
}

// ---------------------------------------------------------------------------------------
// Reading

Hdf5Reader::Hdf5Reader(std::string path) : path_(std::move(path)) {
  file_ = detail::open_for_reading(path_);
}

bool Hdf5Reader::has(const std::string& name) const {
  // Each level of a path must exist before the next is asked about.
  std::size_t pos = 0;
  while (true) {
    pos = name.find('/', pos + 1);
    const std::string prefix = name.substr(0, pos);
    if (!prefix.empty() && prefix != "/" && H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

Shape Hdf5Reader::shape(const std::string& name) const {
  if (!has(name)) fail_dataset(path_, name, "missing");
  Handle d(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) fail_dataset(path_, name, "cannot be opened (not a dataset, or corrupt file)");
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail_dataset(path_, name, "unreadable shape (corrupt file?)");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

template <typename T>
std::vector<T> Hdf5Reader::read(const std::string& name, const Shape& expected) const {
  const Shape got = shape(name);
  if (got != expected)
    fail_dataset(path_, name, "has shape " + shape_text(got) + ", expected " + shape_text(expected));
  Handle d(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail_dataset(path_, name, std::string("has type ") + class_name(cls) + ", expected numbers");
  std::size_t count = 1;
  for (auto e : got) count *= e;
  std::vector<T> out(count);
  if (count > 0 && H5Dread(d.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_dataset(path_, name, "read failed (corrupt or truncated file?)");
  return out;
}

bool Hdf5Reader::has_attribute(const std::string& object, const std::string& name) const {
  if (!object.empty() && object != "/" && !has(object)) return false;
  return H5Aexists_by_name(file_.get(), object_name(object).c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

Handle Hdf5Reader::open_attribute(const std::string& object, const std::string& name) const {
  if (!has_attribute(object, name)) fail_attribute(path_, name, "missing");
  Handle a(H5Aopen_by_name(file_.get(), object_name(object).c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (!a.valid()) fail_attribute(path_, name, "cannot be opened (corrupt file?)");
  return a;
}

std::string Hdf5Reader::string_attribute(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(object, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_STRING) fail_attribute(path_, name, std::string("has type ") + class_name(cls) + ", expected a string");
  std::string problem;
  std::string value = detail::read_string_value(a.get(), type.get(), problem);
  if (!problem.empty()) fail_attribute(path_, name, problem);
  return value;
}

namespace {

template <typename T>
T read_scalar(const std::string& path, hid_t a, const std::string& name, bool integer) {
  Handle type(H5Aget_type(a), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && (integer || cls != H5T_FLOAT))
    fail_attribute(path, name,
                   std::string("has type ") + class_name(cls) + (integer ? ", expected an integer" : ", expected a number"));
  Handle space(H5Aget_space(a), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) fail_attribute(path, name, "expected one value");
  T v{};
  if (H5Aread(a, memory_type<T>(), &v) < 0) fail_attribute(path, name, "read failed");
  return v;
}

}  // namespace

double Hdf5Reader::number_attribute(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(object, name);
  return read_scalar<double>(path_, a.get(), name, false);
}

std::int64_t Hdf5Reader::integer_attribute(const std::string& object, const std::string& name) const {
  Handle a = open_attribute(object, name);
  return read_scalar<std::int64_t>(path_, a.get(), name, true);
}

#define SPIRE_HDF5_FILE_TYPES(T)                                                                  \
  template void Hdf5Writer::write<T>(const std::string&, std::span<const T>, const Shape&); \
  template std::vector<T> Hdf5Reader::read<T>(const std::string&, const Shape&) const;
SPIRE_HDF5_FILE_TYPES(double)
SPIRE_HDF5_FILE_TYPES(float)
SPIRE_HDF5_FILE_TYPES(std::int64_t)
SPIRE_HDF5_FILE_TYPES(std::int32_t)
SPIRE_HDF5_FILE_TYPES(std::uint8_t)
#undef SPIRE_HDF5_FILE_TYPES

}  // namespace spire::io
