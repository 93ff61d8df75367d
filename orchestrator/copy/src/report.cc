#include "cutover/copy/report.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cutover/common/proto_time.h"

namespace cutover::copy {

namespace {
bool DataIn(cutover::v1::TableState s) {
  return s == cutover::v1::TABLE_STATE_COPIED || s == cutover::v1::TABLE_STATE_INDEXING ||
         s == cutover::v1::TABLE_STATE_DONE;
}
}  // namespace

double CopyFraction(const cutover::v1::CopyProgress& p) {
  double total = 0, done = 0;
  bool all_in = true;
  for (const auto& t : p.tables()) {
    const double est = static_cast<double>(std::max<int64_t>(t.bytes_estimated(), 1));
    if (t.rows_estimated() == 0 && t.bytes_estimated() == 0 && DataIn(t.state())) continue;
    total += est;
    if (DataIn(t.state())) {
      done += est;
    } else {
      all_in = false;
      done += std::min(est, static_cast<double>(t.bytes_copied()));
    }
  }
  if (all_in) return 1.0;
  return total > 0 ? done / total : 0.0;
}

std::string FormatProgressLine(const cutover::v1::CopyProgress& p) {
  int done = 0, indexed = 0;
  for (const auto& t : p.tables()) {
    if (DataIn(t.state())) ++done;
    if (t.state() == cutover::v1::TABLE_STATE_DONE) ++indexed;
  }
  const double frac = CopyFraction(p);
  const int width = 24;
  const int filled = static_cast<int>(frac * width);
  std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  std::string line = absl::StrFormat("[%s] %3.0f%%  %s  %s rows  %s/s", bar, frac * 100,
                                     HumanBytes(static_cast<double>(p.bytes_copied())),
                                     HumanCount(static_cast<double>(p.rows_copied())), HumanBytes(p.bytes_per_second()));
  if (p.has_eta() && done < p.tables_size()) absl::StrAppend(&line, "  ETA ", HumanDuration(FromProto(p.eta())));
  absl::StrAppend(&line, "  tables copied ", done, "/", p.tables_size(), ", indexed ", indexed, "/", p.tables_size());
  return line;
}

std::string FormatCopyReport(const cutover::v1::CopyReport& r) {
  std::string out;
  absl::StrAppend(&out, "Copy report (snapshot ", r.snapshot_id(), ")\n");
  absl::StrAppendFormat(&out, "  tables %d, indexes %d, constraints %d, sequences %d\n", r.tables(), r.indexes(),
                        r.constraints(), r.sequences());
  absl::StrAppendFormat(&out, "  rows %s (%d), stream %s\n", HumanCount(static_cast<double>(r.rows())), r.rows(),
                        HumanBytes(static_cast<double>(r.bytes())));
  absl::StrAppendFormat(&out, "  schema %s, data %s, data+indexes %s, total %s\n",
                        HumanDuration(FromProto(r.schema_duration())), HumanDuration(FromProto(r.data_duration())),
                        HumanDuration(FromProto(r.data_and_index_duration())),
                        HumanDuration(FromProto(r.total_duration())));
  const double data_s = absl::ToDoubleSeconds(FromProto(r.data_duration()));
  if (data_s > 0) {
    absl::StrAppendFormat(&out, "  data rate %s rows/s, %s/s\n", HumanCount(r.rows() / data_s),
                          HumanBytes(r.bytes() / data_s));
  }
  if (r.has_progress() && r.progress().tables_size() > 0) {
    absl::StrAppend(&out, "\n  ", absl::StrFormat("%-44s %12s %10s %8s %8s %s", "table", "rows", "stream", "copy",
                                                   "indexes", "idx time"),
                    "\n");
    for (const auto& t : r.progress().tables()) {
      absl::StrAppend(&out, "  ",
                      absl::StrFormat("%-44s %12d %10s %8s %4d/%-3d %s", t.table(), t.rows_copied(),
                                      HumanBytes(static_cast<double>(t.bytes_copied())),
                                      HumanDuration(FromProto(t.copy_duration())), t.indexes_done(),
                                      t.indexes_total(), HumanDuration(FromProto(t.index_duration()))),
                      "\n");
    }
  }
  if (r.has_verify()) {
    const auto& v = r.verify();
    int ok = 0;
    for (const auto& t : v.tables()) ok += t.match() ? 1 : 0;
    absl::StrAppendFormat(&out, "\nVerify (%s, same snapshot on blue): %s — %d/%d tables match, took %s\n",
                          v.content_hashed() ? "row count + content hash" : "row count only",
                          v.all_match() ? "PASS" : "FAIL", ok, v.tables_size(),
                          HumanDuration(FromProto(v.duration())));
    for (const auto& t : v.tables()) {
      absl::StrAppend(&out, "  ",
                      absl::StrFormat("%-4s %-44s blue %10d rows  green %10d rows%s", t.match() ? "ok" : "DIFF",
                                      t.table(), t.blue_rows(), t.green_rows(),
                                      t.match() ? "" : absl::StrCat("  hash blue ", t.blue_hash(), " green ",
                                                                    t.green_hash())),
                      "\n");
    }
  }
  return out;
}

}  // namespace cutover::copy
