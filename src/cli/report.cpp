#include "cli/report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include "cli/build_info.hpp"
#include "cli/commands.hpp"
#include "core/markup.hpp"
#include "reconstruct/fluence.hpp"

namespace spire::cli {
namespace {

namespace fs = std::filesystem;

// Plain, readable, printable: one column, tables that scroll on a narrow screen.
constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; margin-top: 2rem; }
.sub { color: #555; margin-top: 0; }
code { font-family: ui-monospace, monospace; font-size: 0.92em; word-break: break-all; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: 0.6rem 0.9rem; border-radius: 4px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
figure { margin: 1rem 0 2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92rem; }
)";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string row(const std::string& key, const std::string& value) {
  return fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", key, value);
}

std::string code(const std::string& text) { return "<code>" + html_escape(text) + "</code>"; }

std::string resolution_text(const resolution::ResolutionAt& r) { return html_escape(resolution::describe(r)); }

std::string header(const fs::path& out, const ReportInput& run) {
  const auto& st = run.result.standing;
  std::string h = fmt::format("<h1>spire reconstruction</h1>\n<p class=\"sub\">{} &middot; spire {}{} &middot; {} "
                              "generation{}, {}</p>\n",
                              code(absolute_path(out.string())), kVersion,
                              *kGitCommit ? fmt::format(" (commit {})", html_escape(kGitCommit)) : std::string(),
                              run.result.generations.size(), run.result.generations.size() == 1 ? "" : "s",
                              st.converged ? "converged" : st.finished ? "finished (generations.max)" : "not finished");
  if (!run.summary.command_line.empty()) h += "<p class=\"sub\">" + code(run.summary.command_line) + "</p>\n";
  if (run.summary.resumed_from)
    h += fmt::format("<p class=\"sub\">resumed from {} at generation {}</p>\n",
                     code(run.summary.resumed_from->checkpoint), run.summary.resumed_from->generation);
  return h;
}

std::string warnings(const Summary& s) {
  if (s.warning.empty()) return {};
  return "<h2>Warnings</h2>\n<p class=\"warning\">" + html_escape(s.warning) + "</p>\n";
}

std::string data_section(const ReportInput& run) {
  const auto& d = run.data;
  std::string t = "<h2>Data</h2>\n<table>\n";
  t += row("file", code(run.data_path));
  t += row("images", fmt::format("{} (from index {} of the file)", d.total, run.settings.data.first));
  t += row("pixels per image", fmt::format("{} used of the detector's {} ({} bad values left out, {} negative kept)",
                                           d.n_pixels, d.detector_pixels ? d.detector_pixels : d.n_pixels, d.bad_total,
                                           d.negative_total));
  t += row("fluence scaling", reconstruct::fluence_scaling(run.settings, d) ? "on (each image its own scale)" : "off");
  t += row("photons per image", fmt::format("{:.1f} on average, standard deviation {:.1f}{}", d.photons_per_image,
                                            d.photons_spread, d.counts ? "" : " (the data's units)"));
  t += row("photon counts", d.counts ? "yes (integer images: kept as counts, Poisson matching)"
                                     : "no (images divided by their mean pixel value)");
  t += row("image_scale", fmt::format("{:g} (the mean pixel value divided out; 1 for counts)", d.scale));
  t += row("grid", fmt::format("{}<sup>3</sup> voxels of {:.3f} &Aring;", run.settings.grid.n, voxel_angstrom(d)));
  t += row("orientations.metric", html_escape(run.summary.orientations_metric));
  t += row("orientations.assignment", html_escape(run.summary.orientations_assignment) + " (grid stages; the local stage is hard)");
  return t + "</table>\n";
}

std::string fsc_rows(const std::string& what, const std::optional<FscResult>& r) {
  if (!r) return row(what, "not measured");
  return row(what, fmt::format("FSC 0.5: {}; FSC 0.143: {}; correlation {:.3f}", resolution_text(r->at_05),
                               resolution_text(r->at_0143), r->correlation));
}

std::string timings(const ReportInput& run) {
  double stages[5] = {0, 0, 0, 0, 0};
  for (const auto& g : run.result.generations)
    stages[0] += g.slicing_s, stages[1] += g.matching_s, stages[2] += g.local_s, stages[3] += g.merging_s,
        stages[4] += g.phasing_s;
  const double sum = stages[0] + stages[1] + stages[2] + stages[3] + stages[4];
  return fmt::format("{:.1f} s in the generations (slicing {:.1f}, matching {:.1f}, local refinement {:.1f}, merging "
                     "{:.1f}, phasing {:.1f}); final phasing {:.1f} s; half maps {:.1f} s",
                     sum, stages[0], stages[1], stages[2], stages[3], stages[4], run.summary.averaged_s,
                     run.summary.halves_s);
}

std::string figures(const ReportInput& run) {
  const auto& s = run.summary;
  std::string t = "<h2>Result</h2>\n<table>\n";
  t += fsc_rows(s.against_reference ? "against the model " + code(s.reference) : "against a model map",
                s.against_reference);
  t += fsc_rows("half data (even/odd images; optimistic: the halves share the orientations)", s.half_data);
  const auto& gens = run.result.generations;
  if (!gens.empty() && gens.back().median_error_deg >= 0)
    t += row("median orientation error", fmt::format("{:.1f}&deg; (against the file's true orientations, which "
                                                     "the reconstruction does not see; evaluation only)",
                                                     gens.back().median_error_deg));
  t += row("final density", fmt::format("mean of {} phasing runs", s.averaged.fourier_errors.size()));
  t += row("time", timings(run));
  return t + "</table>\n";
}

std::string plots(const fs::path& out) {
  std::string p;
  for (const auto& plot : kPlots) {
    const auto path = out / plot.file;
    if (!fs::is_regular_file(path)) continue;
    p += fmt::format("<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\"><figcaption><b>{}</b>: {}"
                     "</figcaption></figure>\n",
                     base64(read_bytes(path)), plot.file, plot.file, html_escape(plot.caption));
  }
  return p.empty() ? std::string() : "<h2>Plots</h2>\n" + p;
}

std::string generation_row(const reconstruct::Generation& g) {
  return fmt::format("<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.2f}</td><td class=\"n\">{:.2f}</td>"
                     "<td class=\"n\">{:.2f}</td><td class=\"n\">{:.2f}</td><td class=\"n\">{:.2f}</td>"
                     "<td class=\"n\">{:.3g}</td><td class=\"n\">{:.4f}</td><td class=\"n\">{:.4f}</td>"
                     "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                     g.index, name_of(reconstruct::kStageNames, g.stage), g.slicing_s, g.matching_s, g.local_s,
                     g.merging_s, g.phasing_s, g.fit, g.reassigned, g.change,
                     g.fourier_error < 0 ? std::string("-") : fmt::format("{:.4f}", g.fourier_error),
                     g.median_error_deg < 0 ? std::string("-") : fmt::format("{:.1f}&deg;", g.median_error_deg),
                     g.resolution_angstrom < 0 ? std::string("-") : fmt::format("{:.1f} &Aring;", g.resolution_angstrom));
}

std::string generations(const reconstruct::State& result) {
  if (result.generations.empty()) return {};
  std::string t = "<h2>Generations</h2>\n<div class=\"scroll\"><table>\n<tr>";
  for (const char* c : {"gen", "stage", "slicing s", "matching s", "local s", "merging s", "phasing s", "fit",
                        "moved", "change", "phase error", "median error", "FSC 0.5"})
    t += fmt::format("<th>{}</th>", c);
  t += "</tr>\n";
  for (const auto& g : result.generations) t += generation_row(g);
  return t + "</table></div>\n<p class=\"sub\">fit: the best matches' residual beyond shot noise, relative to the "
             "image; moved: the fraction of images whose orientation changed; change: the merged "
             "autocorrelation's relative change; phase error: phasing's final Fourier error; median error: "
             "against the true orientations, where the file has them; FSC 0.5: the generation's density against the "
             "model map, aligned, where there is one.</p>\n";
}

std::string settings_section(const reconstruct::Settings& st) {
  const auto diff = reconstruct::differences(reconstruct::Settings{}, st);
  std::string t = "<h2>Settings changed from the defaults</h2>\n";
  if (diff.empty()) return t + "<p>None: every setting at its default (settings.toml holds them all).</p>\n";
  t += "<table>\n<tr><th>setting</th><th>value</th><th>default</th></tr>\n";
  for (const auto& d : diff)
    t += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", code(d.key), code(d.b), code(d.a));
  return t + "</table>\n<p class=\"sub\">Every setting of the run: <a href=\"settings.toml\">settings.toml</a>; "
             "their meanings: <code>spire reconstruct --print-config</code>.</p>\n";
}

std::string files(const fs::path& out) {
  static constexpr std::pair<const char*, const char*> kFiles[] = {
      {"density.mrc", "the final density (MRC; ChimeraX, Chimera, PyMOL), in the reconstruction's own frame"},
      {"density_aligned.mrc", "the final density turned, mirrored and moved onto the model map, on its grid: it "
                              "overlays the model (and its PDB) as it opens"},
      {"half_1.mrc", "density from the even images"},
      {"half_2.mrc", "density from the odd images"},
      {"intensity.mrc", "the merged intensity"},
      {"autocorrelation.mrc", "the merged autocorrelation"},
      {"orientations.csv", "each image's orientation and score"},
      {"orientations.h5", "the same in HDF5, with the reference index"},
      {"fsc.csv", "the FSC curves"},
      {"summary.json", "every figure of this page, machine-readable"},
      {"settings.toml", "every setting of the run"},
      {"checkpoint.h5", "the state after the last generation (--resume)"},
      {"generations", "each generation's maps"}};
  std::string t = "<h2>Files</h2>\n<ul>\n";
  for (const auto& [name, what] : kFiles)
    if (fs::exists(out / name)) t += fmt::format("<li><a href=\"{0}\">{0}</a>: {1}</li>\n", name, what);
  return t + "</ul>\n<p class=\"sub\">orientations.csv columns: " + html_escape(kOrientationsCsvNote) + ".</p>\n";
}

}  // namespace

std::string html_escape(std::string_view text) { return escape_markup(text); }

std::string base64(std::string_view bytes) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<std::uint8_t>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

void write_report(const fs::path& out, const ReportInput& run) {
  std::string page = fmt::format("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta "
                                 "name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>spire: "
                                 "{}</title>\n<style>{}</style>\n</head>\n<body>\n",
                                 html_escape(out.filename().empty() ? out.string() : out.filename().string()), kStyle);
  page += header(out, run) + warnings(run.summary) + figures(run) + plots(out) + data_section(run) +
          generations(run.result) + settings_section(run.settings) + files(out);
  page += "</body>\n</html>\n";
  write_text_atomically(out / "report.html", page);
}

}  // namespace spire::cli
