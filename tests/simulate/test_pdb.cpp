#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "simulate/pdb.hpp"

namespace spire::simulate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One fixed-column record, as the PDB format lays it out.
std::string record(const char* kind, const char* name4, char alt, const char* residue, double x,
                   double y, double z, double occ, const char* element, const char* charge = "") {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-6s%5d %-4s%c%-3s %c%4d    %8.3f%8.3f%8.3f%6.2f%6.2f          %2s%2s",
                kind, 1, name4, alt, residue, 'A', 7, x, y, z, occ, 15.0, element, charge);
  return buf;
}

std::vector<Atom> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_pdb(in, "test.pdb");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Pdb, ReadsFieldsByColumn) {
  const auto atoms = parse("HEADER    TEST\n" + record("ATOM", " CA ", ' ', "GLY", 1.5, -2.25, 3.125, 0.5, "C") +
                           "\n" + record("HETATM", "ZN  ", ' ', "ZN", 10, 20, 30, 1, "ZN", "2+") + "\n");
  ASSERT_EQ(atoms.size(), 2u);
  EXPECT_EQ(atoms[0].element, "C");
  EXPECT_EQ(atoms[0].name, "CA");
  EXPECT_EQ(atoms[0].residue, "GLY");
  EXPECT_EQ(atoms[0].chain, 'A');
  EXPECT_EQ(atoms[0].residue_number, 7);
  EXPECT_DOUBLE_EQ(atoms[0].position_angstrom[0], 1.5);
  EXPECT_DOUBLE_EQ(atoms[0].position_angstrom[1], -2.25);
  EXPECT_DOUBLE_EQ(atoms[0].position_angstrom[2], 3.125);
  EXPECT_DOUBLE_EQ(atoms[0].occupancy, 0.5);
  EXPECT_DOUBLE_EQ(atoms[0].b_factor, 15.0);
  EXPECT_FALSE(atoms[0].hetatm);
  EXPECT_EQ(atoms[1].element, "Zn");
  EXPECT_EQ(atoms[1].charge, 2);
  EXPECT_TRUE(atoms[1].hetatm);
}

TEST(Pdb, ElementFromTheAtomNameWhenColumns77To78AreBlank) {
  const std::string text = record("ATOM", " CA ", ' ', "GLY", 0, 0, 0, 1, "") + "\n" +  // C alpha
                           record("HETATM", "CA  ", ' ', "CA", 0, 0, 0, 1, "") + "\n" +  // calcium
                           record("HETATM", "FE  ", ' ', "HEM", 0, 0, 0, 1, "") + "\n" +
                           record("ATOM", "HE21", ' ', "GLN", 0, 0, 0, 1, "") + "\n" +   // hydrogen
                           record("ATOM", "1HB ", ' ', "ALA", 0, 0, 0, 1, "") + "\n" +
                           record("ATOM", " SD ", ' ', "MET", 0, 0, 0, 1, "") + "\n" +
                           record("ATOM", " D  ", ' ', "ALA", 0, 0, 0, 1, "") + "\n";
  const auto atoms = parse(text);
  ASSERT_EQ(atoms.size(), 7u);
  const char* expected[] = {"C", "Ca", "Fe", "H", "H", "S", "H"};
  for (std::size_t i = 0; i < atoms.size(); ++i) EXPECT_EQ(atoms[i].element, expected[i]) << i;
}

TEST(Pdb, AlternateLocationsAllKeptAndFirstModelOnly) {
  const std::string text = "MODEL        1\n" + record("ATOM", " OG ", 'A', "SER", 1, 0, 0, 0.6, "O") +
                           "\n" + record("ATOM", " OG ", 'B', "SER", 2, 0, 0, 0.4, "O") +
                           "\nENDMDL\nMODEL        2\n" +
                           record("ATOM", " OG ", ' ', "SER", 3, 0, 0, 1, "O") + "\nENDMDL\n";
  const auto atoms = parse(text);
  ASSERT_EQ(atoms.size(), 2u);
  EXPECT_EQ(atoms[0].alt_loc, 'A');
  EXPECT_EQ(atoms[1].alt_loc, 'B');
  EXPECT_DOUBLE_EQ(atoms[0].occupancy + atoms[1].occupancy, 1.0);
}

TEST(Pdb, MissingOccupancyIsOne) {
  // A record cut after the coordinates (column 54), as some writers leave it.
  const std::string line = record("ATOM", " N  ", ' ', "GLY", 1, 2, 3, 0.3, "N").substr(0, 54);
  const auto atoms = parse(line + "\n");
  ASSERT_EQ(atoms.size(), 1u);
  EXPECT_DOUBLE_EQ(atoms[0].occupancy, 1.0);
  EXPECT_EQ(atoms[0].element, "N");
}

