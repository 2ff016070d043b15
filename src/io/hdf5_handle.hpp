#pragma once
// Internal to src/io: HDF5 set-up and small helpers shared by the readers and writers
// (dataset.cpp, hdf5_file.cpp); the owning identifier is in hdf5_id.hpp. Not part of the
// library's interface.
#include <hdf5.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "io/hdf5_id.hpp"
#include "io/images.hpp"

namespace spire::io::detail {

static_assert(std::is_same_v<hid_t, std::int64_t> && std::is_same_v<herr_t, int>,
              "Handle (hdf5_id.hpp) stores hid_t as int64_t and closes with herr_t (*)(hid_t)");

// Call before any other HDF5 function (every reader and writer does; a program linking io
// does at load time too, below). Once per process:
//  - H5dont_atexit: HDF5 1.10 frees a file whose H5Fclose fails (disk full) but keeps its
//    identifier, and its exit handler then closes it again and crashes (SIGSEGV in
//    H5F__close_cb after the error was printed). Every identifier is closed by a Handle,
//    so the exit handler has nothing to do.
//  - HDF5 prints its error stack to stderr by default; our messages say what went wrong.
inline bool prepare_hdf5() {
  static const bool once = H5dont_atexit() >= 0;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  return once;
}
inline const bool hdf5_prepared_at_load = prepare_hdf5();

// An existing HDF5 file opened read-only; errors name the file (missing, a directory, not
// HDF5, unreadable).
inline Handle open_for_reading(const std::string& path) {
  prepare_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail_in(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail_in(path, "is a directory, not a file");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail_in(path, "not an HDF5 file (wrong format, or corrupt)");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) fail_in(path, "cannot open as HDF5 (truncated or corrupt file?)");
  // HDF5 1.10 crashes in H5Lexists on a root group whose local heap lies beyond the file's
  // end; H5Gget_info reads the group's index first and fails cleanly
  // (fuzz/corpus/dragonfly_detector/crash-root-group-5f44087d).
  H5G_info_t root{};
  if (H5Gget_info(file.get(), &root) < 0) fail_in(path, "cannot read the root group (truncated or corrupt file?)");
  return file;
}

// What went wrong writing, with the system's reason when it gave one (callers clear errno
// before the HDF5 call they report on); "(disk full?)" when it gave none.
inline std::string write_problem(const std::string& what) {
  return what + (errno ? ": " + std::string(std::strerror(errno)) : " (disk full?)");
}

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

// An integer of 1, 2, 4 or 8 bytes or an IEEE float32/float64 (either byte order): the
// number types a reader converts. HDF5 1.10 converts a corrupt number type (a 2^31-byte
// integer, a float whose bit fields overlap) by allocating or copying by its size, so a
// reader refuses any other type before reading (fuzz/corpus/dragonfly_detector).
inline bool plain_number_type(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER)
    return (size == 1 || size == 2 || size == 4 || size == 8) && H5Tget_precision(type) == 8 * size &&
           H5Tget_offset(type) == 0;
  if (cls != H5T_FLOAT) return false;
  for (hid_t standard : {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE})
    if (H5Tequal(type, standard) > 0) return true;
  return false;
}

// Runs read(), an optional part: its spire::Error becomes the note "NAME: problem; not used"
// in info.ignored and the result is T{}.
template <typename Read>
auto optional_part(const std::string& file, const std::string& name, DatasetInfo& info, Read read) -> decltype(read()) {
  try {
    return read();
  } catch (const Error& e) {
    std::string problem = e.what();
    const std::string prefix = file + ": dataset '" + name + "': ";
    if (problem.starts_with(prefix)) problem.erase(0, prefix.size());
    info.ignored.push_back(name + ": " + problem + "; not used");
    return {};
  }
}

}  // namespace spire::io::detail
