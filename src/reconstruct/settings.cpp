#include "reconstruct/settings.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <toml.hpp>
#include <variant>

#include "core/error.hpp"

namespace spire::reconstruct {
namespace {

// TOML is UTF-8 (RFC 3629). toml11 3.7 reads past its buffer when a string holds invalid
// UTF-8 (fuzz/corpus/settings/crash-utf8-8f9e31a8), so the text is checked first.
void check_utf8(const std::string& text, const std::string& where) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    bool ok = n > 0 && i + n <= text.size();
    for (std::size_t k = 1; ok && k < n; ++k)
      ok = k == 1 ? byte(i + k) >= lo && byte(i + k) <= hi : (byte(i + k) & 0xC0) == 0x80;
    if (!ok) fail_in(where, fmt::format("cannot read settings: line {}: not UTF-8 text (byte {})", line, i));
    if (c == '\n') ++line;
    i += n;
  }
}

// An enum setting, read and written by name through its NameTable.
struct Choice {
  std::function<std::string()> get;
  std::function<bool(std::string_view)> set;  // false: not one of the names
  std::string names;                          // "a, b or c"
};

template <typename E, std::size_t N>
Choice choice(E* field, const NameTable<E, N>& table) {
  return {[field, &table] { return std::string(name_of(table, *field)); },
          [field, &table](std::string_view name) {
            const auto value = value_of(table, name);
            if (value) *field = *value;
            return value.has_value();
          },
          names_of(table)};
}

using Field = std::variant<std::int64_t*, double*, bool*, Choice, std::uint64_t*, std::string*>;

struct Entry {
  const char* section;
  const char* key;
  Field field;
  const char* doc;
  double lo = 0, hi = 0;  // numeric range (inclusive) when lo < hi
  bool odd = false;
};

