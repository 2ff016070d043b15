#pragma once
// Internal to src/io: an owning HDF5 identifier and small helpers shared by the readers and
// writers (dataset.cpp, hdf5_file.cpp). Not part of the library's interface.
#include <hdf5.h>

#include <cstring>
#include <string>
#include <utility>

namespace spire::io::detail {

// HDF5 prints its error stack to stderr by default; our messages say what went wrong.
inline void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// Closes its identifier (file, dataset, space, type, attribute, ...) when it goes.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, -1); }
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

inline const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    case H5T_REFERENCE:
      return "reference";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_TIME:
      return "time";
    default:
      return "unknown";
  }
}

// The value of a scalar string attribute of string type `type`, fixed or variable length
// (h5py writes str attributes as variable-length strings, numpy bytes as fixed-length).
// On failure returns "" and sets `problem`, for the caller's error naming file and key.
inline std::string read_string_value(hid_t attribute, hid_t type, std::string& problem) {
  Handle space(H5Aget_space(attribute), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) {
    problem = "expected one string";
    return {};
  }
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_cset(mem.get(), H5Tget_cset(type));
  if (H5Tis_variable_str(type) > 0) {
    H5Tset_size(mem.get(), H5T_VARIABLE);
    char* s = nullptr;
    if (H5Aread(attribute, mem.get(), &s) < 0) {
      problem = "read failed";
      return {};
    }
    std::string out = s ? s : "";
    H5free_memory(s);
    return out;
  }
  const std::size_t size = H5Tget_size(type);
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  std::string out(size, '\0');
  if (H5Aread(attribute, mem.get(), out.data()) < 0) {
    problem = "read failed";
    return {};
  }
  out.resize(std::strlen(out.c_str()));
  return out;
}

}  // namespace spire::io::detail
