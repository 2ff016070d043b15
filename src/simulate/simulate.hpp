#pragma once
// Simulated SPI datasets: a molecule, a beam and a detector -> diffraction patterns in the
// SpiniFEL/skopi HDF5 layout (what skopi does for SpiniFEL and make_data for Dragonfly).
//
// Pattern of an orientation q (expected photons per pixel):
//   I(p) = fluence * r_e^2 * solid_angle(p) * polarization(p) * |F(R(q)^T s_p)|^2
// with s_p the pixel's reciprocal position and F the molecular transform (simulate/
// transform.hpp). The particle rotated by R(q) scatters at R^T s in its own frame: the
// convention SpiniFEL's slicing uses for the quaternions it reads, so its files and ours
// agree. Optional Poisson noise; every image's random stream is derived from (seed, image
// index), so the result does not depend on the thread count or batch size.
// The molecule is first centred on its electron centroid (intensities do not change; the
// reference density map is then centred in its box, and its MRC origin puts the box back
// where the PDB's atoms are: the map overlays the model in ChimeraX; the centroid is
// recorded in the dataset, model_centroid_angstrom).
//
// The cases of real data (all off by default: one panel, every pixel recorded, every image
// at the nominal fluence; the files are then those of earlier versions):
//  - Fluence (focus_fwhm > 0): the beam's fluence across the focus is a 2D Gaussian of that
//    full width at half maximum, whose peak is photons_per_pulse / (pi beam_radius^2) (what
//    --photons and --beam-radius set: the fluence at the beam axis; photons_per_pulse is then
//    not the pulse's total, which would be the peak times pi fwhm^2 / (4 ln 2)). Each image's
//    particle sits at a position drawn uniformly over the disc of radius position_radius
//    (default focus_fwhm) around the axis, its own random stream; the image's expected
//    photons are scaled by the factor f = exp(-4 ln 2 r^2 / fwhm^2) before Poisson noise.
//    With u = (r / position_radius)^2 uniform on [0, 1], f = exp(-a u), a = 4 ln 2
//    (position_radius / fwhm)^2: mean (1 - e^-a) / a, mean square (1 - e^-2a) / (2a); for
//    position_radius = fwhm, f lies in [1/16, 1] with mean 0.338 and spread 0.255. The file's
//    'fluences' hold f * photons_per_pulse per image (skopi's meaning: the photons per
//    pulse that give the particle's fluence on the nominal spot).
//  - Panels (panels = 2 or 4, gap >= 0): the detector_pixels-square is cut into two halves
//    (top, bottom) or four quadrants (top-left, top-right, bottom-left, bottom-right), the
//    `gap` middle rows (and columns for 4) belonging to no panel: the gap is physically
//    there, every panel pixel keeps the position it has in the one-panel square, and
//    pixel_index_map gives its (row, column) in that square. detector_pixels - gap must be
//    even. Panels of H x W: 2 panels (n-g)/2 x n, 4 panels (n-g)/2 x (n-g)/2.
//  - Beamstop (beamstop_radius > 0, in pixels of the square): pixels whose centre lies within
//    that radius of the beam axis (|x, y| <= radius * pixel pitch) read 0 in every image and
//    have mask 0 in the file's 'mask'.
//  - Bad pixels (bad_pixels = fraction in [0, 1)): in every image, round(fraction * U) of
//    the U usable (unmasked) pixels, drawn without replacement from the image's own stream,
//    are written as NaN (hot or dead pixels the facility's pipeline flagged). The other
//    pixels keep the values they have without bad pixels.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "geometry/detector.hpp"
#include "geometry/orientations.hpp"
#include "io/dataset.hpp"
#include "io/mrc.hpp"
#include "simulate/pdb.hpp"

