// Dragonfly's photon files read as an io::ImageFile (io/dragonfly.hpp has the layout):
// the binary .emc (sparse or dense) and the HDF5 form (variable-length sequences).
#include "io/dragonfly.hpp"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "io/dragonfly_raw.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

static_assert(std::endian::native == std::endian::little, "Dragonfly's binary files are read as little-endian");

namespace {

using detail::Handle;

constexpr std::int64_t kHeaderBytes = 1024;
enum FrameType : std::int32_t { kSparse = 0, kDenseInt = 1, kDenseDouble = 2 };

// Geometry from the detector file; num_pix of the photons must match it.
DatasetInfo dragonfly_info(const std::string& path, std::int64_t num_pix, std::size_t frames,
                           const OpenOptions& options) {
  if (options.detector.empty())
    fail_in(path, "Dragonfly photons hold pixel numbers only: give their detector file with data.detector "
                  "(spire reconstruct) or --detector FILE");
  const DragonflyDetector det = read_dragonfly_detector(options.detector);
  if (num_pix != static_cast<std::int64_t>(det.num_pix))
    fail_in(path, fmt::format("has num_pix {} but the detector file {} has {} pixels: not its detector", num_pix,
                              options.detector, det.num_pix));
  DatasetInfo info;
  info.n_images = frames;
  fill_dragonfly_geometry(info, det, options.photon_energy, options.detector);
  return info;
}

// Adds n photon entries (counts null: one photon each) to a dense frame, checking each;
// locate(i) says where entry i is stored, for the error.
template <typename Locate>
void add_photons(float* frame, const std::string& path, std::size_t num_pix, std::size_t index,
                 const std::int32_t* places, const std::int32_t* counts, std::size_t n, Locate locate) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t p = places[i];
    if (p < 0 || static_cast<std::size_t>(p) >= num_pix)
      fail_in(path, fmt::format("frame {}: pixel number {} at {}, expected 0 to {} (corrupt file?)", index, p,
                                locate(i, false), num_pix - 1));
    const std::int32_t c = counts ? counts[i] : 1;
    if (c < 0)
      fail_in(path, fmt::format("frame {}: photon count {} at {}, expected >= 0 (corrupt file?)", index, c,
                                locate(i, true)));
    frame[p] += static_cast<float>(c);
  }
}

// The binary .emc, read range by range with the per-frame offsets computed on open.
class EmcReader final : public ImageFile {
 public:
  EmcReader(std::string path, const OpenOptions& options) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) fail_in(path_, "cannot be opened for reading");
    try {
      open(options);
    } catch (...) {
      std::fclose(file_);
      throw;
    }
  }
  ~EmcReader() override { std::fclose(file_); }
  EmcReader(const EmcReader&) = delete;
  EmcReader& operator=(const EmcReader&) = delete;

  const std::string& path() const override { return path_; }
  Format format() const override { return Format::dragonfly_emc; }
  const DatasetInfo& info() const override { return info_; }
  void read_images(std::size_t first, std::size_t count, float* out) const override;

 private:
  void open(const OpenOptions& options);
  void index_sparse(std::int64_t size);
  template <typename T>
  std::vector<T> read_at(std::int64_t offset, std::size_t n) const;
  void read_sparse(std::size_t first, std::size_t count, float* out) const;
  void read_dense(std::size_t first, std::size_t count, float* out) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  DatasetInfo info_;
  std::int32_t type_ = kSparse;
  std::size_t num_data_ = 0, num_pix_ = 0;
  std::vector<std::int64_t> ones_at_, multi_at_;  // num_data+1 cumulative entry counts
  std::int64_t place_ones_at_ = 0, place_multi_at_ = 0, count_multi_at_ = 0;  // byte offsets
};

template <typename T>
std::vector<T> EmcReader::read_at(std::int64_t offset, std::size_t n) const {
  std::vector<T> values(n);
  if (n == 0) return values;
  if (fseeko(file_, offset, SEEK_SET) != 0 || std::fread(values.data(), sizeof(T), n, file_) != n)
    fail_in(path_, fmt::format("cannot read {} bytes at byte offset {} (truncated file?)", n * sizeof(T), offset));
  return values;
}

