#include "simulate/pdb.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "simulate/form_factors.hpp"

namespace spire::simulate {
namespace {

// Columns are 1-based and inclusive, as the PDB format documents them; a line shorter
// than a field gives the part that is there.
std::string_view columns(std::string_view line, std::size_t first, std::size_t last) {
  if (line.size() < first) return {};
  return line.substr(first - 1, std::min(last, line.size()) - (first - 1));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A number, or nullopt when the field is blank; malformed text is an error.
template <typename N>
std::optional<N> number(std::string_view field, const std::string& where, const char* what) {
  const std::string_view t = trim(field);
  if (t.empty()) return std::nullopt;
  N v{};
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(static_cast<double>(v)))
    fail_in(where, std::string("malformed ") + what + " '" + std::string(t) + "'");
  return v;
}

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// The element from the atom name (columns 13-16) when columns 77-78 are blank.
std::string element_from_name(std::string_view name4) {
  std::string n(name4);
  n.resize(4, ' ');
  if (!is_letter(n[0])) return std::string(1, n[1]);
  if (n[3] != ' ' && (n[0] == 'H' || n[0] == 'h')) return "H";
  if (is_letter(n[1]) && !canonical_element(n.substr(0, 2)).empty()) return n.substr(0, 2);
  return std::string(1, n[0]);
}

// "2+", "1-", "+2" (some writers), blank -> 0.
int parse_charge(std::string_view field, const std::string& where) {
  const std::string_view t = trim(field);
  if (t.empty()) return 0;
  int magnitude = 1, sign = 0;
  for (char ch : t) {
    if (ch == '+') sign = 1;
    else if (ch == '-') sign = -1;
    else if (std::isdigit(static_cast<unsigned char>(ch))) magnitude = ch - '0';
    else sign = 2;
  }
  if (sign == 0 || sign == 2 || t.size() > 2)
    fail_in(where, "malformed charge '" + std::string(t) + "' in columns 79-80");
  return sign * magnitude;
}

constexpr double kStrayGap = 20;         // A: no other atom this close: a stray atom
constexpr double kLargestRadius = 5000;  // A: half a micrometre

// Coordinate-wise medians: where the molecule is, whatever a few stray atoms say.
std::array<double, 3> median_centre(const std::vector<Atom>& atoms) {
  std::array<double, 3> centre{};
  std::vector<double> v(atoms.size());
  for (std::size_t d = 0; d < 3; ++d) {
    for (std::size_t i = 0; i < atoms.size(); ++i) v[i] = atoms[i].position_angstrom[d];
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    centre[d] = v[v.size() / 2];
  }
  return centre;
}

double distance(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

// Whether another atom lies within kStrayGap of atom i; bonded neighbours are near in the
// file, so the search goes outward from i and usually stops within a few atoms.
bool has_neighbour(const std::vector<Atom>& atoms, std::size_t i) {
  for (std::size_t k = 1; k < atoms.size(); ++k) {
    if (i >= k && distance(atoms[i - k].position_angstrom, atoms[i].position_angstrom) < kStrayGap) return true;
    if (i + k < atoms.size() && distance(atoms[i + k].position_angstrom, atoms[i].position_angstrom) < kStrayGap)
      return true;
  }
  return false;
}

std::string describe_atom(const Atom& a) {
  return fmt::format("{} {} of {} {} chain {}", a.hetatm ? "HETATM" : "ATOM", a.name, a.residue,
                     a.residue_number, a.chain);
}

// A stray atom or a model too large to be a particle (pdb.hpp): named with its line.
void check_extent(const std::vector<Atom>& atoms, const std::string& source) {
  const auto centre = median_centre(atoms);
  std::vector<double> r(atoms.size());
  for (std::size_t i = 0; i < atoms.size(); ++i) r[i] = distance(atoms[i].position_angstrom, centre);
  std::vector<double> sorted = r;
  const auto at90 = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() * 9 / 10);
  std::nth_element(sorted.begin(), at90, sorted.end());
  const double r90 = *at90, stray = 3 * r90 + kStrayGap;
  auto where = [&](std::size_t i) {
    return fmt::format("{}:{}: {} is {:.0f} A from the centre of the molecule", source, atoms[i].line,
                       describe_atom(atoms[i]), r[i]);
  };
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    if (r[i] > kLargestRadius)
      fail(where(i) + fmt::format(" (more than {:.0f} A: no particle SPI images is that large); fix or remove it",
                                  kLargestRadius));
    if (r[i] > stray && !has_neighbour(atoms, i))
      fail(where(i) + fmt::format(", where 90% of the atoms lie within {:.0f} A and no other atom within {:.0f} A: "
                                  "a stray atom or a coordinate typo? Fix or remove it",
                                  r90, kStrayGap));
  }
}

}  // namespace

