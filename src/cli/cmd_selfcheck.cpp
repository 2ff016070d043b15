// spire selfcheck: the NUFFT against direct sums on this machine.
#include <fmt/core.h>

#include "cli/commands.hpp"
#include "nufft/selfcheck.hpp"

namespace spire::cli {

Runner add_selfcheck(CLI::App& app) {
  auto* cmd = app.add_subcommand("selfcheck", "Check the NUFFT against direct sums");
  struct Options {
    int modes = 24, threads = 0;
    long points = 4000;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("--modes", o->modes, "Modes per dimension")->capture_default_str()->check(CLI::Range(2, 200));
  cmd->add_option("--points", o->points, "Non-uniform points")->capture_default_str()->check(CLI::Range(1L, 10000000L));
  cmd->add_option("--threads", o->threads, "OpenMP threads (0: all)")->capture_default_str();
  return [o] {
    fmt::print("spire selfcheck: 3D NUFFT type 1 and 2 against the direct sum\n");
    fmt::print("  {}^3 modes, {} random points in [-pi, pi)^3, sign +1\n", o->modes, o->points);
    fmt::print("  {:<7} {:>4} {:>9} {:>6} {:>12} {:>10}  {}\n", "prec", "type", "tol", "width",
               "rel. error", "time [s]", "status");
    bool ok = true;
    for (const auto& r : nufft::self_check(o->modes, o->points, o->threads)) {
      fmt::print("  {:<7} {:>4} {:>9.0e} {:>6} {:>12.3e} {:>10.4f}  {}\n", r.precision, r.type,
                 r.tolerance, r.width, r.error, r.seconds, r.passed ? "ok" : "FAILED");
      ok = ok && r.passed;
    }
    fmt::print("{}\n", ok ? "all transforms within 10x their tolerance"
                          : "some transforms missed their tolerance");
    return ok ? 0 : 1;
  };
}

}  // namespace spire::cli
