#pragma once
// The dashboard's files (web/ at the repository root), compiled into the binary so that
// build/bin/wirehub serves the page with no install step. The definitions are generated
// at build time by embed_web_assets.cmake into web_assets.cpp in the build tree; the
// build regenerates it whenever a file under web/ changes.

#include <algorithm>
#include <span>
#include <string_view>

namespace wirehub::app {

struct WebAsset {
  std::string_view path;          // relative to web/, e.g. "app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
  std::string_view etag;          // a strong entity tag, quoted: "\"<16 hex digits>\""
};

// Every embedded file, sorted by path.
std::span<const WebAsset> web_assets() noexcept;

// The file at path (relative to web/), or nullptr.
inline const WebAsset* find_web_asset(std::string_view path) noexcept {
  const auto assets = web_assets();
  const auto it = std::ranges::find(assets, path, &WebAsset::path);
  return it == assets.end() ? nullptr : &*it;
}

}  // namespace wirehub::app