// The one schema: every setting with its documentation and its range.
std::vector<Entry> schema(Settings& s) {
  return {
      {"grid", "n", &s.grid.n, "autocorrelation grid points per axis (odd; SpiniFEL uses 81). Memory grows as n^3: about 1200 n^3 bytes for the merging grids (NUFFT fine grid, Toeplitz FFTs), slicing and phasing: 0.6 GB at 81, 4.2 GB at 151 (reconstruct/memory.hpp; checked before the run)", 5, 301, true},
      {"grid", "box", &s.grid.box, "voxels per axis of the centred box the loop merges, slices and phases on (odd; the grid's voxel and the data's resolution: the autocorrelation is 0 beyond the molecule's diameter, so the box holds all of it; maps are written on the n^3 grid). 0 (auto): before generation 0, from the support radius R of the autocorrelation of the images' spherically averaged intensity (|A(r)| under 1% of the centre), the smallest size with factors 3, 5, 7 of at least 4 R + 1 (45 for 2cex on 81: 2 min faster and 1.7 instead of 3.1 degrees on the README's Poisson case, docs/speed.md); grid.n or more: the whole grid (reconstruct/box_backend.hpp)", 0, 301},
      {"data", "first", &s.data.first, "first image to use (0-based index in the file); with data.images any contiguous range, e.g. two runs on disjoint halves whose densities `spire resolution` compares: a fully independent (gold-standard) half-data FSC", 0, 1e12},
      {"data", "images", &s.data.images, "images to use from data.first on (0: all the rest)", 0, 1e12},
      {"data", "mask", &s.data.mask, "mask file applied on top of the data file's own mask: HDF5 with a dataset 'mask' (P,H,W), or (H,W) for one panel, nonzero = usable pixel (also --mask FILE). Excluded pixels are dropped before the loop: they have no influence at all"},
      {"data", "resolution_low", &s.data.resolution_low, "Angstrom; pixels at lower resolution (|s| < 1/resolution_low: the beamstop and its shadow) are excluded; 0: none", 0, 1e6},
      {"data", "resolution_high", &s.data.resolution_high, "Angstrom; pixels at higher resolution (|s| > 1/resolution_high) are excluded, and the grid's edge moves in to the highest kept; 0: none", 0, 1e6},
      {"data", "detector", &s.data.detector, "Dragonfly detector file (its text .dat or HDF5 form): needed to read Dragonfly photon files (.emc or HDF5), which hold pixel numbers only"},
      {"data", "photon_energy", &s.data.photon_energy, "eV, for data files that do not store the wavelength (Dragonfly's); 0: the file's own", 0, 1e7},
      {"orientations", "references", &s.orientations.references, "reference orientations (quasi-uniform set on SO(3)). Memory: with slicing.keep_points, 20 bytes per reference and pixel for the sorted points (10^5 references of 128 x 128 pixels: 33 GB; under MPI spread over the ranks holding them), plus 32 bytes per reference; a run that cannot fit is refused before it starts (reconstruct/memory.hpp)", 1, 1e8},
      {"orientations", "search_references", &s.orientations.search_references, "reference orientations of the search stage (a coarser quasi-uniform set: the search only has to bring the images within reach of refinement, which uses orientations.references); 0 (auto): for photon counts a quarter of orientations.references, at least 1000 (all of them below that); for noise-free intensities, and under the hybrid distribution strategy (whose node groups are cut for one set), all of them (reconstruct/backend.hpp: noise-free t1's search did not converge on 2,500)", 0, 1e9},
      {"orientations", "batch_size", &s.orientations.batch_size, "references per slicing NUFFT and matching GEMM. Memory: about 24 bytes per reference and pixel for a batch of slices (64 more in the local stage, 76 with orientations.local_method = gradient), 20 more without slicing.keep_points, and 4 bytes per reference and image for the GEMM's scores (1000 x 10^5 images: 0.4 GB)", 1, 1e7},
      {"orientations", "metric", choice(&s.orientations.metric, kMetricChoiceNames), "distance between data and model images: euclidean, poisson (log-likelihood), or auto: poisson for photon counts (every value an integer), euclidean otherwise (docs/convergence.md: euclidean did not converge on Poisson data)"},
      {"orientations", "local_steps", &s.orientations.local_steps, "local stage: Newton steps that refine each image's orientation below the reference spacing (matching/refine.hpp; first step 0.6 x the covering-radius bound of orientations.references, halved each step; 10 slices per image per step)", 1, 10},
      {"orientations", "local_method", choice(&s.orientations.local_method, matching::kLocalMethodNames), "local stage: how each step finds the next orientation (matching/refine.hpp): fit (10 scores around it fix a quadratic: 10 slices per image and step) or gradient (Gauss-Newton on the slice and its analytic gradient, the metric's Fisher matrix: about 4 slices' cost per image and step)"},
      {"orientations", "photon_scores", &s.orientations.photon_scores, "local stage with the poisson metric, local_method = fit and sparse photon counts (under 25% of the pixels nonzero): score each candidate from the image's photon pixels and the detector's cells (matching/photon_scores.hpp: the sum of the slice over the detector from cells whose size is measured on 64 images first, within 3% of the score changes), then each result with every pixel; about 7x fewer slice values at 3,200 photons on 128 x 128 pixels (docs/matching.md). false: every pixel for every candidate"},
      {"orientations", "local_tolerance", &s.orientations.local_tolerance, "NUFFT tolerance of the local stage's slices; 0 (auto): 1e-2 for photon counts (photon noise hides the slice error, and the slices are cheaper), slicing's for noise-free intensities (reconstruct/backend.hpp, docs/convergence.md)", 0, 1e-1},
      {"orientations", "scale", choice(&s.orientations.scale, matching::kScaleNames), "scale each model slice to the image (per_slice) or not (none)"},
      {"orientations", "cells", choice(&s.orientations.cells, kAutoChoiceNames), "the loop on the detector's CELLS: the pixels grouped into cubes of orientations.cell_voxels in reciprocal space, each image's mean over a cell's good pixels at their centroid (photon counts: the cell's summed count, its slices and merging weighted by its pixels), so that every generation slices, matches and merges cells instead of pixels; the final map and the half maps are merged from every pixel at the orientations found (reconstruct/cells.hpp). on, off, or auto: on, except photon counts on the GPU (no pixel weights there) and cells that would not halve the pixels. On the README's cases 16,384 pixels become 1,204 cells"},
      {"orientations", "cell_voxels", &s.orientations.cell_voxels, "side of a detector cell (orientations.cells) in grid voxels (2 s_ext / grid.n); 0 (auto): the voxel of the loop's box (grid.n / grid.box grid voxels), the intensity's sampling that the box (the autocorrelation's support, grid.box) needs; on the README's noise-free case 1,204 cells of 1.8 grid voxels: 2 min 46 s instead of 6 min 52 s at half that size, same FSC (docs/speed.md)", 0, 100},
      {"orientations", "min_photons", &s.orientations.min_photons, "warn that the data are too sparse to orient when photon-count images hold fewer photons than this on average; 0 (auto): the photons per image that random starts were measured to need for the run's number of images (docs/sparse.md, the frontier: more images make up for fewer photons, within limits)", 0, 1e12},
      {"orientations", "gemm", choice(&s.orientations.gemm, matching::kGemmPrecisionNames), "precision of the matching GEMM with runtime.device = cuda: fp32, tf32 (tensor cores) or 3xtf32 (split TF32, near fp32); use the TF32 ones only where tests/cuda shows the argmin unchanged"},
      {"orientations", "assignment", choice(&s.orientations.assignment, kAssignmentNames), "grid stages (search, refine): each image merged at its best reference (hard), or at its best orientations.candidates, each weighted by its posterior probability exp(-beta score) normalised over them (soft, deterministic annealing: beta from orientations.beta_start, times orientations.beta_growth per grid generation, up to 1, the Poisson posterior; reconstruct/assignment.hpp). The local stage is hard. Soft runs on the CPU back end only. auto: soft for photon counts (the poisson metric) on the CPU, else hard; soft was as good as or better than hard in every pair measured on counts and clearly better below 1,000 photons per image (355 photons x 50,000 images: 12.9 against 28.7 deg, FSC 0.5 12.8 against 17.3 A; docs/sparse.md)"},
      {"orientations", "candidates", &s.orientations.candidates, "soft assignment: orientations kept per image (its best by score; the rest count as probability 0). Merging costs grow with the references used, not with this (images at one reference are merged as one)", 1, 1000},
      {"orientations", "beta_start", &s.orientations.beta_start, "soft assignment: inverse temperature of the first grid generation (1: the posterior of the score, a log-likelihood for the poisson metric)", 1e-9, 1},
      {"orientations", "beta_growth", &s.orientations.beta_growth, "soft assignment: factor on beta per grid generation (capped at 1)", 1, 1000},
      {"orientations", "oracle", &s.orientations.oracle, "EVALUATION ONLY: merge with the file's true orientations instead of matching"},
      {"generations", "max", &s.generations.max, "generations at most", 1, 10000},
      {"generations", "stop_change", &s.generations.stop_change, "stop (refinement only) when the merged autocorrelation's relative change between generations falls below this", 0, 1},
      {"generations", "stop_reassigned", &s.generations.stop_reassigned, "or stop (refinement only) when the fraction of images whose orientation changed falls below this: the local stage's own grid match moves the rest, and refines every image below the reference spacing (docs/convergence.md: 0.2 against 0.01 took 2 refinement generations off the README's Poisson case at the same resolution)", 0, 1},
      {"generations", "stop_moved_far", &s.generations.stop_moved_far, "... while fewer than this fraction of the images moved farther than 4 times the smallest covering radius the references can have (28 deg for 1e4): images still being found, not jittering between neighbours. Measured (docs/sparse.md): at 200 photons x 20,000 images refinement handed over at 29.8 deg median error while still falling 10 deg per generation", 0, 1},
      {"generations", "stop_fit", &s.generations.stop_fit, "or stop (refinement and local stage) when the fit improves by less than this fraction over the previous generation in generations.fit_patience generations in a row", 0, 1},
      {"generations", "fit_patience", &s.generations.fit_patience, "generations in a row that must improve the fit by less than generations.stop_fit to stop: the fit is noisy, and one slow step is no proof that the orientations have stopped (docs/convergence.md); the price is a generation more per run", 1, 100},
      {"generations", "search_max", &s.generations.search_max, "search stage: generations at most that slice the PHASED autocorrelation (its support pulls the spherical start toward a compact molecule); then refinement slices the MERGED one", 0, 10000},
      {"generations", "search_improvement", &s.generations.search_improvement, "the search ends early when the fit (mean relative residual of the best matches) improves by less than this fraction over the previous generation", 0, 1},
      {"generations", "local_max", &s.generations.local_max, "local stage: after refinement has converged on the reference set, generations at most that refine every image's orientation locally (0: none); it stops earlier on generations.stop_change or stop_fit. Each costs about a grid generation and the local refinement (about 1 min on the README's Poisson case); a second took its median orientation error from 2.0 to 1.7 degrees, at the same FSC (docs/convergence.md)", 0, 10000},
      {"slicing", "tolerance", &s.slicing.tolerance, "NUFFT tolerance of slicing (float); 0 (auto): 1e-3 for photon counts, 1e-5 for noise-free intensities (reconstruct/backend.hpp)", 0, 1e-1},
      {"slicing", "keep_points", &s.slicing.keep_points, "keep every batch's sorted rotated pixels for the whole run (20 bytes per reference and pixel of a rank's share: 10^5 references of 128 x 128 pixels hold 33 GB; faster) or sort each batch again every generation (one batch's worth: 20 bytes x batch_size x pixels); set false when the estimate checked before the run does not fit"},
      {"merging", "tolerance", &s.merging.tolerance, "NUFFT tolerance of merging; 0 (auto): 1e-4 for photon counts, 1e-6 for noise-free intensities (reconstruct/backend.hpp)", 0, 1e-1},
      {"merging", "cg_iterations", &s.merging.cg_iterations, "conjugate-gradient iterations at most", 1, 100000},
      {"merging", "final_cg_iterations", &s.merging.final_cg_iterations, "conjugate-gradient iterations at most of the merges whose maps a run keeps after a loop on the detector's cells (orientations.cells): the final map and the half maps, merged from every pixel; each is one merge in the loop's box, whose CG iterations are cheap, and the README's Poisson case needed 291 to reach merging.cg_tolerance (10.8 s for the merge against 10.1 s stopped at 100)", 1, 100000},
      {"merging", "cg_tolerance", &s.merging.cg_tolerance, "conjugate-gradient relative residual to stop at", 1e-15, 1},
      {"merging", "regularisation", &s.merging.regularisation, "Tikhonov lambda relative to the mean diagonal of A*DA", 0, 1e6},
      {"merging", "precision", choice(&s.merging.precision, merging::kCgPrecisionNames), "precision of the merging solve"},
      {"merging", "preconditioner", choice(&s.merging.preconditioner, merging::kPreconditionerNames), "preconditioner of the merging CG: none (plain CG; the GPU back end's only one) or circulant (the sampled points' density in Fourier space inverted, merging.hpp): about a third fewer iterations to a given residual on detector data, not more, because the support and the unmeasured corners, not the density, make the system ill-conditioned; within merging.cg_iterations it solves further, which makes the map more sensitive to the images' rounding"},
      {"merging", "fluence_scaling", choice(&s.merging.fluence_scaling, kAutoChoiceNames), "shot-to-shot fluence: each image merged as its own scale a times the model (a from its match: the maximum-likelihood scale of its best slice; reconstruct/fluence.hpp), weighted a (photon counts) or a^2; on, off, or auto: on when the images' photon sums spread by more than 20% of their mean (a particle's place in the focus changes its fluence; the same fluence spreads by a few % only)"},
      {"phasing", "loops", &s.phasing.loops, "loops of (HIO, ER, shrinkwrap)", 1, 10000},
      {"phasing", "hio_iterations", &s.phasing.hio_iterations, "HIO iterations per loop", 0, 100000},
      {"phasing", "er_iterations", &s.phasing.er_iterations, "ER iterations per loop", 0, 100000},
      {"phasing", "beta", &s.phasing.beta, "HIO feedback parameter", 0, 2},
      {"phasing", "shrinkwrap_fraction", &s.phasing.shrinkwrap_fraction, "shrinkwrap threshold, fraction of the blurred maximum", 0, 1},
      {"phasing", "final_average", &s.phasing.final_average, "the final density (and each half map) is the mean of this many phasing runs from the final autocorrelation, each aligned by shift and hand to the one with the lowest Fourier error (single runs are chaotic in their random start: docs/convergence.md)", 1, 1000},
      {"phasing", "box", &s.phasing.box, "voxels per axis of the centred box phasing works in (odd; the grid's voxel, so the same resolution): the autocorrelation vanishes beyond the molecule's diameter, so a box of twice that holds all of it at a fraction of the cost (phasing/box.hpp; measured in docs/speed.md). 0 (auto): from the autocorrelation's support radius R (its shell rms under 1% of the centre), the smallest size with factors 3, 5, 7 of at least 4 R + 1; grid.n or more: the whole grid", 0, 301},
      {"phasing", "precision", choice(&s.phasing.precision, kPhasingPrecisionNames), "precision of phasing's FFTs on the CPU: float (twice as fast; phasing's outcome is chaotic in its random start, so single runs differ from double's as much as from another seed's, and the averaged final density is as good: docs/convergence.md) or double (the GPU's)"},
      {"distribution", "strategy", choice(&s.distribution.strategy, distributed::kStrategyNames), "MPI ranks: who holds the reference slices. replicated: every node all of them (each rank of a node a share); distributed: every rank an equal share of all; hybrid: each node split_size of them, a full copy spread over ceil(references / split_size) nodes, node groups replicating each other"},
      {"distribution", "split_size", &s.distribution.split_size, "hybrid: reference orientations per node (the node count must be a multiple of ceil(references / split_size))", 0, 1e9},
      {"distribution", "n_streams", &s.distribution.n_streams, "concurrent pipelines per rank, each with its own transfer buffer, so that the next batch is fetched while one is matched", 1, 64},
      {"distribution", "ranks_per_node", &s.distribution.ranks_per_node, "0: nodes as MPI finds them (shared memory); k > 0: emulate nodes of k consecutive ranks (testing the multi-node design on one machine)", 0, 1e6},
      {"runtime", "threads", &s.runtime.threads, "OpenMP threads (0: all)", 0, 4096},
      {"runtime", "device", choice(&s.runtime.device, kDeviceNames), "back end: cpu or cuda"},
      {"runtime", "fft_planning", choice(&s.runtime.fft_planning, kPlanningNames), "FFTW planning of every FFT of the run (wisdom is cached in ~/.cache/spire; the checkpoint keeps the run's, so a resume makes the same plans); estimate is reproducible without wisdom, measure and patient are faster"},
      {"runtime", "seed", &s.runtime.seed, "seed of every random choice (random start, phasing)"},
      {"output", "every_generation", &s.output.every_generation, "also write each generation's density, intensity and autocorrelation maps to OUT/generations/NNN/"},
      {"output", "half_maps", &s.output.half_maps, "at the end, merge and phase the even and odd images apart at the final orientations (half_1.mrc, half_2.mrc) and report their FSC (fsc.csv column fsc_half_data, summary.json resolution_half_data_*): a resolution estimate without a model, optimistic because the halves share the orientations (reconstruct/finish.hpp)"},
  };
}

