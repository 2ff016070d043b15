// Fuzz target: the PDB reader (simulate/pdb.hpp), ATOM/HETATM records of any text.
#include <sstream>

#include "core/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "simulate/pdb.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in{std::string(spire::fuzz::as_text(data, size))};
  try {
    const auto atoms = spire::simulate::parse_pdb(in, "fuzz.pdb");
    if (atoms.empty()) __builtin_trap();  // documented: no atoms is an error
  } catch (const spire::Error&) {
  }
  return 0;
}
