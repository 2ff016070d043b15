#pragma once
// Small HDF5 files of named arrays and attributes: what spire writes besides datasets and
// maps (reconstruction checkpoints, the assigned orientations). The meaning of the names is
// the caller's (reconstruct/checkpoint.hpp); this layer only stores and checks.
//
// Contract:
//  - Hdf5Writer creates PATH.tmp-<pid> (removing those of writers no longer running,
//    core/files.hpp); finish() closes it and renames it to PATH, so a crash or an error
//    never leaves a partial PATH and never replaces a good one. Without finish() (an
//    exception, a failed write on a full disk) the destructor closes and removes the
//    temporary file; the error names PATH and, where the system says, why.
//  - Arrays: write(name, values, shape) stores values (double, float, int64, int32, uint8)
//    in C order (last index fastest), little-endian, with that shape; the product of the
//    shape must equal the number of values (a zero extent stores an empty array). Names
//    may hold '/': the groups are created as needed.
//  - Attributes (numbers, integers, UTF-8 strings) go on an object: "" or "/" is the file
//    root, otherwise a group or array already written.
//  - Hdf5Reader opens read-only. read<T>(name, shape) converts to T and fails unless the
//    stored shape is `shape`; shape(name) tells it first. Attribute readers fail when the
//    attribute is absent or of another kind.
//  - Every failure is a spire::Error naming the file and the array or attribute:
//    "PATH: dataset 'NAME': problem" / "PATH: attribute 'NAME': problem". HDF5's own
//    error printing is switched off. The HDF5 build is not thread-safe: one thread at a time.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/hdf5_id.hpp"

namespace spire::io {

using Shape = std::vector<std::size_t>;

class Hdf5Writer {
 public:
  explicit Hdf5Writer(std::string path);
  ~Hdf5Writer();
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;

  template <typename T>
  void write(const std::string& name, std::span<const T> values, const Shape& shape);
  void attribute(const std::string& object, const std::string& name, const std::string& value);
  void attribute(const std::string& object, const std::string& name, const char* value) {
    attribute(object, name, std::string(value));
  }
  void attribute(const std::string& object, const std::string& name, double value);
  void attribute(const std::string& object, const std::string& name, std::int64_t value);
  // Closes the file and renames it into place.
  void finish();

  const std::string& path() const { return path_; }

 private:
  void discard() noexcept;
  detail::Handle open_object(const std::string& object);

  std::string path_, tmp_path_;
  detail::Handle file_;
};

class Hdf5Reader {
 public:
  explicit Hdf5Reader(std::string path);  // fails unless PATH is a readable HDF5 file
  Hdf5Reader(const Hdf5Reader&) = delete;
  Hdf5Reader& operator=(const Hdf5Reader&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;  // an array or group of that name
  Shape shape(const std::string& name) const;
  template <typename T>
  std::vector<T> read(const std::string& name, const Shape& shape) const;

  bool has_attribute(const std::string& object, const std::string& name) const;
  std::string string_attribute(const std::string& object, const std::string& name) const;
  double number_attribute(const std::string& object, const std::string& name) const;
  std::int64_t integer_attribute(const std::string& object, const std::string& name) const;

 private:
  detail::Handle open_attribute(const std::string& object, const std::string& name) const;

  std::string path_;
  detail::Handle file_;
};

// "(2,3,4)"
std::string shape_text(const Shape& shape);

}  // namespace spire::io
