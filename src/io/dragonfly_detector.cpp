// Dragonfly's detector file, text and HDF5 (io/dragonfly.hpp): reading, the geometry it
// gives a DatasetInfo, and writing one for `spire convert`.
#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/dragonfly.hpp"
#include "io/hdf5_handle.hpp"

namespace spire::io {

namespace {

using detail::Handle;

// Dragonfly numbers pixels with int32.
constexpr std::size_t kMaxPixels = std::numeric_limits<std::int32_t>::max();

[[noreturn]] void fail_dataset(const std::string& file, const std::string& name, const std::string& problem) {
  fail_in(file, "dataset '" + name + "': " + problem);
}

// A numeric dataset of any shape as doubles; `expected` values (0: any number up to a bound
// set by the file's size, so a corrupt shape never allocates more than the file could hold).
std::vector<double> read_numbers(hid_t file, const std::string& path, const std::string& name, std::size_t expected) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) fail_dataset(path, name, "missing (a Dragonfly detector has it)");
  Handle d(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(d.valid() ? H5Dget_type(d.get()) : -1, H5Tclose);
  if (!type.valid()) fail_dataset(path, name, "cannot be opened (not a dataset, or corrupt file?)");
  if (!detail::plain_number_type(type.get()))
    fail_dataset(path, name, "is not numbers (integers of 1 to 8 bytes, float32 or float64; corrupt file?)");
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1;
  if (n < 0) fail_dataset(path, name, "unreadable shape (corrupt file?)");
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  const std::size_t bound = ec ? kMaxPixels : std::min<std::size_t>(kMaxPixels, 1000 * bytes);
  if (expected && static_cast<std::size_t>(n) != expected)
    fail_dataset(path, name, fmt::format("has {} values, expected {}", n, expected));
  if (static_cast<std::size_t>(n) > bound)
    fail_dataset(path, name, fmt::format("claims {} values, more than the file can hold (corrupt file?)", n));
  std::vector<double> values(static_cast<std::size_t>(n));
  if (n > 0 && H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    fail_dataset(path, name, "read failed (corrupt or truncated file?)");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) fail_dataset(path, name, fmt::format("value {} is {}", i, values[i]));
  return values;
}

double read_scalar(hid_t file, const std::string& path, const std::string& name) {
  const auto v = read_numbers(file, path, name, 1);
  return v[0];
}

std::uint8_t mask_value(double v, const std::string& where) {
  if (v < 0 || v > 255 || v != std::floor(v)) fail(fmt::format("{}: mask value {}, expected 0, 1 or 2", where, v));
  return static_cast<std::uint8_t>(v);
}

DragonflyDetector read_h5_detector(const std::string& path) {
  const auto file = detail::open_for_reading(path);
  DragonflyDetector det;
  const auto qx = read_numbers(file.get(), path, "qx", 0);
  det.num_pix = qx.size();
  if (det.num_pix == 0) fail_dataset(path, "qx", "is empty (no pixels)");
  const auto qy = read_numbers(file.get(), path, "qy", det.num_pix);
  const auto qz = read_numbers(file.get(), path, "qz", det.num_pix);
  det.corr = read_numbers(file.get(), path, "corr", det.num_pix);
  const auto mask = read_numbers(file.get(), path, "mask", det.num_pix);
  det.detd = read_scalar(file.get(), path, "detd");
  det.ewald_rad = read_scalar(file.get(), path, "ewald_rad");
  det.q.resize(3 * det.num_pix);
  det.mask.resize(det.num_pix);
  for (std::size_t p = 0; p < det.num_pix; ++p) {
    det.q[3 * p] = qx[p], det.q[3 * p + 1] = qy[p], det.q[3 * p + 2] = qz[p];
    det.mask[p] = mask_value(mask[p], fmt::format("{}: dataset 'mask': pixel {}", path, p));
  }
  return det;
}

// The text form, read with a cursor that counts lines for the messages.
class TextReader {
 public:
  TextReader(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}

  bool at_line_end() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r')) ++pos_;
    return pos_ >= text_.size() || text_[pos_] == '\n';
  }
  double number(const char* what) {
    skip_space();
    double v = 0;
    const char* begin = text_.data() + pos_;
    const char* end = text_.data() + text_.size();
    if (begin < end && *begin == '+') ++begin;
    const auto r = std::from_chars(begin, end, v);
    if (r.ec != std::errc() || r.ptr == begin || !std::isfinite(v))
      fail_in(path_, fmt::format("line {}: {}: expected a number, found '{}'", line_, what, word()));
    pos_ = static_cast<std::size_t>(r.ptr - text_.data());
    return v;
  }
  [[noreturn]] void fail_here(const std::string& problem) const {
    fail_in(path_, fmt::format("line {}: {}", line_, problem));
  }
  std::size_t size() const { return text_.size(); }

