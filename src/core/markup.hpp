#pragma once
// Text placed in HTML or XML (report.html, the SVG plots' text layer): & < > " ' become
// entities, everything else (UTF-8 included) is kept as it is.
#include <string>
#include <string_view>

namespace spire {

inline std::string escape_markup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace spire