// Settings that cannot change what a run computes (threads and FFT plans at most at
// round-off): a resumed run may change these and only these.
const std::vector<std::string>& neutral_keys() {
  // Not runtime.fft_planning: other plans round otherwise, and phasing amplifies round-off (a
  // resume makes the interrupted run's plans from the checkpoint's wisdom).
  static const std::vector<std::string> keys = {"orientations.min_photons", "generations.max", "runtime.threads",
                                                "output.every_generation", "output.half_maps", "phasing.final_average"};
  return keys;
}

std::string show(const Field& f) {
  if (const auto* c = std::get_if<Choice>(&f)) return "\"" + c->get() + "\"";
  return std::visit(
      [](const auto& p) -> std::string {
        using V = std::remove_pointer_t<std::decay_t<decltype(p)>>;
        if constexpr (std::is_same_v<V, Choice>) return "";
        else if constexpr (std::is_same_v<V, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<V, double>) return fmt::format("{}", *p);
        else if constexpr (std::is_same_v<V, std::string>) return toml::format(toml::value(*p));
        else return std::to_string(*p);
      },
      f);
}

void assign(const Entry& e, const toml::value& v, const std::string& where) {
  const std::string name = std::string(e.section) + "." + e.key;
  auto bad = [&](const std::string& why) { fail_in(where, "setting " + name + ": " + why); };
  if (const auto* c = std::get_if<Choice>(&e.field)) {
    if (!v.is_string()) bad("wrong type (expected one of " + c->names + ")");
    if (!c->set(v.as_string().str)) bad("\"" + v.as_string().str + "\" is not one of " + c->names);
    return;
  }
  try {
    std::visit(
        [&](const auto& p) {
          using V = std::remove_pointer_t<std::decay_t<decltype(p)>>;
          if constexpr (std::is_same_v<V, Choice>) {
          } else if constexpr (std::is_same_v<V, double>) {
            *p = v.is_integer() ? static_cast<double>(v.as_integer()) : toml::get<double>(v);
          } else if constexpr (std::is_same_v<V, std::uint64_t>) {
            const auto i = toml::get<std::int64_t>(v);
            if (i < 0) bad("must not be negative");
            *p = static_cast<std::uint64_t>(i);
          } else {
            *p = toml::get<V>(v);
          }
        },
        e.field);
  } catch (const toml::type_error&) {
    bad("wrong type (expected " +
        std::visit([](const auto& p) -> std::string {
          using V = std::remove_pointer_t<std::decay_t<decltype(p)>>;
          if constexpr (std::is_same_v<V, Choice>) return "a name";
          else if constexpr (std::is_same_v<V, bool>) return "true or false";
          else if constexpr (std::is_same_v<V, double>) return "a number";
          else if constexpr (std::is_same_v<V, std::string>) return "a string";
          else return "an integer";
        }, e.field) + ")");
  }
  if (e.lo < e.hi) {
    const double x = std::visit([](const auto& p) -> double {
      using V = std::remove_pointer_t<std::decay_t<decltype(p)>>;
      if constexpr (std::is_arithmetic_v<V>) return static_cast<double>(*p);
      else return 0;
    }, e.field);
    if (!(x >= e.lo && x <= e.hi)) bad(fmt::format("{} is outside [{}, {}]", x, e.lo, e.hi));
    if (e.odd && static_cast<std::int64_t>(x) % 2 == 0) bad(fmt::format("{} must be odd", x));
  }
}

