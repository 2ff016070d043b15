#pragma once
// report.html: one self-contained page about a finished `spire reconstruct` run, for a person
// with a browser: the data, the warnings, the settings changed from the defaults, the
// generations (the columns of the terminal's progress lines), every plot the folder holds
// (PNG, embedded as data: URIs), the final figures and links to the maps and files.
// No external CSS, script or font: the page reads the same copied anywhere; its links to
// the maps are relative, so they work beside the files. Every string from outside (paths,
// warnings, the command line, setting values) is HTML-escaped. Written atomically.
#include <filesystem>
#include <string>
#include <string_view>

#include "cli/reconstruct_outputs.hpp"

namespace spire::cli {

// The columns of orientations.csv, for summary.json and the report (CSV has no comments).
inline constexpr const char* kOrientationsCsvNote =
    "image_index: the image's index in the data file (data.first + i); w,x,y,z: unit quaternion, scalar first, "
    "w >= 0, the data file's convention (the particle rotated by R(q)); euler_z1_deg, euler_y_deg, euler_z2_deg: "
    "the same rotation as ZYZ Euler angles in degrees, R(q) = Rz(z1) Ry(y) Rz(z2) (active, about the fixed axes: "
    "z2 about z first, then y about y, then z1 about z), z1, z2 in (-180, 180], y in [0, 180], z2 = 0 where y is "
    "0 or 180; score: the image's matching score at that orientation from the run's last match (a cost, lower is "
    "better, of orientations.metric on the images as the loop sees them), nan where none";

// The plots report.html shows when the folder holds them, with their captions.
struct Plot {
  const char* file;
  const char* caption;
};
inline constexpr Plot kPlots[] = {
    {"fsc.png", "Fourier shell correlation against spatial frequency (1/Å; resolution in Å on the top axis): the "
                "final density against the model map (blue) and the two half-data maps against each other (orange), "
                "with the 0.5 and 0.143 thresholds; the resolutions are in the legend."},
    {"convergence.png", "Convergence, generation by generation, stages shaded: the orientation fit, the fraction of "
                        "images that moved, phasing's Fourier error, and where known the median orientation error "
                        "(true orientations in the file) and the FSC 0.5 resolution against the model map."},
    {"density_slices.png", "The final density: three central slices (XY, XZ, YZ) cropped to the molecule, with a "
                           "scale bar in Å."},
    {"intensity_slices.png", "The merged intensity on a log scale: central slices, the dashed circle marking the "
                             "sphere the detector measured (beyond it merging only extrapolates)."},
    {"coverage.png", "Orientation coverage: the beam direction of every image in the molecule's frame on an "
                     "equal-area (Hammer) map of the sphere; white cells are directions no image saw."},
};

struct ReportInput {
  const std::string& data_path;
  const reconstruct::Data& data;
  const reconstruct::Settings& settings;
  const reconstruct::State& result;
  const Summary& summary;
};

// OUT/report.html from the run and what OUT holds (its plots and files).
void write_report(const std::filesystem::path& out, const ReportInput& run);

// "&lt;" for '<' and so on: & < > " ' escaped, safe in text and in quoted attributes.
std::string html_escape(std::string_view text);
// RFC 4648 base64 of bytes, with padding.
std::string base64(std::string_view bytes);

}  // namespace spire::cli
