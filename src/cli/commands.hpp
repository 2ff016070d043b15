#pragma once
// Each subcommand registers its options on the app and returns the function that runs it
// once parsing succeeded (so main can report every error the same way).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

#include "io/images.hpp"
#include "resolution/fsc.hpp"

namespace spire::cli {

using Runner = std::function<int()>;

Runner add_selfcheck(CLI::App& app);
Runner add_simulate(CLI::App& app, const std::string& command_line);
Runner add_info(CLI::App& app);
Runner add_reconstruct(CLI::App& app, const std::string& command_line);
Runner add_resolution(CLI::App& app);
Runner add_convert(CLI::App& app);

// --detector, --photon-energy and --mask: how a file that needs them is read (io/images.hpp).
void add_open_options(CLI::App& cmd, io::OpenOptions& options);

// Written next to its final name and renamed: a crash never leaves half a file. An Error
// naming the file when it cannot be written.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// A resolution in summary.json: <key>_angstrom, always a finite number, <key>_beyond_grid_edge
// (true: the FSC never fell below the threshold, the number is the grid's limit) and
// <key>_below_first_shell (true: below the threshold from the first shell, no resolution;
// the number is the box).
void put_resolution(nlohmann::json& summary, const std::string& key, const resolution::ResolutionAt& r);
// The resolutions at FSC 0.5 and 0.143 for a plot's legend: "0.5: 12.1 Å, 0.143: 9.6 Å", a
// number beyond the grid edge as "< 4.0 Å", one below the threshold from the first shell as
// "> 64.0 Å".
std::string plot_resolutions(const resolution::ResolutionAt& at_05, const resolution::ResolutionAt& at_0143);

}  // namespace spire::cli