void apply(std::vector<Entry>& entries, const toml::value& root, const std::string& where) {
  if (!root.is_table()) fail_in(where, "settings must be a TOML table");
  for (const auto& [section, table] : root.as_table()) {
    if (!table.is_table()) fail_in(where, "'" + section + "' must be a [section]");
    for (const auto& [key, value] : table.as_table()) {
      bool found = false;
      for (const auto& e : entries)
        if (section == e.section && key == e.key) {
          assign(e, value, where);
          found = true;
        }
      if (!found) fail_in(where, "unknown setting " + section + "." + key + " (spire reconstruct --print-config lists them)");
    }
  }
}

void apply_overrides(std::vector<Entry>& entries, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const auto eq = o.find('='), dot = o.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq)
      fail_in("command line", "'" + o + "' is not section.key=value");
    const std::string section = o.substr(0, dot), key = o.substr(dot + 1, eq - dot - 1),
                      value = o.substr(eq + 1);
    check_utf8(o, "command line");
    std::istringstream in(fmt::format("[{}]\n{} = {}\n", section, key, value));
    toml::value root;
    try {
      root = toml::parse(in, "command line");
    } catch (const std::exception&) {
      // A bare word is a string: metric=poisson as well as metric="poisson".
      std::istringstream quoted(fmt::format("[{}]\n{} = \"{}\"\n", section, key, value));
      try {
        root = toml::parse(quoted, "command line");
      } catch (const std::exception& e) {
        fail_in("command line", "cannot parse '" + o + "': " + e.what());
      }
    }
    apply(entries, root, "command line");
  }
}