std::vector<Atom> parse_pdb(std::istream& in, const std::string& source) {
  std::vector<Atom> atoms;
  std::string line;
  std::int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string_view record = trim(columns(line, 1, 6));
    if (record == "ENDMDL" || record == "END") break;
    if (record != "ATOM" && record != "HETATM") continue;
    const std::string where = source + ":" + std::to_string(line_number);
    if (line.size() < 54)
      fail_in(where, "malformed coordinates: the " + std::string(record) +
                         " record ends before column 54");

    Atom a;
    a.hetatm = record == "HETATM";
    const char* axis[3] = {"x coordinate", "y coordinate", "z coordinate"};
    for (std::size_t d = 0; d < 3; ++d) {
      const auto v = number<double>(columns(line, 31 + 8 * d, 38 + 8 * d), where, axis[d]);
      if (!v) fail_in(where, std::string("malformed coordinates: blank ") + axis[d]);
      a.position_angstrom[d] = *v;
    }
    a.occupancy = number<double>(columns(line, 55, 60), where, "occupancy").value_or(1.0);
    a.b_factor = number<double>(columns(line, 61, 66), where, "B factor").value_or(0.0);
    if (a.occupancy < 0) fail_in(where, "negative occupancy");
    a.name = std::string(trim(columns(line, 13, 16)));
    a.alt_loc = line.size() >= 17 ? line[16] : ' ';
    a.residue = std::string(trim(columns(line, 18, 20)));
    a.chain = line.size() >= 22 ? line[21] : ' ';
    a.residue_number = number<int>(columns(line, 23, 26), where, "residue number").value_or(0);

    std::string element(trim(columns(line, 77, 78)));
    if (element.empty()) element = element_from_name(columns(line, 13, 16));
    if (element == "D" || element == "d") element = "H";
    a.element = canonical_element(element);
    if (a.element.empty())
      fail_in(where, "unknown element '" + element + "' (atom '" + a.name +
                         "'): no X-ray scattering factor for it");
    a.charge = parse_charge(columns(line, 79, 80), where);
    a.line = line_number;
    atoms.push_back(std::move(a));
  }
  if (in.bad()) fail_in(source, "read error");
  if (atoms.empty()) fail_in(source, "no ATOM or HETATM records: not a PDB model");
  check_extent(atoms, source);
  return atoms;
}

std::vector<Atom> read_pdb(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail_in(path, "cannot open the PDB file (missing or unreadable)");
  return parse_pdb(in, path);
}

std::vector<Atom> built_in_molecule() {
  // A 64-bit linear congruential generator (Knuth's MMIX constants): the same atoms on
  // every platform, unlike the standard library's distributions.
  std::uint64_t state = 0x5eed5eed5eedULL;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  // Four lobes of different sizes, not in one plane: no rotation or mirror symmetry, so
  // images of it can be oriented (a sphere's could not) and its two hands differ.
  struct Lobe {
    double x, y, z, r;
  };
  constexpr Lobe lobes[] = {{0, 0, 0, 11}, {14, 4, -3, 8}, {-6, 12, 7, 6.5}, {3, -8, 12, 5}};
  constexpr double spacing = 2.5, jitter = 0.4;
  std::vector<Atom> atoms;
  for (int k = -8; k <= 10; ++k)
    for (int j = -8; j <= 10; ++j)
      for (int i = -8; i <= 10; ++i) {
        const double x = i * spacing, y = j * spacing, z = k * spacing;
        bool inside = false;
        for (const Lobe& l : lobes)
          inside = inside || (x - l.x) * (x - l.x) + (y - l.y) * (y - l.y) + (z - l.z) * (z - l.z) <= l.r * l.r;
        if (!inside) continue;
        Atom a;
        a.position_angstrom = {x + jitter * (2 * uniform() - 1), y + jitter * (2 * uniform() - 1),
                               z + jitter * (2 * uniform() - 1)};
        // About 63% C, 17% N, 19% O, 1% S, as in proteins.
        const double u = uniform();
        a.element = std::string(1, u < 0.63 ? 'C' : u < 0.80 ? 'N' : u < 0.99 ? 'O' : 'S');
        a.name = a.element;
        a.residue = "BLB";
        a.chain = 'A';
        a.residue_number = static_cast<int>(atoms.size()) + 1;
        a.b_factor = 20;
        atoms.push_back(std::move(a));
      }
  return atoms;
}

}  // namespace spire::simulate
