#pragma once
// Names of enum values: each enum that a user chooses by name has ONE table of
// (value, name) pairs, next to the enum; parsing, printing, the settings schema's list of
// choices and --print-config all read it. Names are compared exactly (case matters).
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace spire {

template <typename E>
struct Named {
  E value;
  std::string_view name;
};

template <typename E, std::size_t N>
using NameTable = std::array<Named<E>, N>;

// The name of `value` ("?" if the table lacks it: a table that misses a value is a bug).
template <typename E, std::size_t N>
constexpr std::string_view name_of(const NameTable<E, N>& table, E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

// The value called `name`, or nothing.
template <typename E, std::size_t N>
constexpr std::optional<E> value_of(const NameTable<E, N>& table, std::string_view name) {
  for (const auto& entry : table)
    if (entry.name == name) return entry.value;
  return std::nullopt;
}

// "a, b or c": the table's names, for messages.
template <typename E, std::size_t N>
std::string names_of(const NameTable<E, N>& table) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i)
    out += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(table[i].name);
  return out;
}

}  // namespace spire
