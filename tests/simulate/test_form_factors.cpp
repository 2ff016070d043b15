#include <gtest/gtest.h>

#include "core/error.hpp"
#include "simulate/form_factors.hpp"

namespace spire::simulate {
namespace {

// f0 at |s| = 0, 0.05, 0.1, 0.5, 2.0 1/A (sin(theta)/lambda = |s|/2), as evaluated by the
// periodictable package 2.1.0 (periodictable.cromermann.fxrayatstol), the table's source.
struct Reference {
  const char* species;
  double f[5];
};
constexpr double kS[5] = {0.0, 0.05, 0.1, 0.5, 2.0};
constexpr Reference kReference[] = {
    {"H", {0.999978, 0.9863157116268464, 0.9469553798550437, 0.34980567797759404,
           0.006921130479447098}},
    {"C", {5.997198000000001, 5.9334241969554045, 5.749369890617215, 2.9494788474984155,
           1.113210249705034}},
    {"N", {6.9963609999999985, 6.940082196979029, 6.775928296908466, 3.8217010829301827,
           1.2674828413715975}},
    {"O", {7.9997060000000015, 7.948343520242897, 7.797834359434133, 4.808134535638468,
           1.377020199273148}},
    {"S", {15.999623999999999, 15.866676056200259, 15.484754871637742, 9.927856686190173,
           3.575585355245154}},
    {"Zn", {29.991066000000004, 29.839378121459887, 29.405521213460588, 22.486545326826445,
            7.406615780688554}},
    {"Fe2+", {24.000715, 23.92763076851353, 23.711346574748376, 18.508242723466154,
              6.557363690300493}},
    {"Cl1-", {17.994385, 17.822996028109557, 17.33340592843073, 10.586508885133817,
              4.027925443334276}},
    {"I", {53.002469, 52.71980805062067, 51.909407868983486, 39.3271903444199,
           17.336586791017048}},
    {"Na1+", {9.999728, 9.970343247820164, 9.883044242586267, 7.645981021828374,
              1.7851943125454817}},
};

TEST(FormFactors, MatchTheSourcePackage) {
  for (const Reference& r : kReference)
    for (int i = 0; i < 5; ++i)
      EXPECT_NEAR(form_factor(r.species)(kS[i]), r.f[i], 1e-12 * r.f[0])
          << r.species << " at |s| = " << kS[i];
}

TEST(FormFactors, ZeroAngleIsTheElectronCount) {
  const char* neutral[] = {"H",  "C",  "N",  "O",  "S",  "P",  "Na", "Mg", "Cl", "K",
                           "Ca", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Se", "Br", "I"};
  for (const char* e : neutral) {
    const FormFactor& f = form_factor(e);
    EXPECT_NEAR(f(0), f.atomic_number, 0.1) << e;
  }
  const char* ions[] = {"Na1+", "Mg2+", "Cl1-", "K1+", "Ca2+", "Mn2+", "Fe2+", "Fe3+",
                        "Co2+", "Ni2+", "Cu1+", "Cu2+", "Zn2+", "Br1-", "I1-"};
  for (const char* i : ions) {
    const FormFactor& f = form_factor(i);
    EXPECT_NEAR(f(0), f.atomic_number - f.charge, 0.1) << i;
  }
}

TEST(FormFactors, NamesAndFallbacks) {
  EXPECT_EQ(form_factor("FE").species, "Fe");
  EXPECT_EQ(form_factor("Cl-").species, "Cl1-");
  EXPECT_EQ(form_factor("Na+").species, "Na1+");
  EXPECT_EQ(form_factor("Fe3+").charge, 3);
  EXPECT_EQ(atom_form_factor("ZN", 2).species, "Zn2+");
  EXPECT_EQ(atom_form_factor("C", 0).species, "C");
  EXPECT_EQ(atom_form_factor("S", -2).species, "S");  // no S2- in the table: neutral
  EXPECT_EQ(canonical_element("se"), "Se");
  EXPECT_EQ(canonical_element("Xx"), "");
}

TEST(FormFactors, UnknownSpeciesIsAnError) {
  EXPECT_THROW(form_factor("Xx"), Error);
  EXPECT_THROW(form_factor("Fe9+"), Error);
  EXPECT_THROW(form_factor("Fe2*"), Error);
  EXPECT_THROW(atom_form_factor("Qq", 0), Error);
}

TEST(FormFactors, DecreaseWithAngle) {
  for (const char* e : {"C", "N", "O", "S", "Zn"}) {
    const FormFactor& f = form_factor(e);
    for (double s = 0; s < 2; s += 0.01) EXPECT_GT(f(s), f(s + 0.01)) << e << " " << s;
  }
}

}  // namespace
}  // namespace spire::simulate