 private:
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      if (text_[pos_++] == '\n') ++line_;
  }
  std::string word() const {
    std::size_t e = pos_;
    while (e < text_.size() && e - pos_ < 20 && !std::isspace(static_cast<unsigned char>(text_[e]))) ++e;
    return e == pos_ ? (pos_ >= text_.size() ? "end of file" : "nothing") : text_.substr(pos_, e - pos_);
  }

  std::string path_, text_;
  std::size_t pos_ = 0, line_ = 1;
};

DragonflyDetector read_text_detector(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_in(path, "cannot be read");
  TextReader r(path, std::string(std::istreambuf_iterator<char>(in), {}));
  DragonflyDetector det;
  const double n = r.number("num_pix");
  // Each pixel's line holds at least "0 0 0 0 0\n".
  if (n < 1 || n != std::floor(n) || n > static_cast<double>(std::min(kMaxPixels, r.size() / 10)))
    r.fail_here(fmt::format("num_pix {} is not a pixel count this file of {} bytes can hold (not a Dragonfly "
                            "detector file?)", n, r.size()));
  det.num_pix = static_cast<std::size_t>(n);
  if (r.at_line_end())
    r.fail_here("old detector file (num_pix only): without detd and ewald_rad the q scale is unknown; write "
                "it again with Dragonfly's make_detector or utils/py_src/detector.py");
  det.detd = r.number("detd");
  det.ewald_rad = r.number("ewald_rad");
  det.q.resize(3 * det.num_pix);
  det.corr.resize(det.num_pix);
  det.mask.resize(det.num_pix);
  for (std::size_t p = 0; p < det.num_pix; ++p) {
    for (int k = 0; k < 3; ++k) det.q[3 * p + k] = r.number("q of a pixel");
    det.corr[p] = r.number("corr of a pixel");
    const double m = r.number("mask of a pixel");
    if (m < 0 || m > 255 || m != std::floor(m)) r.fail_here(fmt::format("mask value {}, expected 0, 1 or 2", m));
    det.mask[p] = static_cast<std::uint8_t>(m);
  }
  if (!r.at_line_end()) r.fail_here("more values after the last pixel: num_pix is wrong or the file is not a detector");
  return det;
}

}  // namespace

DragonflyDetector read_dragonfly_detector(const std::string& path) {
  detail::prepare_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail_in(path, "no such file (the Dragonfly detector file)");
  if (std::filesystem::is_directory(path, ec)) fail_in(path, "is a directory, not a Dragonfly detector file");
  auto det = H5Fis_hdf5(path.c_str()) > 0 ? read_h5_detector(path) : read_text_detector(path);
  if (!(det.ewald_rad > 0)) fail_in(path, fmt::format("ewald_rad is {}, expected a positive radius (voxels)", det.ewald_rad));
  return det;
}

void fill_dragonfly_geometry(DatasetInfo& info, const DragonflyDetector& det, double photon_energy,
                             const std::string& detector_path) {
  if (!(photon_energy > 0))
    fail_in(detector_path, "Dragonfly's files do not hold the photon energy: give it with data.photon_energy "
                           "(spire reconstruct) or --photon-energy EV");
  const double wavelength = kHcElectronvoltMetre / photon_energy;
  const double scale = 1.0 / (det.ewald_rad * wavelength);
  info.panels = 1;
  info.height = 1;
  info.width = static_cast<int>(det.num_pix);
  info.pixel_position_reciprocal.resize(3 * det.num_pix);
  double largest = 0;
  for (std::size_t i = 0; i < det.q.size(); ++i) {
    info.pixel_position_reciprocal[i] = static_cast<float>(det.q[i] * scale);
    largest = std::max(largest, std::abs(det.q[i] * scale));
  }
  if (largest > 1e13 || largest < 1e6)
    fail_in(detector_path, fmt::format("with a photon energy of {} eV the largest |s| is {:.3g} 1/m, outside "
                                       "[1e6, 1e13] 1/m of X-ray detectors: is the photon energy in eV?",
                                       photon_energy, largest));
  info.photon_energy = photon_energy;
  info.mask.assign(det.num_pix, 1);
  std::size_t ones = 0, bad = 0;
  for (std::size_t p = 0; p < det.num_pix; ++p) {
    ones += det.mask[p] == 1;
    bad += det.mask[p] >= 2;
    info.mask[p] = det.mask[p] < 2;
  }
  info.ignored.push_back(fmt::format("detector mask: {} pixels of value 1 (Dragonfly: merged, not used for "
                                     "orientation) read as usable, {} of value 2 excluded", ones, bad));
  info.ignored.push_back("detector corr (solid angle x polarization): in the photons, not applied");
}