void EmcReader::open(const OpenOptions& options) {
  std::error_code ec;
  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(path_, ec));
  if (ec || size < kHeaderBytes)
    fail_in(path_, fmt::format("{} bytes, shorter than the 1024-byte header of a Dragonfly photon file", size));
  const auto header = read_at<std::int32_t>(0, 3);
  if (header[0] <= 0) fail_in(path_, fmt::format("header: num_data {} (byte offset 0), expected > 0", header[0]));
  if (header[1] <= 0) fail_in(path_, fmt::format("header: num_pix {} (byte offset 4), expected > 0", header[1]));
  num_data_ = static_cast<std::size_t>(header[0]);
  num_pix_ = static_cast<std::size_t>(header[1]);
  type_ = header[2];
  if (type_ == kSparse) {
    index_sparse(size);
  } else if (type_ == kDenseInt || type_ == kDenseDouble) {
    // num_data, num_pix < 2^31: their product fits in 64 bits, the bytes may not (corrupt header).
    const std::uint64_t per = type_ == kDenseInt ? 4 : 8, values = std::uint64_t{num_data_} * num_pix_;
    const bool fits = values <= static_cast<std::uint64_t>(size - kHeaderBytes) / per;
    if (!fits || static_cast<std::uint64_t>(size) != kHeaderBytes + values * per)
      fail_in(path_, fmt::format("{} bytes, but {} dense frames of {} pixels take {:.0f} bytes (truncated file?)", size,
                                 num_data_, num_pix_, kHeaderBytes + static_cast<double>(values) * static_cast<double>(per)));
  } else {
    fail_in(path_, fmt::format("header: frame type {} (byte offset 8), expected 0 (sparse), 1 (dense int32) or 2 "
                               "(dense float64)", type_));
  }
  info_ = dragonfly_info(path_, header[1], num_data_, options);
}

void EmcReader::index_sparse(std::int64_t size) {
  const std::int64_t lists = kHeaderBytes + 8 * static_cast<std::int64_t>(num_data_);
  if (size < lists)
    fail_in(path_, fmt::format("{} bytes, too short for the per-frame sizes of {} frames ({} bytes; truncated "
                               "file?)", size, num_data_, lists));
  const std::int64_t multi_at = kHeaderBytes + 4 * static_cast<std::int64_t>(num_data_);
  const auto ones = read_at<std::int32_t>(kHeaderBytes, num_data_);
  const auto multi = read_at<std::int32_t>(multi_at, num_data_);
  const auto check = [&](std::int32_t v, const char* name, std::int64_t at, std::size_t d) {
    if (v < 0 || static_cast<std::size_t>(v) > num_pix_)
      fail_in(path_, fmt::format("frame {}: {} = {} at byte offset {}, expected 0 to num_pix {} (corrupt file?)", d,
                                 name, v, at + 4 * static_cast<std::int64_t>(d), num_pix_));
  };
  ones_at_.assign(num_data_ + 1, 0);
  multi_at_.assign(num_data_ + 1, 0);
  for (std::size_t d = 0; d < num_data_; ++d) {
    check(ones[d], "ones", kHeaderBytes, d);
    check(multi[d], "multi", multi_at, d);
    ones_at_[d + 1] = ones_at_[d] + ones[d];
    multi_at_[d + 1] = multi_at_[d] + multi[d];
  }
  place_ones_at_ = lists;
  place_multi_at_ = place_ones_at_ + 4 * ones_at_.back();
  count_multi_at_ = place_multi_at_ + 4 * multi_at_.back();
  const std::int64_t expected = count_multi_at_ + 4 * multi_at_.back();
  if (size != expected)
    fail_in(path_, fmt::format("{} bytes, but its header and per-frame sizes make {} bytes ({}; corrupt file?)", size,
                               expected, size < expected ? "truncated" : "more data than frames"));
}

void EmcReader::read_images(std::size_t first, std::size_t count, float* out) const {
  if (first > num_data_ || count > num_data_ - first)
    fail_in(path_, fmt::format("images {} to {} requested, the file has {}", first, first + count, num_data_));
  if (type_ == kSparse)
    read_sparse(first, count, out);
  else
    read_dense(first, count, out);
}

void EmcReader::read_sparse(std::size_t first, std::size_t count, float* out) const {
  std::fill(out, out + count * num_pix_, 0.0f);
  const std::int64_t o0 = ones_at_[first], m0 = multi_at_[first];
  const auto ones = read_at<std::int32_t>(place_ones_at_ + 4 * o0, std::size_t(ones_at_[first + count] - o0));
  const std::size_t nm = std::size_t(multi_at_[first + count] - m0);
  const auto places = read_at<std::int32_t>(place_multi_at_ + 4 * m0, nm);
  const auto counts = read_at<std::int32_t>(count_multi_at_ + 4 * m0, nm);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t d = first + i;
    const std::int64_t o = ones_at_[d] - o0, m = multi_at_[d] - m0;
    float* frame = out + i * num_pix_;
    const auto in_ones = [&](std::size_t e, bool) {
      return fmt::format("byte offset {}", place_ones_at_ + 4 * (ones_at_[d] + std::int64_t(e)));
    };
    const auto in_multi = [&](std::size_t e, bool is_count) {
      const std::int64_t base = is_count ? count_multi_at_ : place_multi_at_;
      return fmt::format("byte offset {}", base + 4 * (multi_at_[d] + std::int64_t(e)));
    };
    add_photons(frame, path_, num_pix_, d, ones.data() + o, nullptr, std::size_t(ones_at_[d + 1] - ones_at_[d]),
                in_ones);
    add_photons(frame, path_, num_pix_, d, places.data() + m, counts.data() + m,
                std::size_t(multi_at_[d + 1] - multi_at_[d]), in_multi);
  }
}

