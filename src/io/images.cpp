#include "io/images.hpp"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

std::size_t DatasetInfo::usable_pixels() const {
  if (mask.empty()) return pixels();
  return static_cast<std::size_t>(std::count_if(mask.begin(), mask.end(), [](std::uint8_t m) { return m != 0; }));
}

std::vector<double> ImageFile::read_orientations() const { fail_in(path(), "no true orientations in this file"); }
Volume ImageFile::read_volume() const { fail_in(path(), "no reference volume in this file"); }

Format detect_format(const std::string& path) {
  detail::prepare_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail_in(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail_in(path, "is a directory, not a file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    if (std::filesystem::path(path).extension() == ".emc") return Format::dragonfly_emc;
    fail_in(path, "not a diffraction image file: neither HDF5 (SpiniFEL/skopi layout, CXI, Dragonfly's HDF5 "
                  "photons) nor Dragonfly's binary photons (.emc)");
  }
  const auto file = detail::open_for_reading(path);
  auto has = [&](const char* name) { return H5Lexists(file.get(), name, H5P_DEFAULT) > 0; };
  if (has("intensities")) return Format::spinifel;
  if (has("entry_1")) return Format::cxi;
  if (has("place_ones") || has("count_multi")) return Format::dragonfly_h5;
  fail_in(path, "HDF5 file of no layout spire reads: no 'intensities' (SpiniFEL/skopi), no 'entry_1' (CXI), no "
                "'place_ones' (Dragonfly photons)");
}

std::unique_ptr<ImageFile> open_spinifel(const std::string& path) { return std::make_unique<DatasetReader>(path); }

namespace {

// An ImageFile whose info carries an extra mask; everything else is the wrapped file's.
class Masked final : public ImageFile {
 public:
  Masked(std::unique_ptr<ImageFile> file, const std::string& mask_path) : file_(std::move(file)), info_(file_->info()) {
    apply_mask_file(info_, mask_path);
  }
  const std::string& path() const override { return file_->path(); }
  Format format() const override { return file_->format(); }
  const DatasetInfo& info() const override { return info_; }
  void read_images(std::size_t first, std::size_t count, float* out) const override {
    file_->read_images(first, count, out);
  }
  bool has_orientations() const override { return file_->has_orientations(); }
  std::vector<double> read_orientations() const override { return file_->read_orientations(); }
  bool has_volume() const override { return file_->has_volume(); }
  Volume read_volume() const override { return file_->read_volume(); }
  std::array<std::size_t, 3> volume_shape() const override { return file_->volume_shape(); }

 private:
  std::unique_ptr<ImageFile> file_;
  DatasetInfo info_;
};

}  // namespace

std::unique_ptr<ImageFile> open_images(const std::string& path, const OpenOptions& options) {
  const Format format = detect_format(path);
  std::unique_ptr<ImageFile> file;
  switch (format) {
    case Format::spinifel:
      file = open_spinifel(path);
      break;
    case Format::dragonfly_emc:
    case Format::dragonfly_h5:
      file = open_dragonfly(path, format, options);
      break;
    case Format::cxi:
      file = open_cxi(path, options);
      break;
  }
  if (options.mask.empty()) return file;
  return std::make_unique<Masked>(std::move(file), options.mask);
}

void apply_mask_file(DatasetInfo& info, const std::string& mask_path) {
  const auto file = detail::open_for_reading(mask_path);
  const hid_t f = file.get();
  if (H5Lexists(f, "mask", H5P_DEFAULT) <= 0) fail_in(mask_path, "dataset 'mask': missing (a mask file holds 'mask')");
  detail::Handle d(H5Dopen2(f, "mask", H5P_DEFAULT), H5Dclose);
  detail::Handle type(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
  if (!d.valid() || !type.valid() || H5Tget_class(type.get()) != H5T_INTEGER)
    fail_in(mask_path, "dataset 'mask': not a dataset of integers");
  detail::Handle space(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::clamp(rank, 0, 8)));
  if (rank < 0 || rank > 8) fail_in(mask_path, "dataset 'mask': unreadable shape (corrupt file?)");
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  const std::vector<hsize_t> phw{hsize_t(info.panels), hsize_t(info.height), hsize_t(info.width)};
  const bool fits = dims == phw || (info.panels == 1 && dims == std::vector<hsize_t>{phw[1], phw[2]});
  if (!fits)
    fail_in(mask_path, fmt::format("dataset 'mask': has shape ({}), expected ({}, {}, {}) (P,H,W){}",
                                   fmt::join(dims, ","), info.panels, info.height, info.width,
                                   info.panels == 1 ? " or (H,W)" : ""));
  std::vector<std::int64_t> values(info.pixels());
  if (H5Dread(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    fail_in(mask_path, "dataset 'mask': read failed (corrupt or truncated file?)");
  if (info.mask.empty()) info.mask.assign(info.pixels(), 1);
  for (std::size_t p = 0; p < values.size(); ++p) info.mask[p] = info.mask[p] && values[p] != 0;
}

}  // namespace spire::io
