// The sandbox state file, <root>/sandbox.state: "key=value" lines written
// atomically by the owner after every start/stop, read by Attach() and by
// crash cleanup. Format: deploy/sandbox/README.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cutover::sandbox::internal {

inline constexpr char kStateFileName[] = "sandbox.state";
inline constexpr int kStateVersion = 1;

struct ServerRecord {
  std::string name;  // cluster name, or "pgbouncer"
  int port = 0;
  pid_t pid = 0;  // 0 when stopped
  uint64_t start_ticks = 0;
};

struct SandboxState {
  std::string root;
  bool persistent = false;
  bool fast = true;
  pid_t owner_pid = 0;
  uint64_t owner_start_ticks = 0;
  std::string password;
  std::vector<ServerRecord> clusters;  // in creation order
  bool has_bouncer = false;
  ServerRecord bouncer;
};

std::string FormatState(const SandboxState& state);
// InvalidArgument (naming `path`) when a line or value is malformed.
absl::StatusOr<SandboxState> ParseState(const std::string& text, const std::string& path);

}  // namespace cutover::sandbox::internal
