#pragma once
// Atomic models from PDB files (ATOM and HETATM records of the first model).
//
// Units: positions in Angstrom, B factors in Angstrom^2, occupancy a fraction.
// Rules (the transform sums over every atom returned, weighted by its occupancy):
//  - alternate locations (column 17) are all kept; their occupancies (which sum to about 1)
//    weight them, so a disordered side chain counts once in total;
//  - waters and other HETATM groups are kept (hydrogens too, when the file has them);
//  - reading stops at the first ENDMDL or END: only the first model of an ensemble;
//  - element from columns 77-78; when blank, from the atom name (columns 13-16): a name
//    starting in column 14 (or with a digit in column 13) is a one-letter element, a name
//    starting in column 13 is a two-letter element when those two letters are one ("FE",
//    "ZN", "CA  " calcium), except four-letter names starting with H (hydrogens);
//    deuterium (D) reads as H;
//  - occupancy (columns 55-60) blank -> 1, B factor (61-66) blank -> 0, formal charge
//    (columns 79-80, e.g. "2+") blank -> 0.
// Errors (spire::Error) name the file and line: missing file, malformed coordinates or
// numbers, an element without a scattering factor, no atoms at all, and an implausible
// extent: a stray atom (farther from the molecule's centre, the coordinate-wise median,
// than 3 times the radius holding 90% of the atoms plus 20 A, with no other atom within
// 20 A: a coordinate typo) or any atom beyond 5000 A (no particle SPI images is 1 um
// across).
#include <array>
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace spire::simulate {

struct Atom {
  std::array<double, 3> position_angstrom{};
  std::string element;  // canonical symbol: "C", "Fe"
  int charge = 0;       // formal charge
  double occupancy = 1;
  double b_factor = 0;  // read for the record; the molecular transform does not apply it
  std::string name;     // atom name, trimmed ("CA")
  std::string residue;  // residue name, trimmed ("GLY", "HOH")
  char chain = ' ';
  int residue_number = 0;
  char alt_loc = ' ';
  bool hetatm = false;
  std::int64_t line = 0;  // line in the PDB file (0: not read from a file)
};

std::vector<Atom> read_pdb(const std::string& path);

// The same from a stream; `source` names it in error messages.
std::vector<Atom> parse_pdb(std::istream& in, const std::string& source);

// A deterministic stand-in molecule made in code, so a demo needs no file: 591 atoms
// of C, N, O and S (protein-like proportions) on a jittered 2.5 Angstrom lattice filling
// four overlapping balls of radii 11, 8, 6.5 and 5 Angstrom whose centres are not in one
// plane (about 40 Angstrom across); occupancy 1, B 20. Not chemistry: a protein's size and
// electron count per volume, with no symmetry, so that its images can be oriented and its
// hands told apart.
std::vector<Atom> built_in_molecule();

}  // namespace spire::simulate
