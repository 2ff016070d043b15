// The spire command line: one program, one subcommand per job.
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "distributed/team.hpp"

namespace {

// Exit codes (README "Commands"): 0 done, 1 selfcheck found a transform out of tolerance,
// 2 a user error (command line, settings, input or output files, disk full), 3 a bug.
constexpr int kUserError = 2;
constexpr int kInternalError = 3;

// --help and --version are CLI11 "errors" that exit 0; every other parse error is the user's.
int parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);
  std::string what = e.what();
  if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') {
    std::string names;
    for (const auto* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
    what = fmt::format("unknown command '{}' (spire has: {})", argv[1], names);
  }
  fmt::print(stderr, "spire: error: {}\nRun with --help for more information.\n", what);
  return kUserError;
}

// "PATH: cannot create directories: Not a directory" from std::filesystem's
// "filesystem error: cannot create directories: Not a directory [PATH]".
std::string filesystem_message(const std::filesystem::filesystem_error& e) {
  std::string what = e.what();
  if (const std::string prefix = "filesystem error: "; what.starts_with(prefix)) what.erase(0, prefix.size());
  if (const auto bracket = what.find(" ["); bracket != std::string::npos) what.erase(bracket);
  return e.path1().empty() ? what : e.path1().string() + ": " + what;
}

}  // namespace

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
  add(spire::cli::add_reconstruct(app, command_line));
  add(spire::cli::add_resolution(app));
  add(spire::cli::add_convert(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_error(app, e, argc, argv);
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
    return fail(kUserError);
  } catch (const std::filesystem::filesystem_error& e) {
    fmt::print(stderr, "spire: error{}: {}\n", rank, filesystem_message(e));
    return fail(kUserError);
  } catch (const std::exception& e) {
    fmt::print(stderr, "spire: unexpected error{}: {}\n", rank, e.what());
    return fail(kInternalError);
  }
  return 0;
}