namespace spire::simulate {

// How a pattern's molecular transform is computed: `grid` interpolates F tabulated once
// (TabulatedTransform, tabulated_transform.hpp), fast; `nufft` evaluates every pixel with
// MolecularTransform (transform.hpp), no set-up grid but much slower per pattern
// (docs/simulate.md).
enum class PatternMethod { grid, nufft };

struct SimulationSettings {
  std::string pdb;                     // empty: the built-in test molecule
  std::int64_t n_images = 1000;
  std::int64_t detector_pixels = 128;  // per side
  double detector_width = 0.08;        // m
  double detector_distance = 0.2;      // m
  geometry::Beam beam;                 // photon energy, photons per pulse, spot radius
  bool poisson_noise = true;
  std::uint64_t seed = 1;
  std::int64_t volume_size = 81;       // reference 3D intensity grid (0: none)
  std::string model_map;               // MRC of the model's electron density (empty: none)
  double tolerance = 1e-5;             // molecular transform (float NUFFT; grid interpolation)
  PatternMethod method = PatternMethod::grid;
  std::int64_t batch_images = 250;     // images per transform call
  int threads = 0;                     // 0: every OpenMP thread
  // The cases of real data (above).
  double focus_fwhm = 0;               // m; 0: every image at the nominal fluence
  double position_radius = 0;          // m; 0: focus_fwhm
  int panels = 1;                      // 1, 2 or 4
  std::int64_t gap = 0;                // pixels between the panels
  double beamstop_radius = 0;          // pixels of the square; 0: none
  double bad_pixels = 0;               // fraction of the usable pixels, NaN per image
};

// The recorded pixels of the settings' detector: panel-major (P*H rows of W in `detector`),
// each at its place in the detector_pixels-square (`assembled`, (row, column)).
struct PanelDetector {
  geometry::Detector detector;
  int panels = 1, height = 0, width = 0;
  std::vector<std::array<std::int32_t, 2>> assembled;
};
PanelDetector panel_detector(const SimulationSettings& settings);

// Per image, the fluence relative to the peak (all 1 for focus_fwhm = 0).
std::vector<double> fluence_factors(const SimulationSettings& settings);

// Per recorded pixel of `det`: 0 behind the beamstop, 1 elsewhere (empty without a beamstop).
std::vector<std::uint8_t> beamstop_mask(const SimulationSettings& settings, const PanelDetector& det);

struct SimulationSummary {
  std::int64_t atoms = 0;
  double electrons = 0;
  double mean_photons = 0;       // per image, expected (before noise), over the usable pixels
  double mean_fluence = 1;       // the fluence factors' mean (1 without focus_fwhm)
  std::int64_t pixels = 0;       // recorded pixels per image (all panels)
  std::int64_t usable_pixels = 0;  // of which outside the beamstop
  std::int64_t bad_pixels = 0;   // NaN per image
  double seconds = 0;            // pattern computation and noise, not file writing
  double resolution_edge = 0;    // Angstrom, edge midpoint
  double resolution_corner = 0;  // Angstrom
  std::array<double, 3> centroid{};  // Angstrom: the atoms' electron centroid in the PDB frame
};

// Writes the dataset to `out` atomically; `command_line` is stored as an attribute.
// `progress(done, total)` is called after each batch.
using Progress = std::function<void(std::int64_t done, std::int64_t total)>;
SimulationSummary simulate_dataset(const SimulationSettings& settings, const std::string& out,
                                   const std::string& command_line, const Progress& progress = {});

// The model on the reconstruction's grid: |F|^2 on n^3 reciprocal points k ds, k =
// -n/2..n/2, ds = 2 s_max / n (s_max the largest pixel |s|), in electrons^2; and the
// electron density rho(r) = sum_k F(k) exp(-2 pi i k.r/n) ds^3 on the matching real-space
// grid (voxel 1/(n ds) = 1/(2 s_max) Angstrom, the reconstruction's voxel, centred), in
// electrons per cubic Angstrom: the map FSC compares with.
struct ReferenceModel {
  io::Volume intensity;
  io::Map density;
  double reciprocal_spacing = 0;  // ds, 1/Angstrom
};
// The density's origin is -(n/2) voxel: the atoms' frame's 0 at the centre voxel n/2.
ReferenceModel reference_model(const std::vector<Atom>& atoms, const geometry::Detector& detector,
                               double wavelength_m, std::int64_t n, double tolerance);
// The same for the band limit s_max (1/Angstrom) of a grid of voxel 1 / (2 s_max).
ReferenceModel reference_model(const std::vector<Atom>& atoms, double s_max, std::int64_t n, double tolerance);

// The model density (reference_model's, electrons per cubic Angstrom) of atoms in their
// own frame (a PDB's) on n^3 voxels of `voxel` Angstrom (n odd): the atoms centred, then
// the map's origin moved by their centroid so that it overlays them. What `spire simulate`
// writes as its model map, for a grid of any voxel (`spire resolution --reference-pdb`).
io::Map model_map(const std::vector<Atom>& atoms, double voxel, std::int64_t n, double tolerance);

// Patterns (expected photons, no noise) of given orientations: the kernel of
// simulate_dataset, set up once per molecule and detector.
class PatternSimulator {
 public:
  PatternSimulator(const std::vector<Atom>& atoms, const geometry::Detector& detector,
                   const geometry::Beam& beam, double tolerance, int threads,
                   PatternMethod method = PatternMethod::grid);
  ~PatternSimulator();
  PatternSimulator(PatternSimulator&&) noexcept;
  PatternSimulator& operator=(PatternSimulator&&) noexcept;

  // out: orientations.size() x pixels() floats.
  void patterns(const std::vector<geometry::Quaternion>& orientations, float* out);
  std::int64_t pixels() const;
  double electrons() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The atoms' electron centroid (weights occupancy * Z), Angstrom; 0 for no electrons.
std::array<double, 3> electron_centroid(const std::vector<Atom>& atoms);
// Atoms moved so that their electron centroid is at the origin.
std::vector<Atom> centred(std::vector<Atom> atoms);

// Poisson photon counts from a per-image random stream: inversion (exact) for means below
// 30, the standard library's sampler above.
struct PhotonCounter {
  std::uint64_t state;
  explicit PhotonCounter(std::uint64_t seed) : state(seed) {}
  double uniform();
  float draw(double lambda);
};

}  // namespace spire::simulate