void finish(Settings& s, const std::string& where) {
  if (s.orientations.batch_size > s.orientations.references) s.orientations.batch_size = s.orientations.references;
  if (s.data.resolution_low > 0 && s.data.resolution_high > 0 && s.data.resolution_low <= s.data.resolution_high)
    fail_in(where, fmt::format("settings data.resolution_low = {} A and data.resolution_high = {} A keep no pixel: "
                               "the low-resolution limit must be the larger number",
                               s.data.resolution_low, s.data.resolution_high));
  if (s.grid.box != 0 && (s.grid.box < 5 || s.grid.box % 2 == 0))
    fail_in(where, fmt::format("setting grid.box = {}: an odd box of at least 5 voxels, or 0 (auto)", s.grid.box));
  if (s.phasing.box != 0 && (s.phasing.box < 5 || s.phasing.box % 2 == 0))
    fail_in(where, fmt::format("setting phasing.box = {}: an odd box of at least 5 voxels, or 0 (auto)", s.phasing.box));
  if (s.distribution.strategy == distributed::Strategy::hybrid && s.distribution.split_size < 1)
    fail_in(where,
            "setting distribution.split_size: the hybrid strategy needs the reference orientations per node (>= 1)");
}

}  // namespace

Settings load_settings(const std::string& toml_path, const std::vector<std::string>& overrides) {
  Settings s;
  auto entries = schema(s);
  if (!toml_path.empty()) {
    if (std::ifstream file{toml_path, std::ios::binary})
      check_utf8({std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()}, toml_path);
    toml::value root;
    try {
      root = toml::parse(toml_path);
    } catch (const std::exception& e) {  // toml11: syntax errors and unreadable files
      fail_in(toml_path, std::string("cannot read settings: ") + e.what());
    }
    apply(entries, root, toml_path);
  }
  apply_overrides(entries, overrides);
  finish(s, toml_path.empty() ? "command line" : toml_path);
  return s;
}

