#include "cutover/http/assets.h"

#include <algorithm>

namespace cutover::http {

const Asset* FindAsset(absl::string_view name) {
  for (size_t i = 0; i < internal::kEmbeddedAssetCount; ++i) {
    if (name == internal::kEmbeddedAssets[i].name) return &internal::kEmbeddedAssets[i];
  }
  return nullptr;
}

std::vector<std::string> AssetNames() {
  std::vector<std::string> out;
  for (size_t i = 0; i < internal::kEmbeddedAssetCount; ++i) out.emplace_back(internal::kEmbeddedAssets[i].name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cutover::http
