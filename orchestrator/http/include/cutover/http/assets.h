// The status page's files, embedded into the binary at build time: every
// file under orchestrator/http/assets/ becomes an Asset (embed_assets.cmake
// generates the table), so cutoverd serves the page without reading files
// or reaching a CDN. Names are paths relative to assets/ ("index.html",
// "app.js", "img/logo.svg"). Immutable data: safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace cutover::http {

struct Asset {
  const char* name;
  // "text/html; charset=utf-8", "image/png", ... chosen by extension.
  const char* content_type;
  const unsigned char* data;
  size_t size;
  absl::string_view bytes() const { return {reinterpret_cast<const char*>(data), size}; }
};

// nullptr when there is no such file.
const Asset* FindAsset(absl::string_view name);
// Every embedded name, sorted.
std::vector<std::string> AssetNames();

namespace internal {
// Defined in the generated embedded_assets.cc.
extern const Asset kEmbeddedAssets[];
extern const size_t kEmbeddedAssetCount;
}  // namespace internal

}  // namespace cutover::http