namespace {

// Median distance in s between pixel p and p+1, over neighbours in a row (1/m).
double pixel_spacing(const DatasetInfo& info) {
  const auto& s = info.pixel_position_reciprocal;
  std::vector<double> steps;
  for (std::size_t p = 0; p + 1 < info.pixels(); ++p) {
    if (info.width > 1 && (p + 1) % static_cast<std::size_t>(info.width) == 0) continue;
    const double dx = s[3 * p + 3] - s[3 * p], dy = s[3 * p + 4] - s[3 * p + 1], dz = s[3 * p + 5] - s[3 * p + 2];
    const double d = std::sqrt(dx * dx + dy * dy + dz * dz);
    if (d > 0) steps.push_back(d);
  }
  if (steps.empty()) fail("a Dragonfly detector needs at least two pixels at different positions");
  std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
  return steps[steps.size() / 2];
}

// corr: polarization times solid angle relative to their mean (1 where neither is known).
std::vector<double> correction(const DatasetInfo& info) {
  std::vector<double> corr(info.pixels(), 1.0);
  for (std::size_t p = 0; p < corr.size(); ++p) {
    if (!info.polarization.empty()) corr[p] *= info.polarization[p];
    if (!info.solid_angle.empty()) corr[p] *= info.solid_angle[p];
  }
  double mean = 0;
  for (double c : corr) mean += c;
  mean /= static_cast<double>(corr.size());
  if (mean > 0)
    for (double& c : corr) c /= mean;
  return corr;
}

DragonflyDetector detector_of(const DatasetInfo& info, double photon_energy) {
  if (!(photon_energy > 0)) fail("a Dragonfly detector needs the photon energy (--photon-energy EV)");
  const double wavelength = kHcElectronvoltMetre / photon_energy;
  DragonflyDetector det;
  det.num_pix = info.pixels();
  // Rounded as the text form's header writes it ("%.6f"), so both forms give the same q.
  det.ewald_rad = std::round(1e6 / (wavelength * pixel_spacing(info))) / 1e6;
  det.detd = det.ewald_rad;
  det.q.resize(3 * det.num_pix);
  for (std::size_t i = 0; i < det.q.size(); ++i)
    det.q[i] = static_cast<double>(info.pixel_position_reciprocal[i]) * wavelength * det.ewald_rad;
  det.corr = correction(info);
  det.mask.resize(det.num_pix);
  for (std::size_t p = 0; p < det.num_pix; ++p) det.mask[p] = info.mask.empty() || info.mask[p] ? 0 : 2;
  return det;
}

void write_h5_detector(const std::string& path, const std::string& tmp, const DragonflyDetector& det) {
  Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) fail_in(path, "cannot create " + tmp);
  auto put = [&](const char* name, hid_t type, const void* data, std::size_t n, bool scalar) {
    const hsize_t dims[1] = {n};
    Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr), H5Sclose);
    Handle d(H5Dcreate2(file.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    const hid_t memory = type == H5T_STD_U8LE ? H5T_NATIVE_UINT8 : H5T_NATIVE_DOUBLE;
    if (!d.valid() || H5Dwrite(d.get(), memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 || !d.close())
      fail_in(path, detail::write_problem(fmt::format("cannot write dataset '{}' to {}", name, tmp)));
  };
  std::vector<double> axis(det.num_pix);
  const char* names[3] = {"qx", "qy", "qz"};
  for (int k = 0; k < 3; ++k) {
    for (std::size_t p = 0; p < det.num_pix; ++p) axis[p] = det.q[3 * p + k];
    put(names[k], H5T_IEEE_F64LE, axis.data(), det.num_pix, false);
  }
  put("corr", H5T_IEEE_F64LE, det.corr.data(), det.num_pix, false);
  put("mask", H5T_STD_U8LE, det.mask.data(), det.num_pix, false);
  put("detd", H5T_IEEE_F64LE, &det.detd, 1, true);
  put("ewald_rad", H5T_IEEE_F64LE, &det.ewald_rad, 1, true);
  if (!file.close()) fail_in(path, detail::write_problem("cannot close " + tmp));
}

void write_text_detector(const std::string& path, const std::string& tmp, const DragonflyDetector& det) {
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) fail_in(path, detail::write_problem("cannot create " + tmp));
  bool ok = std::fprintf(f, "%zu %.6f %.6f\n", det.num_pix, det.detd, det.ewald_rad) > 0;
  for (std::size_t p = 0; ok && p < det.num_pix; ++p)
    ok = std::fprintf(f, "%21.15e %21.15e %21.15e %21.15e %d\n", det.q[3 * p], det.q[3 * p + 1], det.q[3 * p + 2],
                      det.corr[p], int(det.mask[p])) > 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) fail_in(path, detail::write_problem("cannot write " + tmp));
}

}  // namespace

void write_dragonfly_detector(const std::string& path, const DatasetInfo& info, double photon_energy) {
  const DragonflyDetector det = detector_of(info, photon_energy);
  detail::prepare_hdf5();
  const std::string tmp = temporary_path(path);
  try {
    errno = 0;
    if (std::filesystem::path(path).extension() == ".h5")
      write_h5_detector(path, tmp, det);
    else
      write_text_detector(path, tmp, det);
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace spire::io
