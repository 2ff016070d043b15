// The spire command line: one program, one subcommand per job.
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "distributed/team.hpp"

int main(int argc, char** argv) {
  // MPI when started by mpirun (and built with it); one plain process otherwise.
  const spire::distributed::Session session(argc, argv);
  CLI::App app{"spire: 3D structure from single-particle X-ray diffraction patterns (M-TIP)"};
  app.set_version_flag("--version", std::string("spire ") + SPIRE_VERSION);
  app.require_subcommand(1);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  std::vector<std::pair<CLI::App*, spire::cli::Runner>> commands;
  auto add = [&](spire::cli::Runner run) { commands.emplace_back(app.get_subcommands({}).back(), std::move(run)); };
  add(spire::cli::add_selfcheck(app));
  add(spire::cli::add_simulate(app, command_line));
  add(spire::cli::add_info(app));
  add(spire::cli::add_reconstruct(app));
  add(spire::cli::add_resolution(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // A failing rank ends all of them: the others would wait in a collective for ever.
  const auto fail = [&](int code) {
    if (session.size() > 1) session.abort(code);
    return code;
  };
  const std::string rank = session.size() > 1 ? fmt::format(" (rank {})", session.rank()) : "";
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) {
        if (session.size() > 1 && sub->get_name() != "reconstruct")
          spire::fail("spire " + sub->get_name() + " runs as one process; only spire reconstruct runs on several MPI ranks");
        return run();
      }
  } catch (const spire::Error& e) {
    fmt::print(stderr, "spire: error{}: {}\n", rank, e.what());
    return fail(2);
  } catch (const std::exception& e) {
    fmt::print(stderr, "spire: unexpected error{}: {}\n", rank, e.what());
    return fail(3);
  }
  return 0;
}
