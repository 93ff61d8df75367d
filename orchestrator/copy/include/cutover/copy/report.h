// Human renderings of copy progress and reports (the CLI, the quickstart and
// cutoverctl share them). JSON renderings use protobuf's json_util directly.
#pragma once

#include <string>

#include "cutover/v1/cutover.pb.h"

namespace cutover::copy {

// Fraction of the data copy done, 0..1: finished tables count in full,
// running ones by streamed bytes (capped at their estimate).
double CopyFraction(const cutover::v1::CopyProgress& progress);

// One status line: "copy 42% 1.2 GB / 2.9 GB  35.1 MB/s  ETA 48s  tables 5/12".
std::string FormatProgressLine(const cutover::v1::CopyProgress& progress);

// The multi-line copy + verify report.
std::string FormatCopyReport(const cutover::v1::CopyReport& report);

}  // namespace cutover::copy
