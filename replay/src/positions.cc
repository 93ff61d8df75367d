#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/replay/queue.h"

namespace cutover::replay {

int64_t NextOffset(const Positions& positions, int32_t partition) {
  for (const auto& p : positions) {
    if (p.partition() == partition) return p.offset();
  }
  return 0;
}

void SetNextOffset(Positions* positions, int32_t partition, int64_t next) {
  for (auto& p : *positions) {
    if (p.partition() == partition) {
      p.set_offset(next);
      return;
    }
  }
  cutover::v1::QueuePosition p;
  p.set_partition(partition);
  p.set_offset(next);
  positions->push_back(p);
  std::sort(positions->begin(), positions->end(),
            [](const auto& a, const auto& b) { return a.partition() < b.partition(); });
}

bool Reached(const Positions& positions, const Positions& seal) {
  for (const auto& s : seal) {
    if (NextOffset(positions, s.partition()) < s.offset()) return false;
  }
  return true;
}

std::string FormatPositions(const Positions& positions) {
  return absl::StrJoin(positions, " ", [](std::string* out, const cutover::v1::QueuePosition& p) {
    absl::StrAppend(out, "p", p.partition(), ":", p.offset());
  });
}

}  // namespace cutover::replay