TEST(Pdb, ErrorsNameTheFileAndLine) {
  const std::string good = record("ATOM", " CA ", ' ', "GLY", 0, 0, 0, 1, "C") + "\n";
  std::string bad_coordinate = record("ATOM", " CA ", ' ', "GLY", 0, 0, 0, 1, "C");
  bad_coordinate.replace(32, 4, "x.yz");
  EXPECT_THAT(error_of("REMARK\n" + good + bad_coordinate + "\n"),
              HasSubstr("test.pdb:3: malformed x coordinate"));
  EXPECT_THAT(error_of(good + "ATOM      1  CA  GLY A   1       1.000\n"),
              HasSubstr("test.pdb:2: malformed coordinates"));
  EXPECT_THAT(error_of(good + record("HETATM", " XX ", ' ', "UNK", 0, 0, 0, 1, "XX") + "\n"),
              HasSubstr("test.pdb:2: unknown element 'XX'"));
  EXPECT_THAT(error_of("HEADER    NOTHING\nEND\n"), HasSubstr("test.pdb: no ATOM or HETATM"));
  std::string bad_occupancy = record("ATOM", " CA ", ' ', "GLY", 0, 0, 0, 1, "C");
  bad_occupancy.replace(56, 2, "ab");
  EXPECT_THAT(error_of(bad_occupancy), HasSubstr("test.pdb:1: malformed occupancy"));
  try {
    read_pdb("/nonexistent/model.pdb");
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/model.pdb: cannot open"));
  }
}

// A stray atom far from the rest (a coordinate typo) is named with its file and line,
// instead of surfacing later as a transform too large for its tolerance.
TEST(Pdb, StrayAtomFarFromTheMoleculeIsNamed) {
  std::string text;
  for (int i = 0; i < 30; ++i)
    text += record("ATOM", " CA ", ' ', "GLY", (i % 3) * 3.0, (i / 3 % 3) * 3.0, (i / 9) * 3.0, 1.0, "C") + "\n";
  EXPECT_EQ(parse(text).size(), 30u);
  const std::string message = error_of(text + record("HETATM", " O  ", ' ', "HOH", 9999, 0, 0, 1.0, "O") + "\n");
  EXPECT_THAT(message, HasSubstr("test.pdb:31"));
  EXPECT_THAT(message, HasSubstr("HOH"));
  EXPECT_THAT(message, HasSubstr("A from the centre"));
  EXPECT_THAT(message, Not(HasSubstr("tolerance")));
  // Nearer, but alone and far outside the molecule: a stray atom.
  const std::string stray = error_of(text + record("HETATM", " O  ", ' ', "HOH", 300, 0, 0, 1.0, "O") + "\n");
  EXPECT_THAT(stray, HasSubstr("test.pdb:31"));
  EXPECT_THAT(stray, HasSubstr("a stray atom or a coordinate typo"));
  // A long thin molecule is not stray: 400 atoms along 1000 A.
  std::string fibre;
  for (int i = 0; i < 400; ++i) fibre += record("ATOM", " CA ", ' ', "GLY", i * 2.5, 0, 0, 1.0, "C") + "\n";
  EXPECT_EQ(parse(fibre).size(), 400u);
  // Nor a molecule with a few surface waters.
  EXPECT_EQ(parse(text + record("HETATM", " O  ", ' ', "HOH", 12, 3, 3, 1.0, "O") + "\n").size(), 31u);
}

TEST(Pdb, Reads2cex) {
  const std::string path = SPIRE_SHARED_DATA "/2cex.pdb";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  const auto atoms = read_pdb(path);
  // 2362 protein atoms, one zinc and 89 waters (kept).
  EXPECT_EQ(atoms.size(), 2452u);
  int zinc = 0, water = 0, protein = 0;
  for (const Atom& a : atoms) {
    zinc += a.element == "Zn";
    water += a.residue == "HOH";
    protein += !a.hetatm;
  }
  EXPECT_EQ(zinc, 1);
  EXPECT_EQ(water, 89);
  EXPECT_EQ(protein, 2362);
}

TEST(Pdb, BuiltInMoleculeHasNoSymmetry) {
  const auto atoms = built_in_molecule();
  EXPECT_GT(atoms.size(), 500u);
  EXPECT_LT(atoms.size(), 900u);
  int sulfur = 0;
  double centre[3] = {0, 0, 0};
  for (const Atom& a : atoms) {
    const auto& p = a.position_angstrom;
    EXPECT_LT(std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]), 30.0);
    sulfur += a.element == "S";
    for (int d = 0; d < 3; ++d) centre[d] += p[d] / static_cast<double>(atoms.size());
  }
  EXPECT_GT(sulfur, 0);
  // Second moments about the centre: three clearly different principal values (no axis of
  // symmetry), from the characteristic polynomial's discriminant being well above 0.
  double m[3][3] = {};
  for (const Atom& a : atoms)
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        m[r][c] += (a.position_angstrom[r] - centre[r]) * (a.position_angstrom[c] - centre[c]) /
                   static_cast<double>(atoms.size());
  const double tr = m[0][0] + m[1][1] + m[2][2];
  double off = 0;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) off += (m[r][c] - (r == c ? tr / 3 : 0)) * (m[r][c] - (r == c ? tr / 3 : 0));
  EXPECT_GT(std::sqrt(off) / tr, 0.1);  // far from isotropic (a sphere gives 0)
  const auto again = built_in_molecule();
  EXPECT_EQ(again[100].position_angstrom, atoms[100].position_angstrom);
}

}  // namespace
}  // namespace spire::simulate
