#include "simulate/form_factors.hpp"

#include <cctype>
#include <cmath>

#include "core/error.hpp"

namespace spire::simulate {
namespace {

constexpr FormFactor kTable[] = {
#include "simulate/form_factor_table.inc"
};

std::string element_case(std::string_view e) {
  std::string out(e);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(i == 0 ? std::toupper(static_cast<unsigned char>(out[i]))
                                      : std::tolower(static_cast<unsigned char>(out[i])));
  return out;
}

const FormFactor* find(std::string_view species) {
  for (const FormFactor& f : kTable)
    if (f.species == species) return &f;
  return nullptr;
}

std::string ion_name(const std::string& element, int charge) {
  if (charge == 0) return element;
  return element + std::to_string(std::abs(charge)) + (charge > 0 ? "+" : "-");
}

}  // namespace

double FormFactor::at_stol(double stol) const {
  const double k2 = stol * stol;
  double f = c;
  for (int i = 0; i < 5; ++i) f += a[i] * std::exp(-b[i] * k2);
  return f;
}

std::string canonical_element(std::string_view element) {
  const std::string e = element_case(element);
  const FormFactor* f = find(e);
  return f ? e : std::string();
}

const FormFactor& form_factor(std::string_view species) {
  // Split "Fe2+" / "Cl-" into element and charge; a bare sign means 1.
  std::size_t n = 0;
  while (n < species.size() && std::isalpha(static_cast<unsigned char>(species[n]))) ++n;
  const std::string element = element_case(species.substr(0, n));
  std::string_view rest = species.substr(n);
  int charge = 0;
  if (!rest.empty()) {
    const char sign = rest.back();
    std::string_view digits = rest.substr(0, rest.size() - 1);
    bool ok = (sign == '+' || sign == '-') && digits.size() <= 1 &&
              (digits.empty() || std::isdigit(static_cast<unsigned char>(digits[0])));
    if (!ok) fail("malformed species name '" + std::string(species) + "' (expected e.g. Fe2+)");
    charge = (digits.empty() ? 1 : digits[0] - '0') * (sign == '+' ? 1 : -1);
  }
  if (const FormFactor* f = find(ion_name(element, charge))) return *f;
  fail("no Waasmaier-Kirfel scattering factor for '" + std::string(species) + "'");
}

const FormFactor& atom_form_factor(std::string_view element, int charge) {
  const std::string e = element_case(element);
  if (const FormFactor* f = find(ion_name(e, charge))) return *f;
  if (const FormFactor* f = find(e)) return *f;
  fail("no Waasmaier-Kirfel scattering factor for element '" + std::string(element) + "'");
}

}  // namespace spire::simulate
