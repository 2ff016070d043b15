// The CXI reader (io/cxi.hpp): geometry against spire's own detector, CXI's default
// orientation, panels, the mask bits, units, the photon energy option, images as stored,
// and the errors naming the file and the dataset.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "geometry/detector.hpp"
#include "io/cxi.hpp"
#include "io/hdf5_file.hpp"
#include "support.hpp"

namespace spire::io {
namespace {

using test::error_of;
using test::TempDir;

constexpr double kEv = 6000.0, kJoulePerEv = 1.602176634e-19, kDistance = 0.12, kPitch = 1e-3;
constexpr std::size_t kN = 3, kH = 4, kW = 5;
constexpr double kHm = kH * kPitch, kWm = kW * kPitch;  // the detector's height and width, m
const std::string kDet = "entry_1/instrument_1/detector_1";

// A CXI file of kN images (H,W) = (kH,kW) as CXIDB writes one: images in detector_1/data,
// data_1/data a soft link to them, energy in J; `edit` adds or changes the rest.
template <typename Edit>
std::string write_cxi(const TempDir& dir, const std::string& name, Edit edit, bool link = true) {
  const std::string path = dir.file(name);
  {
    Hdf5Writer w(path);
    std::vector<float> images(kN * kH * kW);
    std::iota(images.begin(), images.end(), 0.0f);
    w.write<float>(kDet + "/data", images, {kN, kH, kW});
    w.write<double>("entry_1/instrument_1/source_1/energy", std::vector<double>{kEv * kJoulePerEv}, {1});
    edit(w);
    w.finish();
  }
  if (link) {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t g = H5Gcreate2(f, "entry_1/data_1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft(("/" + kDet + "/data").c_str(), g, "data", H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
  }
  return path;
}

// spire simulate's square detector in CXI terms: rows along +y, columns along +x, centred.
void spire_geometry(Hdf5Writer& w) {
  w.write<double>(kDet + "/basis_vectors", std::vector<double>{0, kPitch, 0, kPitch, 0, 0}, {2, 3});
  w.write<double>(kDet + "/corner_position",
                  std::vector<double>{-0.5 * kWm, -0.5 * kHm, kDistance}, {3});
}

// s of pixel (row, column) of a detector centred on the beam, columns along +x, as spire computes it.
geometry::Vec3 expected_s(std::size_t row, std::size_t column, double sign) {
  const geometry::Vec3 r{sign * ((double(column) + 0.5) * kPitch - 0.5 * kWm),
                         sign * ((double(row) + 0.5) * kPitch - 0.5 * kHm), kDistance};
  return geometry::reciprocal_position(r, geometry::Beam{.photon_energy_ev = kEv}.wavelength_m());
}

void expect_positions(const DatasetInfo& info, double sign) {
  ASSERT_EQ(info.pixel_position_reciprocal.size(), 3 * kH * kW);
  for (std::size_t i = 0; i < kH; ++i)
    for (std::size_t j = 0; j < kW; ++j) {
      const auto s = expected_s(i, j, sign);
      for (int k = 0; k < 3; ++k)
        EXPECT_NEAR(info.pixel_position_reciprocal[3 * (i * kW + j) + k], s[k], 1.2e-7 * std::abs(s[k]) + 1e-6)
            << "pixel (" << i << ", " << j << ") component " << k;
    }
}

TEST(Cxi, GeometryAsSpireSimulatesIt) {
  TempDir dir;
  const auto path = write_cxi(dir, "a.cxi", spire_geometry);
  const auto file = open_images(path);
  EXPECT_EQ(file->format(), Format::cxi);
  const auto& info = file->info();
  EXPECT_EQ(info.n_images, kN);
  EXPECT_EQ(info.panels, 1);
  EXPECT_EQ(info.height, int(kH));
  EXPECT_EQ(info.width, int(kW));
  EXPECT_NEAR(*info.photon_energy, kEv, 1e-9);
  EXPECT_NEAR(*info.det_distance, kDistance, 1e-15);
  EXPECT_TRUE(info.mask.empty());
  expect_positions(info, +1);
  std::vector<float> images(2 * kH * kW);
  file->read_images(1, 2, images.data());
  for (std::size_t i = 0; i < images.size(); ++i) EXPECT_EQ(images[i], float(kH * kW + i));
}

TEST(Cxi, NotesWhatItDoesNotRead) {
  TempDir dir;
  const auto path = write_cxi(dir, "extra.cxi", [](Hdf5Writer& w) {
    spire_geometry(w);
    w.write<double>("entry_2/data_1/data", std::vector<double>{1, 2}, {2});
    w.write<double>("entry_1/sample_1/mass", std::vector<double>{1e-20}, {1});
    w.write<double>(kDet + "/gain", std::vector<double>{2}, {1});
    w.write<double>("entry_1/instrument_1/detector_2/data", std::vector<double>{1}, {1});
  });
  const auto file = open_images(path);
  const auto& ignored = file->info().ignored;
  for (const char* note : {"entry_2: not read by spire", "entry_1/sample_1: not read by spire",
                           "entry_1/instrument_1/detector_1/gain: not read by spire",
                           "entry_1/instrument_1/detector_2: not read by spire"})
    EXPECT_NE(std::find(ignored.begin(), ignored.end(), note), ignored.end()) << note;
}

TEST(Cxi, DefaultOrientationFromPixelSizesTurnsTheDetectorHalfAround) {
  TempDir dir;
  const auto path = write_cxi(dir, "default.cxi", [](Hdf5Writer& w) {
    w.write<double>(kDet + "/distance", std::vector<double>{kDistance * 1e3}, {1});
    w.attribute(kDet + "/distance", "units", "mm");
    w.write<double>(kDet + "/x_pixel_size", std::vector<double>{kPitch}, {1});
    w.write<double>(kDet + "/y_pixel_size", std::vector<double>{kPitch}, {1});
  });
  // CXI's default basis: rows along -y, columns along -x, the detector centred on the beam.
  expect_positions(open_images(path)->info(), -1);
}

TEST(Cxi, MaskBitsExcludeWhatTheSpecificationCallsBad) {
  TempDir dir;
  const std::vector<std::int32_t> flags{0,     0x1,   0x2,    0x4,    0x8,  0x10, 0x20, 0x40, 0x80, 0x100,
                                        0x200, 0x400, 0x1000, 0x2000, 0x3,  0x10000, 0x400 | 0x1000, 0, 0, 0};
  const auto path = write_cxi(dir, "mask.cxi", [&](Hdf5Writer& w) {
    spire_geometry(w);
    w.write<std::int32_t>(kDet + "/mask", flags, {kH, kW});
  });
  const auto file = open_images(path);
  const auto& mask = file->info().mask;
  ASSERT_EQ(mask.size(), flags.size());
  for (std::size_t p = 0; p < flags.size(); ++p)
    EXPECT_EQ(mask[p], (flags[p] & 0x2DF) == 0 ? 1 : 0) << "flags 0x" << std::hex << flags[p];
}

TEST(Cxi, PanelsInASecondDetectorWithPerImageGeometry) {
  TempDir dir;
  const std::string det2 = "entry_1/instrument_1/detector_2";
  const std::string path = dir.file("panels.cxi");
  {
    Hdf5Writer w(path);
    w.write<float>(det2 + "/data", std::vector<float>(2 * 2 * kH * kW, 1.0f), {2, 2, kH, kW});
    const std::vector<double> corners{-kWm, -0.5 * kHm, kDistance, 0, -0.5 * kHm, kDistance};
    std::vector<double> per_image = corners;
    per_image.insert(per_image.end(), corners.begin(), corners.end());
    w.write<double>(det2 + "/corner_position", per_image, {2, 2, 3});
    w.write<double>(det2 + "/basis_vectors", std::vector<double>{0, kPitch, 0, kPitch, 0, 0, 0, kPitch, 0, kPitch, 0, 0},
                    {2, 2, 3});
    w.write<double>("entry_1/instrument_1/beam_1/incident_wavelength",
                    std::vector<double>{geometry::Beam{.photon_energy_ev = kEv}.wavelength_m()}, {1});
    w.finish();
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(f, "entry_1/data_1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Lcreate_soft(("/" + det2 + "/data").c_str(), f, "entry_1/data_1/data", H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  const auto file = open_images(path);
  const auto& info = file->info();
  EXPECT_EQ(info.n_images, 2u);
  EXPECT_EQ(info.panels, 2);
  // Panel 1's pixel (0, 0) is at (pitch/2, (1/2 - H/2) pitch, distance).
  const auto s = geometry::reciprocal_position({0.5 * kPitch, 0.5 * kPitch - 0.5 * kHm, kDistance},
                                               geometry::Beam{.photon_energy_ev = kEv}.wavelength_m());
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(info.pixel_position_reciprocal[3 * kH * kW + k], s[k], 1e-6 * std::abs(s[0]));
}

TEST(Cxi, PhotonEnergyFromTheOptionsWhereTheFileHasNone) {
  TempDir dir;
  const auto path = write_cxi(dir, "no_energy.cxi", [](Hdf5Writer& w) {
    spire_geometry(w);
    w.write<double>("entry_1/instrument_1/source_1/pulse_energy", std::vector<double>{1e-3}, {1});
  });
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "entry_1/instrument_1/source_1/energy", H5P_DEFAULT);
  H5Fclose(f);
  EXPECT_NE(error_of([&] { open_images(path); })
                .find("no_energy.cxi: dataset 'entry_1/instrument_1/source_1/energy': missing"),
            std::string::npos);
  OpenOptions options;
  options.photon_energy = kEv;
  expect_positions(open_images(path, options)->info(), +1);
}

TEST(Cxi, ValuesAsStoredInfFromFloat64IsAnError) {
  TempDir dir;
  const std::string path = dir.file("values.cxi");
  {
    Hdf5Writer w(path);
    std::vector<double> images(kN * kH * kW, 2.0);
    images[1] = -3.5;
    images[2] = std::numeric_limits<double>::infinity();
    images[kH * kW + 4] = 1e300;
    w.write<double>(kDet + "/data", images, {kN, kH, kW});
    w.write<double>("entry_1/instrument_1/source_1/energy", std::vector<double>{kEv * kJoulePerEv}, {1});
    spire_geometry(w);
    w.finish();
  }
  const auto file = open_images(path);
  std::vector<float> one(kH * kW);
  file->read_images(0, 1, one.data());
  EXPECT_EQ(one[1], -3.5f);
  EXPECT_TRUE(std::isinf(one[2]));
  EXPECT_NE(error_of([&] { file->read_images(1, 1, one.data()); })
                .find("values.cxi: dataset 'entry_1/instrument_1/detector_1/data': image 1 pixel 4: value 1e+300 "
                      "does not fit in float32"),
            std::string::npos);
}

struct Broken {
  const char* name;
  void (*edit)(Hdf5Writer&);
  const char* message;
};

void PrintTo(const Broken& broken, std::ostream* os) { *os << broken.name; }

class CxiErrors : public ::testing::TestWithParam<Broken> {};

TEST_P(CxiErrors, NameTheFileAndTheDataset) {
  TempDir dir;
  const auto path = write_cxi(dir, "broken.cxi", GetParam().edit);
  const std::string message = error_of([&] { open_images(path); });
  EXPECT_NE(message.find(std::string("broken.cxi: ") + GetParam().message), std::string::npos) << message;
}

void pixel_sizes(Hdf5Writer& w) {
  w.write<double>(kDet + "/x_pixel_size", std::vector<double>{kPitch}, {1});
  w.write<double>(kDet + "/y_pixel_size", std::vector<double>{kPitch}, {1});
}

INSTANTIATE_TEST_SUITE_P(
    Cxi, CxiErrors,
    ::testing::Values(
        Broken{"NoDistance", pixel_sizes,
               "dataset 'entry_1/instrument_1/detector_1/distance': missing (required without "
               "entry_1/instrument_1/detector_1/corner_position)"},
        Broken{"NoPixelSize",
               [](Hdf5Writer& w) { w.write<double>(kDet + "/distance", std::vector<double>{kDistance}, {1}); },
               "dataset 'entry_1/instrument_1/detector_1/x_pixel_size': missing (required without "
               "entry_1/instrument_1/detector_1/basis_vectors)"},
        Broken{"DistanceVaries",
               [](Hdf5Writer& w) {
                 pixel_sizes(w);
                 w.write<double>(kDet + "/distance", std::vector<double>{0.1, 0.1, 0.2}, {kN});
               },
               "dataset 'entry_1/instrument_1/detector_1/distance': is 0.1 for image 0 but 0.2 for image 2"},
        Broken{"UnknownUnit",
               [](Hdf5Writer& w) {
                 pixel_sizes(w);
                 w.write<double>(kDet + "/distance", std::vector<double>{12}, {1});
                 w.attribute(kDet + "/distance", "units", "inch");
               },
               "dataset 'entry_1/instrument_1/detector_1/distance': has units 'inch', expected one of m, mm, um, nm"},
        Broken{"FlatBasis",
               [](Hdf5Writer& w) {
                 w.write<double>(kDet + "/basis_vectors", std::vector<double>{0, kPitch, 0, 0, 2 * kPitch, 0}, {2, 3});
                 w.write<double>(kDet + "/distance", std::vector<double>{kDistance}, {1});
               },
               "dataset 'entry_1/instrument_1/detector_1/basis_vectors': the row and column vectors"},
        Broken{"BehindTheSample",
               [](Hdf5Writer& w) {
                 w.write<double>(kDet + "/basis_vectors", std::vector<double>{0, kPitch, 0, kPitch, 0, 0}, {2, 3});
                 w.write<double>(kDet + "/corner_position", std::vector<double>{0, 0, -0.1}, {3});
               },
               "dataset 'entry_1/instrument_1/detector_1/corner_position': pixel (panel 0, row 0, column 0) lies "
               "at z = -0.1 m: not downstream of the sample"},
        Broken{"BasisShape",
               [](Hdf5Writer& w) {
                 w.write<double>(kDet + "/basis_vectors", std::vector<double>(9, kPitch), {3, 3});
                 w.write<double>(kDet + "/distance", std::vector<double>{kDistance}, {1});
               },
               "dataset 'entry_1/instrument_1/detector_1/basis_vectors': has shape (3,3), expected (2,3)"}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(Cxi, ImagesOfAnotherRankAndNoImages) {
  TempDir dir;
  const std::string path = dir.file("rank5.cxi");
  {
    Hdf5Writer w(path);
    w.write<float>(kDet + "/data", std::vector<float>(2 * kH * kW), {1, 1, 2, kH, kW});
    w.write<double>("entry_1/instrument_1/source_1/energy", std::vector<double>{kEv * kJoulePerEv}, {1});
    w.finish();
  }
  EXPECT_NE(error_of([&] { open_images(path); })
                .find("rank5.cxi: dataset 'entry_1/instrument_1/detector_1/data': has shape (1,1,2,4,5), expected "
                      "(H,W) one image, (N,H,W) images or (N,P,H,W) images of P panels"),
            std::string::npos);
  const std::string empty = dir.file("empty.cxi");
  {
    Hdf5Writer w(empty);
    w.write<double>("entry_1/instrument_1/source_1/energy", std::vector<double>{kEv * kJoulePerEv}, {1});
    w.finish();
  }
  EXPECT_NE(error_of([&] { open_images(empty); })
                .find("empty.cxi: no images: neither dataset 'entry_1/data_1/data' nor "
                      "'entry_1/instrument_1/detector_1/data'"),
            std::string::npos);
}

}  // namespace
}  // namespace spire::io
