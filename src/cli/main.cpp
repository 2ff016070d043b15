// The spire command line: one program, one subcommand per job.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>

#include "core/error.hpp"
#include "nufft/selfcheck.hpp"

namespace {

int run_selfcheck(int modes, long points, int threads) {
  fmt::print("spire selfcheck: 3D NUFFT type 1 and 2 against the direct sum\n");
  fmt::print("  {}^3 modes, {} random points in [-pi, pi)^3, sign +1\n", modes, points);
  fmt::print("  {:<7} {:>4} {:>9} {:>6} {:>12} {:>10}  {}\n", "prec", "type", "tol", "width",
             "rel. error", "time [s]", "status");
  bool ok = true;
  for (const auto& r : spire::nufft::self_check(modes, points, threads)) {
    fmt::print("  {:<7} {:>4} {:>9.0e} {:>6} {:>12.3e} {:>10.4f}  {}\n", r.precision, r.type,
               r.tolerance, r.width, r.error, r.seconds, r.passed ? "ok" : "FAILED");
    ok = ok && r.passed;
  }
  fmt::print("{}\n", ok ? "all transforms within 10x their tolerance"
                        : "some transforms missed their tolerance");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spire: 3D structure from single-particle X-ray diffraction patterns (M-TIP)"};
  app.set_version_flag("--version", std::string("spire ") + SPIRE_VERSION);
  app.require_subcommand(1);

  auto* selfcheck = app.add_subcommand("selfcheck", "Check the NUFFT against direct sums");
  int modes = 24, threads = 0;
  long points = 4000;
  selfcheck->add_option("--modes", modes, "Modes per dimension")->capture_default_str()->check(CLI::Range(2, 200));
  selfcheck->add_option("--points", points, "Non-uniform points")->capture_default_str()->check(CLI::Range(1L, 10000000L));
  selfcheck->add_option("--threads", threads, "OpenMP threads (0: all)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*selfcheck) return run_selfcheck(modes, points, threads);
  } catch (const spire::Error& e) {
    fmt::print(stderr, "spire: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "spire: unexpected error: {}\n", e.what());
    return 3;
  }
  return 0;
}