void EmcReader::read_dense(std::size_t first, std::size_t count, float* out) const {
  const std::size_t n = count * num_pix_;
  const std::int64_t bytes = type_ == kDenseInt ? 4 : 8;
  const std::int64_t at = kHeaderBytes + static_cast<std::int64_t>(first * num_pix_) * bytes;
  if (type_ == kDenseInt) {
    const auto v = read_at<std::int32_t>(at, n);
    std::transform(v.begin(), v.end(), out, [](std::int32_t x) { return static_cast<float>(x); });
    return;
  }
  const auto v = read_at<double>(at, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(v[i]) && std::abs(v[i]) > std::numeric_limits<float>::max())
      fail_in(path_, fmt::format("frame {}: value {} at byte offset {} does not fit in float32", first + i / num_pix_,
                                 v[i], at + 8 * std::int64_t(i)));
    out[i] = static_cast<float>(v[i]);
  }
}

// Frees the variable-length sequences HDF5 allocated for a read.
class VlenBuffer {
 public:
  VlenBuffer(hid_t type, hid_t space, std::size_t n) : type_(type), space_(space), data_(n) {}
  ~VlenBuffer() {
    if (read_) H5Dvlen_reclaim(type_, space_, H5P_DEFAULT, data_.data());
  }
  VlenBuffer(const VlenBuffer&) = delete;
  VlenBuffer& operator=(const VlenBuffer&) = delete;
  hvl_t* data() { return data_.data(); }
  const hvl_t& operator[](std::size_t i) const { return data_[i]; }
  void mark_read() { read_ = true; }

 private:
  hid_t type_, space_;
  std::vector<hvl_t> data_;
  bool read_ = false;
};

// Dragonfly's HDF5 photons: place_ones, place_multi, count_multi read frame range by range.
class EmcH5Reader final : public ImageFile {
 public:
  EmcH5Reader(std::string path, const OpenOptions& options);
  const std::string& path() const override { return path_; }
  Format format() const override { return Format::dragonfly_h5; }
  const DatasetInfo& info() const override { return info_; }
  void read_images(std::size_t first, std::size_t count, float* out) const override;

 private:
  std::int64_t read_num_pix() const;
  Handle open_lists(const char* name, std::size_t& frames) const;
  void read_lists(const Handle& d, const char* name, std::size_t first, std::size_t count, VlenBuffer& out) const;

  std::string path_;
  Handle file_, ones_, multi_, counts_, vlen_int_;
  DatasetInfo info_;
  std::size_t num_pix_ = 0;
};

EmcH5Reader::EmcH5Reader(std::string path, const OpenOptions& options)
    : path_(std::move(path)), file_(detail::open_for_reading(path_)) {
  const std::int64_t num_pix = read_num_pix();
  std::size_t frames = 0, multi_frames = 0, count_frames = 0;
  ones_ = open_lists("place_ones", frames);
  multi_ = open_lists("place_multi", multi_frames);
  counts_ = open_lists("count_multi", count_frames);
  if (multi_frames != frames || count_frames != frames)
    fail_in(path_, fmt::format("place_ones, place_multi and count_multi hold {}, {} and {} frames, expected the same",
                               frames, multi_frames, count_frames));
  if (frames == 0) fail_in(path_, "dataset 'place_ones': no frames");
  vlen_int_ = Handle(H5Tvlen_create(H5T_NATIVE_INT32), H5Tclose);
  num_pix_ = static_cast<std::size_t>(num_pix);
  info_ = dragonfly_info(path_, num_pix, frames, options);
}