Settings load_settings_text(const std::string& toml_text, const std::string& where,
                            const std::vector<std::string>& overrides) {
  Settings s;
  auto entries = schema(s);
  check_utf8(toml_text, where);
  std::istringstream in(toml_text);
  toml::value root;
  try {
    root = toml::parse(in, where);
  } catch (const std::exception& e) {
    fail_in(where, std::string("cannot read settings: ") + e.what());
  }
  apply(entries, root, where);
  apply_overrides(entries, overrides);
  finish(s, where);
  return s;
}

bool changes_result(const std::string& section_key) {
  const auto& keys = neutral_keys();
  return std::find(keys.begin(), keys.end(), section_key) == keys.end();
}

std::vector<std::string> result_neutral_settings() {
  Settings s;
  std::vector<std::string> out;
  for (const auto& e : schema(s))
    if (!changes_result(std::string(e.section) + "." + e.key)) out.push_back(std::string(e.section) + "." + e.key);
  return out;
}

std::vector<Difference> differences(const Settings& a, const Settings& b) {
  Settings sa = a, sb = b;
  const auto ea = schema(sa), eb = schema(sb);
  std::vector<Difference> out;
  for (std::size_t i = 0; i < ea.size(); ++i) {
    const std::string va = show(ea[i].field), vb = show(eb[i].field);
    if (va != vb) out.push_back({std::string(ea[i].section) + "." + ea[i].key, va, vb});
  }
  return out;
}

std::vector<Difference> result_differences(const Settings& a, const Settings& b) {
  auto out = differences(a, b);
  std::erase_if(out, [](const Difference& d) { return !changes_result(d.key); });
  return out;
}

std::string schema_toml() {
  Settings s;
  auto entries = schema(s);
  std::string out = "# spire reconstruct settings: every key, its default and its meaning.\n";
  std::string section;
  for (const auto& e : entries) {
    if (section != e.section) {
      section = e.section;
      out += "\n[" + section + "]\n";
    }
    const bool neutral = !changes_result(std::string(e.section) + "." + e.key);
    out += fmt::format("{} = {}  # {}{}\n", e.key, show(e.field), e.doc, neutral ? " [may change on --resume]" : "");
  }
  return out;
}

std::string to_toml(const Settings& settings) {
  Settings s = settings;
  auto entries = schema(s);
  std::string out, section;
  for (const auto& e : entries) {
    if (section != e.section) {
      section = e.section;
      out += (out.empty() ? "" : "\n") + std::string("[") + section + "]\n";
    }
    out += fmt::format("{} = {}\n", e.key, show(e.field));
  }
  return out;
}

}  // namespace spire::reconstruct
