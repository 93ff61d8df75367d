// Process plumbing for the sandbox: spawning servers as the postgres user,
// identifying a pid safely (start time + command line, to survive pid reuse),
// signalling and waiting for exit, and picking free loopback ports.
// All functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cutover::sandbox::internal {

// The fields of /proc/<pid>/stat we need.
struct ProcStat {
  char state = '?';  // R, S, D, Z, X, ...
  pid_t pgid = 0;
  uint64_t start_ticks = 0;  // field 22: start time since boot, clock ticks
};

std::optional<ProcStat> ReadProcStat(pid_t pid);
// argv joined with spaces; empty when the process is gone (or a zombie).
std::string ReadCmdline(pid_t pid);
// Start time of the calling process (read fresh: valid after fork()).
uint64_t SelfStartTicks();

// The process identified by (pid, start_ticks) exists and is not a zombie.
// start_ticks == 0 matches any start time.
bool IsRunning(pid_t pid, uint64_t start_ticks);

// Who servers run as: the postgres user when we are root, else ourselves.
struct RunAs {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};
absl::StatusOr<RunAs> ServerUser();
// chown to the server user (no-op when not switching users).
absl::Status ChownToServer(const RunAs& run_as, const std::string& path);

// fork()+exec of argv[0] (an absolute path) in a new session (its pid is its
// process group), as `run_as`, stdin from /dev/null, stdout+stderr appended
// to `log_path`, every other fd closed. Returns the child's pid once exec
// succeeded (or the exec error).
absl::StatusOr<pid_t> SpawnServer(const std::vector<std::string>& argv, const std::string& log_path,
                                  const std::string& cwd, const RunAs& run_as);

// Sends `sig` to the process (pid, start_ticks) if it is still that process;
// to its whole process group when `group` and it leads one. False when the
// process is already gone.
bool SignalIfSame(pid_t pid, uint64_t start_ticks, int sig, bool group = false);

// Polls until the process (pid, start_ticks) has exited, reaping it when it
// is our child (also an orphan adopted by a child subreaper). True when it
// exited before `deadline`.
bool WaitExited(pid_t pid, uint64_t start_ticks, absl::Time deadline);

// Stops a server: `first_signal`, wait `grace`; then SIGKILL to its process
// group and wait `kill_grace`. OK once it is gone (also when it already was);
// Internal when it survived SIGKILL.
absl::Status StopProcess(pid_t pid, uint64_t start_ticks, int first_signal, absl::Duration grace,
                         absl::Duration kill_grace, const std::string& what);

// A loopback port free right now (bind 127.0.0.1:0), never one this process
// handed out and did not release yet.
absl::StatusOr<int> PickFreePort();
void ReleasePort(int port);

// The last `max_bytes` of a file from `offset` on, trimmed to whole lines.
std::string FileTail(const std::string& path, size_t max_bytes, uint64_t offset = 0);
uint64_t FileSize(const std::string& path);

// Writes `contents` to path.tmp then renames it over `path`, with `mode`.
absl::Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode);
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Absolute path of an executable: `preferred` if executable, else searched in PATH.
std::string FindExecutable(const std::vector<std::string>& preferred, const std::string& name);

}  // namespace cutover::sandbox::internal
