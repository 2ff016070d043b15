// Fuzz target: the settings of `spire reconstruct` (reconstruct/settings.hpp), a TOML text
// and `section.key=value` overrides.
//
// Input: TOML text, then optionally a line "%%" and one override per line. The first
// byte's low bit picks the entry point: load_settings_text (0) or load_settings with the
// TOML written to a file (1). Settings that load must survive a round trip through
// to_toml: anything else is a finding.
#include <string>
#include <vector>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "reconstruct/settings.hpp"

namespace {

void split(std::string_view input, std::string& toml, std::vector<std::string>& overrides) {
  const auto mark = input.find("\n%%\n");
  toml = std::string(input.substr(0, mark));
  if (mark == std::string_view::npos) return;
  std::string_view rest = input.substr(mark + 4);
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    overrides.emplace_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static spire::fuzz::ScratchFile file(".toml");
  using namespace spire::reconstruct;
  const bool from_file = size % 2 == 1;
  std::string toml;
  std::vector<std::string> overrides;
  split(spire::fuzz::as_text(data, size), toml, overrides);
  Settings s;
  try {
    if (from_file)
      s = load_settings(file.write(reinterpret_cast<const std::uint8_t*>(toml.data()), toml.size()), overrides);
    else
      s = load_settings_text(toml, "fuzz.toml", overrides);
  } catch (const spire::Error&) {
    return 0;
  }
  // What loaded writes out and reads back the same.
  const std::string written = to_toml(s);
  const Settings again = load_settings_text(written, "to_toml");
  if (to_toml(again) != written) __builtin_trap();
  return 0;
}