std::int64_t EmcH5Reader::read_num_pix() const {
  if (H5Lexists(file_.get(), "num_pix", H5P_DEFAULT) <= 0) fail_in(path_, "dataset 'num_pix': missing");
  Handle d(H5Dopen2(file_.get(), "num_pix", H5P_DEFAULT), H5Dclose);
  Handle type(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
  Handle space(d.valid() ? H5Dget_space(d.get()) : -1, H5Sclose);
  const hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1;
  if (!type.valid() || H5Tget_class(type.get()) != H5T_INTEGER || !detail::plain_number_type(type.get()) || n < 1 ||
      n > 3)
    fail_in(path_, "dataset 'num_pix': expected 1 to 3 integers (their product is the pixel count)");
  std::int64_t v[3] = {1, 1, 1};
  if (H5Dread(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    fail_in(path_, "dataset 'num_pix': read failed (corrupt file?)");
  std::int64_t product = 1;
  for (hssize_t i = 0; i < n; ++i) {
    if (v[i] <= 0 || v[i] > std::numeric_limits<std::int32_t>::max() / product)
      fail_in(path_, fmt::format("dataset 'num_pix': value {}, expected a pixel count below 2^31", v[i]));
    product *= v[i];
  }
  return product;
}

Handle EmcH5Reader::open_lists(const char* name, std::size_t& frames) const {
  if (H5Lexists(file_.get(), name, H5P_DEFAULT) <= 0) fail_in(path_, fmt::format("dataset '{}': missing", name));
  Handle d(H5Dopen2(file_.get(), name, H5P_DEFAULT), H5Dclose);
  Handle type(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_VLEN)
    fail_in(path_, fmt::format("dataset '{}': expected variable-length integers (one sequence per frame)", name));
  Handle base(H5Tget_super(type.get()), H5Tclose);
  if (!base.valid() || H5Tget_class(base.get()) != H5T_INTEGER || !detail::plain_number_type(base.get()))
    fail_in(path_, fmt::format("dataset '{}': expected sequences of integers", name));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  hsize_t dims[1] = {0};
  if (!space.valid() || H5Sget_simple_extent_ndims(space.get()) != 1 ||
      H5Sget_simple_extent_dims(space.get(), dims, nullptr) != 1)
    fail_in(path_, fmt::format("dataset '{}': expected one dimension (frames)", name));
  frames = static_cast<std::size_t>(dims[0]);
  return d;
}

void EmcH5Reader::read_lists(const Handle& d, const char* name, std::size_t first, std::size_t count,
                             VlenBuffer& out) const {
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const hsize_t start[1] = {first}, n[1] = {count};
  Handle memory(H5Screate_simple(1, n, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr) < 0)
    fail_in(path_, fmt::format("dataset '{}': frames {} to {} unreadable (corrupt file?)", name, first, first + count));
  detail::check_stored_sequences(file_.get(), d.get(), path_, name, first, count, num_pix_);
  if (H5Dread(d.get(), vlen_int_.get(), memory.get(), space.get(), H5P_DEFAULT, out.data()) < 0)
    fail_in(path_, fmt::format("dataset '{}': frames {} to {}: read failed (corrupt file?)", name, first, first + count));
  out.mark_read();
}

void EmcH5Reader::read_images(std::size_t first, std::size_t count, float* out) const {
  if (first > info_.n_images || count > info_.n_images - first)
    fail_in(path_, fmt::format("images {} to {} requested, the file has {}", first, first + count, info_.n_images));
  if (count == 0) return;
  const hsize_t n[1] = {count};
  Handle memory(H5Screate_simple(1, n, nullptr), H5Sclose);
  VlenBuffer ones(vlen_int_.get(), memory.get(), count), places(vlen_int_.get(), memory.get(), count),
      counts(vlen_int_.get(), memory.get(), count);
  read_lists(ones_, "place_ones", first, count, ones);
  read_lists(multi_, "place_multi", first, count, places);
  read_lists(counts_, "count_multi", first, count, counts);
  std::fill(out, out + count * num_pix_, 0.0f);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t d = first + i;
    if (places[i].len != counts[i].len)
      fail_in(path_, fmt::format("frame {}: {} entries in place_multi but {} in count_multi", d, places[i].len,
                                 counts[i].len));
    auto in = [&](const char* name) {
      return [name](std::size_t e, bool is_count) {
        return fmt::format("dataset '{}' entry {}", is_count ? "count_multi" : name, e);
      };
    };
    float* frame = out + i * num_pix_;
    add_photons(frame, path_, num_pix_, d, static_cast<const std::int32_t*>(ones[i].p), nullptr, ones[i].len,
                in("place_ones"));
    add_photons(frame, path_, num_pix_, d, static_cast<const std::int32_t*>(places[i].p),
                static_cast<const std::int32_t*>(counts[i].p), places[i].len, in("place_multi"));
  }
}

}  // namespace

std::unique_ptr<ImageFile> open_dragonfly(const std::string& path, Format format, const OpenOptions& options) {
  if (format == Format::dragonfly_h5) return std::make_unique<EmcH5Reader>(path, options);
  return std::make_unique<EmcReader>(path, options);
}

}  // namespace spire::io
