// Logging setup shared by the binaries: spdlog to stderr with a level from
// --log-level / CUTOVER_LOG_LEVEL. Secrets never reach the log: log DSNs only
// through pg::RedactDsn / pg::DescribeDsn.
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace cutover {

// Sets the default logger's level ("trace", "debug", "info", "warn", "error",
// "off"); InvalidArgument naming the accepted values otherwise.
absl::Status SetupLogging(absl::string_view level);

}  // namespace cutover
