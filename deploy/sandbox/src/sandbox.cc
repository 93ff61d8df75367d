#include "cutover/sandbox/sandbox.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "process.h"
#include "spdlog/spdlog.h"
#include "state.h"

#ifndef CUTOVER_PGBOUNCER_PATH
#define CUTOVER_PGBOUNCER_PATH "/usr/sbin/pgbouncer"
#endif

namespace cutover::sandbox {
namespace fs = std::filesystem;
using internal::FileSize;
using internal::FileTail;
using internal::IsRunning;
using internal::ReadCmdline;
using internal::ReadFile;
using internal::ReadProcStat;
using internal::RunAs;
using internal::SandboxState;
using internal::ServerRecord;
using internal::WriteFileAtomic;

namespace {

constexpr char kTmpDir[] = "/tmp";
constexpr char kTmpPrefix[] = "cutover-sandbox-";
constexpr char kBouncerName[] = "pgbouncer";
constexpr absl::Duration kInitdbTimeout = absl::Seconds(120);
constexpr absl::Duration kCopyTimeout = absl::Seconds(120);
// Generous: a durable cluster stopped immediately replays its WAL on start.
constexpr absl::Duration kServerStartTimeout = absl::Seconds(180);
constexpr absl::Duration kFastStopGrace = absl::Seconds(60);
constexpr absl::Duration kImmediateStopGrace = absl::Seconds(15);
constexpr absl::Duration kBouncerStopGrace = absl::Seconds(10);
constexpr absl::Duration kKillGrace = absl::Seconds(10);
// Longer than the slowest stop another cleaner may be in (fast-stop grace +
// SIGKILL grace + margin).
constexpr absl::Duration kCleanupLockTimeout = absl::Seconds(80);
constexpr int kMaxPortAttempts = 8;
constexpr size_t kLogTailBytes = 3000;
// How much of a failed server's log is searched for "Address already in use".
constexpr size_t kScanLogBytes = size_t{64} * 1024;
// sun_path is 108 bytes; PostgreSQL also refuses longer socket paths.
constexpr size_t kMaxSocketPath = 100;

std::string Errno() { return std::strerror(errno); }

bool ValidClusterName(absl::string_view n) {
  if (n.empty() || n.size() > 40 || !absl::ascii_islower(n[0])) {
    return false;
  }
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_'; });
}

bool ValidSettingName(absl::string_view n) {
  if (n.empty()) {
    return false;
  }
  return std::all_of(n.begin(), n.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.';
  });
}

absl::StatusOr<std::string> RandomPassword() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  while (out.size() < 24) {
    unsigned char buf[64];
    ssize_t n = getrandom(buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::InternalError(absl::StrCat("getrandom: ", Errno()));
    }
    for (ssize_t i = 0; i < n && out.size() < 24; ++i) {
      if (buf[i] < 248) {
        out.push_back(kAlphabet[buf[i] % 62]);  // 248 = 4 * 62: no bias
      }
    }
  }
  return out;
}

// A libpq DSN value, quoted only when it has to be.
std::string DsnValue(absl::string_view v) {
  bool plain = !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
    return c == ' ' || c == '\'' || c == '\\' || c == '=' || absl::ascii_iscntrl(c);
  });
  if (plain) {
    return std::string(v);
  }
  return absl::StrCat("'", absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
}

std::string ShellQuote(absl::string_view v, bool always) {
  bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    return absl::ascii_isalnum(c) || absl::StrContains("_./:=@%+-,", c);
  });
  if (plain && !always) {
    return std::string(v);
  }
  return absl::StrCat("'", absl::StrReplaceAll(v, {{"'", "'\\''"}}), "'");
}

// A postgresql.conf string literal.
std::string ConfQuote(absl::string_view v) {
  return absl::StrCat("'", absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"'", "''"}}), "'");
}

bool PortInUse(absl::string_view log) {
  return absl::StrContains(log, "Address already in use") || absl::StrContains(log, "could not bind");
}

bool TcpAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string InitdbLocale() {
  locale_t l = ::newlocale(LC_ALL_MASK, "C.UTF-8", nullptr);
  if (l == nullptr) {
    return "C";
  }
  ::freelocale(l);
  return "C.UTF-8";
}

// Polls with a growing interval: fast for servers that start in milliseconds,
// cheap for slow ones.
class Backoff {
 public:
  void Wait() {
    absl::SleepFor(next_);
    next_ = std::min(next_ * 2, absl::Milliseconds(50));
  }

 private:
  absl::Duration next_ = absl::Milliseconds(2);
};

// One process to stop. `what` names it in errors.
struct StopTarget {
  std::string what;
  pid_t pid = 0;
  uint64_t start_ticks = 0;
  int signal = SIGINT;
  absl::Duration grace;
};

// Signals every target first, then waits for each (so shutdowns overlap);
// SIGKILLs the process group of those that outlive their grace period.
absl::Status StopTargets(const std::vector<StopTarget>& targets) {
  absl::Time start = absl::Now();
  std::vector<bool> signalled(targets.size(), false);
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    if (t.pid > 0) {
      signalled[i] = internal::SignalIfSame(t.pid, t.start_ticks, t.signal);
    }
  }
  absl::Status first_error;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    if (t.pid <= 0) {
      continue;
    }
    if (!signalled[i]) {
      internal::WaitExited(t.pid, t.start_ticks, absl::Now());  // reaps a zombie child
      continue;
    }
    if (internal::WaitExited(t.pid, t.start_ticks, start + t.grace)) {
      continue;
    }
    spdlog::warn("sandbox: {} (pid {}) did not stop within {}; sending SIGKILL to its process group", t.what,
                 t.pid, absl::FormatDuration(t.grace));
    internal::SignalIfSame(t.pid, t.start_ticks, SIGKILL, /*group=*/true);
    if (!internal::WaitExited(t.pid, t.start_ticks, absl::Now() + kKillGrace) && first_error.ok()) {
      first_error =
          absl::InternalError(absl::StrCat(t.what, " (pid ", t.pid, ") is still running after SIGKILL"));
    }
  }
  return first_error;
}

// The process (pid, start_ticks) is running and was started from `root`.
// Guards every signal sent to a pid read from a file against pid reuse.
bool IsOurServer(pid_t pid, uint64_t start_ticks, const std::string& root) {
  if (pid <= 0 || !IsRunning(pid, start_ticks)) {
    return false;
  }
  return absl::StrContains(ReadCmdline(pid), root + "/");
}

pid_t PidFromFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return 0;
  }
  int pid = 0;
  absl::string_view first = *text;
  first = first.substr(0, first.find('\n'));
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(first), &pid) ? pid : 0;
}

// Stops the servers of a sandbox known only from its state file (crash
// cleanup, Start() on a directory holding an old sandbox, Attach + Stop):
// the recorded pids plus the pids PostgreSQL and PgBouncer wrote themselves
// (a crash may come between spawning a server and recording it).
absl::Status StopRecorded(const SandboxState& st, const std::string& dir) {
  std::vector<StopTarget> targets;
  auto add = [&](const std::string& what, pid_t pid, uint64_t start, int sig, absl::Duration grace) {
    for (const auto& t : targets) {
      if (t.pid == pid) {
        return;
      }
    }
    if (!IsOurServer(pid, start, st.root)) {
      return;
    }
    if (start == 0) {
      auto ps = ReadProcStat(pid);
      if (!ps) {
        return;
      }
      start = ps->start_ticks;
    }
    targets.push_back({what, pid, start, sig, grace});
  };
  if (st.has_bouncer) {
    add("pgbouncer", st.bouncer.pid, st.bouncer.start_ticks, SIGTERM, kBouncerStopGrace);
    add("pgbouncer", PidFromFile(dir + "/pgbouncer.pid"), 0, SIGTERM, kBouncerStopGrace);
  }
  for (const auto& c : st.clusters) {
    add(c.name, c.pid, c.start_ticks, SIGINT, kFastStopGrace);
    add(c.name, PidFromFile(absl::StrCat(dir, "/", c.name, "/data/postmaster.pid")), 0, SIGINT,
        kFastStopGrace);
  }
  return StopTargets(targets);
}

absl::Status RemoveDir(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot remove ", dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

bool LockWithDeadline(int fd, absl::Time deadline) {
  Backoff backoff;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return false;
    }
    if (absl::Now() >= deadline) {
      return false;
    }
    backoff.Wait();
  }
  return true;
}

// The state of the sandbox in `dir` if it is abandoned: not persistent and
// its owner process gone (no such pid, a zombie, or a different start time).
std::optional<SandboxState> AbandonedState(const std::string& dir) {
  std::string state_path = dir + "/" + internal::kStateFileName;
  auto text = ReadFile(state_path);
  if (!text.ok()) {
    return std::nullopt;  // not a sandbox, being created, or already removed
  }
  auto st = internal::ParseState(*text, state_path);
  if (!st.ok()) {
    spdlog::warn("sandbox: ignoring {}: {}", dir, std::string(st.status().message()));
    return std::nullopt;
  }
  if (st->persistent || st->root != dir || IsRunning(st->owner_pid, st->owner_start_ticks)) {
    return std::nullopt;
  }
  return *std::move(st);
}

// Stops and removes sandboxes under /tmp whose owner process is gone and
// that are not persistent. Best effort: problems are logged, never fatal.
void CleanupAbandoned() {
  DIR* d = ::opendir(kTmpDir);
  if (d == nullptr) {
    return;
  }
  std::vector<std::string> candidates;
  while (dirent* e = ::readdir(d)) {
    if (absl::StartsWith(e->d_name, kTmpPrefix)) {
      candidates.push_back(absl::StrCat(kTmpDir, "/", e->d_name));
    }
  }
  ::closedir(d);
  for (const auto& dir : candidates) {
    if (!AbandonedState(dir)) {
      continue;  // live sandboxes are never locked
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      continue;
    }
    // Only cleaners take this lock. When another process is cleaning this
    // directory, wait for it, so that our caller never sees a half-stopped
    // abandoned sandbox (the state file is gone afterwards).
    if (!LockWithDeadline(fd, absl::Now() + kCleanupLockTimeout)) {
      spdlog::warn("sandbox: {} is locked by another cleanup for too long; skipping it", dir);
      ::close(fd);
      continue;
    }
    if (auto st = AbandonedState(dir)) {  // still abandoned, now that we hold the lock
      spdlog::info("sandbox: cleaning up abandoned sandbox {} (owner pid {} is gone)", dir, st->owner_pid);
      absl::Status stopped = StopRecorded(*st, dir);
      if (stopped.ok()) {
        stopped = RemoveDir(dir);
      }
      if (!stopped.ok()) {
        spdlog::warn("sandbox: cleanup of {} failed: {}", dir, std::string(stopped.message()));
      }
    }
    ::close(fd);
  }
}

// The server user must be able to reach `root`: every existing ancestor
// searchable by it.
absl::Status CheckReachable(const std::string& root, const RunAs& run_as) {
  if (!run_as.switch_user) {
    return absl::OkStatus();
  }
  fs::path p = fs::path(root).parent_path();
  while (true) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) {
      bool ok = (st.st_mode & S_IXOTH) != 0 || (st.st_uid == run_as.uid && (st.st_mode & S_IXUSR) != 0) ||
                ((st.st_mode & S_IXGRP) != 0 &&
                 std::find(run_as.groups.begin(), run_as.groups.end(), st.st_gid) != run_as.groups.end());
      if (!ok) {
        return absl::FailedPreconditionError(
            absl::StrCat("the postgres user cannot reach ", root, ": ", p.string(), " (mode ",
                         absl::StrFormat("%04o", st.st_mode & 07777),
                         ") is not searchable by it; chmod o+x it or use a directory under /tmp"));
      }
    }
    if (p == p.root_path() || p.empty()) {
      break;
    }
    p = p.parent_path();
  }
  return absl::OkStatus();
}

absl::Status Chown(const RunAs& run_as, const std::string& path) {
  return internal::ChownToServer(run_as, path);
}

absl::Status MakeDir(const RunAs& run_as, const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", path, ": ", Errno()));
  }
  return Chown(run_as, path);
}

// A file the servers read: written atomically, owned by the server user.
absl::Status WriteServerFile(const RunAs& run_as, const std::string& path, const std::string& contents,
                             int mode = 0600) {
  RETURN_IF_ERROR(WriteFileAtomic(path, contents, mode));
  return Chown(run_as, path);
}

absl::Status ValidateOptions(const SandboxOptions& o) {
  if (o.clusters.empty()) {
    return absl::InvalidArgumentError("sandbox: at least one cluster is required");
  }
  std::vector<std::string> seen;
  for (const auto& c : o.clusters) {
    if (!ValidClusterName(c) || c == "sock" || c == "template") {
      return absl::InvalidArgumentError(absl::StrCat(
          "sandbox: cluster name '", c,
          "' is invalid: expected a lowercase identifier [a-z][a-z0-9_]* (at most 40 chars), not 'sock' or "
          "'template'"));
    }
    if (std::find(seen.begin(), seen.end(), c) != seen.end()) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox: cluster '", c, "' is listed twice"));
    }
    seen.push_back(c);
  }
  if (o.pgbouncer && std::find(seen.begin(), seen.end(), "blue") == seen.end()) {
    return absl::InvalidArgumentError(
        "sandbox: PgBouncer sits in front of 'blue', which is not among the clusters");
  }
  for (const auto& [k, v] : o.extra_settings) {
    if (!ValidSettingName(k)) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox: '", k, "' is not a valid setting name"));
    }
  }
  return absl::OkStatus();
}

// Creates or recycles the root directory. An existing directory must be empty
// or hold an earlier sandbox, whose servers are stopped and files removed.
absl::StatusOr<std::string> PrepareRoot(const SandboxOptions& o, const RunAs& run_as) {
  std::string root;
  if (o.root_dir.empty()) {
    std::string tmpl = absl::StrCat(kTmpDir, "/", kTmpPrefix, "XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", Errno()));
    }
    root = tmpl;
  } else {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::absolute(o.root_dir), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox dir ", o.root_dir, ": ", ec.message()));
    }
    root = p.string();
    while (root.size() > 1 && root.back() == '/') {
      root.pop_back();
    }
    RETURN_IF_ERROR(CheckReachable(root, run_as));
    if (fs::exists(root, ec)) {
      if (!fs::is_directory(root, ec)) {
        return absl::InvalidArgumentError(
            absl::StrCat("sandbox dir ", root, " exists and is not a directory"));
      }
      std::string state_path = root + "/" + internal::kStateFileName;
      if (fs::exists(state_path, ec)) {
        ASSIGN_OR_RETURN(std::string text, ReadFile(state_path));
        auto st = internal::ParseState(text, state_path);
        if (!st.ok()) {
          return absl::FailedPreconditionError(
              absl::StrCat(st.status().message(), "; remove ", root, " by hand (stop its servers first)"));
        }
        if (!st->persistent && IsRunning(st->owner_pid, st->owner_start_ticks)) {
          return absl::FailedPreconditionError(
              absl::StrCat("sandbox dir ", root, " is in use by the running process ", st->owner_pid));
        }
        spdlog::info("sandbox: stopping the previous sandbox in {} before starting afresh", root);
        RETURN_IF_ERROR(StopRecorded(*st, root));
        for (const auto& entry : fs::directory_iterator(root, ec)) {
          RETURN_IF_ERROR(RemoveDir(entry.path().string()));
        }
      } else if (!fs::is_empty(root, ec)) {
        return absl::FailedPreconditionError(
            absl::StrCat("sandbox dir ", root, " is not empty and holds no ", internal::kStateFileName,
                         ": refusing to use it (pick a new or empty directory)"));
      }
    } else {
      fs::create_directories(root, ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("cannot create ", root, ": ", ec.message()));
      }
    }
  }
  if (::chmod(root.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("chmod ", root, ": ", Errno()));
  }
  RETURN_IF_ERROR(Chown(run_as, root));
  return root;
}

}  // namespace

// ---------------------------------------------------------------------------

namespace {

struct Server {
  std::string name;  // cluster name, or "pgbouncer"
  std::string dir;   // cluster: <root>/<name>; pgbouncer: <root>
  std::string log;   // where the process's stdout/stderr go
  int port = 0;
  pid_t pid = 0;  // 0 when stopped
  uint64_t start_ticks = 0;
  std::string DataDir() const { return dir + "/data"; }
};

}  // namespace

class Sandbox::Impl {
 public:
  Impl(std::string root, std::string password, bool persistent, bool fast, bool attached, pid_t owner_pid,
       uint64_t owner_start_ticks, RunAs run_as)
      : root_(std::move(root)),
        password_(std::move(password)),
        persistent_(persistent),
        fast_(fast),
        attached_(attached),
        owner_pid_(owner_pid),
        owner_start_ticks_(owner_start_ticks),
        run_as_(std::move(run_as)) {
    std::string sock = root_ + "/sock";
    if (sock.size() + std::strlen("/.s.PGSQL.65535") < kMaxSocketPath) {
      sock_dir_ = sock;
    }
  }

  // ---- creation (Start) ----

  absl::Status Create(const SandboxOptions& o, const std::string& initdb, const std::string& postgres,
                      const std::string& bouncer) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    keep_dir_ = o.keep_dir;
    extra_settings_ = o.extra_settings;
    postgres_bin_ = postgres;
    bouncer_bin_ = bouncer;
    for (const auto& name : o.clusters) {
      order_.push_back(name);
      Server s;
      s.name = name;
      s.dir = absl::StrCat(root_, "/", name);
      s.log = s.dir + "/postgres.log";
      clusters_[name] = s;
    }
    has_bouncer_ = o.pgbouncer;
    if (has_bouncer_) {
      bouncer_.name = kBouncerName;
      bouncer_.dir = root_;
      bouncer_.log = root_ + "/pgbouncer.stderr";
    }
    RETURN_IF_ERROR(WriteStateLocked());
    if (!sock_dir_.empty()) {
      RETURN_IF_ERROR(MakeDir(run_as_, sock_dir_));
    }

    absl::Time t0 = absl::Now();
    RETURN_IF_ERROR(InitTemplateLocked(initdb));
    spdlog::debug("sandbox: initdb took {}", absl::FormatDuration(absl::Now() - t0));
    t0 = absl::Now();
    const std::string tmpl = root_ + "/template";
    // cp -a keeps ownership and modes and is much faster than more initdbs;
    // the copies run concurrently, the last cluster gets the template itself.
    std::vector<std::future<absl::StatusOr<std::string>>> copies;
    for (size_t i = 0; i < order_.size(); ++i) {
      Server& s = clusters_[order_[i]];
      RETURN_IF_ERROR(MakeDir(run_as_, s.dir));
      if (i + 1 == order_.size()) {
        break;
      }
      CommandSpec cp;
      cp.argv = {"cp", "-a", tmpl, s.DataDir()};
      cp.timeout = kCopyTimeout;
      copies.push_back(std::async(std::launch::async, [cp] { return RunCommandOk(cp); }));
    }
    absl::Status copied;
    for (size_t i = 0; i < copies.size(); ++i) {
      auto out = copies[i].get();
      if (!out.ok() && copied.ok()) {
        copied = Annotate(out.status(), absl::StrCat("copy the template cluster for ", order_[i]));
      }
    }
    RETURN_IF_ERROR(copied);
    const std::string last_data = clusters_[order_.back()].DataDir();
    if (::rename(tmpl.c_str(), last_data.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename ", tmpl, " -> ", last_data, ": ", Errno()));
    }
    spdlog::debug("sandbox: copying the template took {}", absl::FormatDuration(absl::Now() - t0));
    t0 = absl::Now();
    std::vector<std::string> all = order_;
    RETURN_IF_ERROR(StartClustersLocked(all, /*new_port_on_conflict=*/true));
    spdlog::debug("sandbox: starting the clusters took {}", absl::FormatDuration(absl::Now() - t0));
    if (has_bouncer_) {
      t0 = absl::Now();
      RETURN_IF_ERROR(WriteServerFile(run_as_, root_ + "/userlist.txt",
                                      absl::StrCat("\"postgres\" \"", password_, "\"\n")));
      RETURN_IF_ERROR(StartBouncerLocked(/*new_port_on_conflict=*/true));
      spdlog::debug("sandbox: starting pgbouncer took {}", absl::FormatDuration(absl::Now() - t0));
    }
    return WriteStateLocked();
  }

  // ---- attach ----

  void AdoptState(const SandboxState& st, const std::string& postgres, const std::string& bouncer)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    postgres_bin_ = postgres;
    bouncer_bin_ = bouncer;
    for (const auto& c : st.clusters) {
      order_.push_back(c.name);
      Server s;
      s.name = c.name;
      s.dir = absl::StrCat(root_, "/", c.name);
      s.log = s.dir + "/postgres.log";
      s.port = c.port;
      s.pid = c.pid;
      s.start_ticks = c.start_ticks;
      clusters_[c.name] = s;
    }
    has_bouncer_ = st.has_bouncer;
    if (has_bouncer_) {
      bouncer_.name = kBouncerName;
      bouncer_.dir = root_;
      bouncer_.log = root_ + "/pgbouncer.stderr";
      bouncer_.port = st.bouncer.port;
      bouncer_.pid = st.bouncer.pid;
      bouncer_.start_ticks = st.bouncer.start_ticks;
    }
  }

  // ---- stop ----

  bool ShouldStopOnDestruction() const { return !attached_ && !persistent_ && ::getpid() == owner_pid_; }

  absl::Status StopAll() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    if (stopped_) {
      return absl::OkStatus();
    }
    std::vector<StopTarget> targets;
    std::vector<Server*> servers;
    if (has_bouncer_) {
      servers.push_back(&bouncer_);
    }
    for (const auto& name : order_) {
      servers.push_back(&clusters_[name]);
    }
    for (Server* s : servers) {
      if (s->pid <= 0) {
        continue;
      }
      if (!IsOurServer(s->pid, s->start_ticks, root_)) {
        internal::WaitExited(s->pid, s->start_ticks, absl::Now());  // reap if it died on its own
        continue;
      }
      bool bouncer = s == &bouncer_;
      targets.push_back({s->name, s->pid, s->start_ticks, bouncer ? SIGTERM : SIGINT,
                         bouncer ? kBouncerStopGrace : kFastStopGrace});
    }
    absl::Status st = StopTargets(targets);
    if (!st.ok()) {
      // Keep the directory and the recorded pids of what survived: a later
      // Stop() (or crash cleanup) tries again.
      return st;
    }
    for (Server* s : servers) {
      s->pid = 0;
      s->start_ticks = 0;
      if (!attached_ && s->port > 0) {
        internal::ReleasePort(s->port);
      }
    }
    stopped_ = true;
    if (keep_dir_) {
      // Marked persistent: crash cleanup leaves a kept directory alone.
      return WriteStateLocked(/*force_persistent=*/true);
    }
    return RemoveDir(root_);
  }

  // ---- clusters ----

  absl::Status StopCluster(absl::string_view name, bool immediate) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Server * s, FindLocked(name));
    return StopClusterLocked(*s, immediate);
  }

  absl::Status StartCluster(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Server * s, FindLocked(name));
    if (s->pid > 0 && IsRunning(s->pid, s->start_ticks)) {
      return absl::OkStatus();
    }
    std::vector<std::string> one = {s->name};
    absl::Status st = StartClustersLocked(one, /*new_port_on_conflict=*/false);
    absl::Status w = WriteStateLocked();
    return st.ok() ? w : st;
  }

  absl::Status RestartCluster(absl::string_view name, bool immediate) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Server * s, FindLocked(name));
    RETURN_IF_ERROR(StopClusterLocked(*s, immediate));
    std::vector<std::string> one = {s->name};
    absl::Status st = StartClustersLocked(one, /*new_port_on_conflict=*/false);
    absl::Status w = WriteStateLocked();
    return st.ok() ? w : st;
  }

  absl::Status RestartBouncer() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    if (stopped_) {
      return absl::FailedPreconditionError("sandbox: already stopped");
    }
    if (!has_bouncer_) {
      return absl::FailedPreconditionError("sandbox: this sandbox has no PgBouncer");
    }
    absl::Status st =
        StopTargets({{kBouncerName, bouncer_.pid, bouncer_.start_ticks, SIGTERM, kBouncerStopGrace}});
    bouncer_.pid = 0;
    bouncer_.start_ticks = 0;
    if (st.ok()) {
      st = StartBouncerLocked(/*new_port_on_conflict=*/false);
    }
    absl::Status w = WriteStateLocked();
    return st.ok() ? w : st;
  }

  // ---- accessors ----

  std::string Dsn(absl::string_view cluster, absl::string_view dbname) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto it = clusters_.find(std::string(cluster));
    if (it == clusters_.end()) {
      return "";
    }
    return DsnFor(it->second.port, dbname);
  }
  int Port(absl::string_view cluster) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto it = clusters_.find(std::string(cluster));
    return it == clusters_.end() ? 0 : it->second.port;
  }
  pid_t ClusterPid(absl::string_view cluster) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto it = clusters_.find(std::string(cluster));
    return it == clusters_.end() ? 0 : it->second.pid;
  }
  std::vector<std::string> Clusters() const { return order_; }
  int BouncerPort() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return has_bouncer_ ? bouncer_.port : 0;
  }
  pid_t BouncerPid() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return has_bouncer_ ? bouncer_.pid : 0;
  }
  std::string BouncerDsn(absl::string_view dbname) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return has_bouncer_ ? DsnFor(bouncer_.port, dbname) : "";
  }
  std::string BouncerIniPath() const { return has_bouncer_ ? root_ + "/pgbouncer.ini" : ""; }
  const std::string& root() const { return root_; }
  const std::string& password() const { return password_; }
  bool persistent() const { return persistent_; }
  void set_keep_dir(bool keep) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    keep_dir_ = keep;
  }

  std::vector<ServerInfo> Servers() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    std::vector<ServerInfo> out;
    auto add = [&](const Server& s) {
      out.push_back({s.name, s.port, s.pid, s.pid > 0 && IsOurServer(s.pid, s.start_ticks, root_), s.log});
    };
    for (const auto& name : order_) {
      add(clusters_.at(name));
    }
    if (has_bouncer_) {
      add(bouncer_);
      out.back().log_path = root_ + "/pgbouncer.log";
    }
    return out;
  }

  std::string EnvContents() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    std::string out;
    absl::StrAppend(&out, "CUTOVER_SANDBOX_DIR=", ShellQuote(root_, false), "\n");
    for (const auto& name : order_) {
      const Server& s = clusters_.at(name);
      std::string upper = absl::AsciiStrToUpper(name);
      absl::StrAppend(&out, upper, "_DSN=", ShellQuote(DsnFor(s.port, "postgres"), true), "\n");
      absl::StrAppend(&out, upper, "_PORT=", s.port, "\n");
    }
    if (has_bouncer_) {
      absl::StrAppend(&out, "BOUNCER_DSN=", ShellQuote(DsnFor(bouncer_.port, "postgres"), true), "\n");
      absl::StrAppend(&out, "BOUNCER_ADMIN_DSN=", ShellQuote(DsnFor(bouncer_.port, "pgbouncer"), true), "\n");
      absl::StrAppend(&out, "BOUNCER_INI=", ShellQuote(root_ + "/pgbouncer.ini", false), "\n");
      absl::StrAppend(&out, "BOUNCER_PORT=", bouncer_.port, "\n");
    }
    absl::StrAppend(&out, "PGPASSWORD_SANDBOX=", ShellQuote(password_, false), "\n");
    return out;
  }

  std::string DsnFor(int port, absl::string_view dbname) const {
    return absl::StrCat("host=127.0.0.1 port=", port, " user=postgres password=", password_,
                        " dbname=", DsnValue(dbname));
  }

 private:
  absl::StatusOr<Server*> FindLocked(absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopped_) {
      return absl::FailedPreconditionError("sandbox: already stopped");
    }
    auto it = clusters_.find(std::string(name));
    if (it == clusters_.end()) {
      return absl::NotFoundError(
          absl::StrCat("sandbox has no cluster '", name, "' (clusters: ", absl::StrJoin(order_, ", "), ")"));
    }
    return &it->second;
  }

  absl::Status WriteStateLocked(bool force_persistent = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SandboxState st;
    st.root = root_;
    st.persistent = persistent_ || force_persistent;
    st.fast = fast_;
    st.owner_pid = owner_pid_;
    st.owner_start_ticks = owner_start_ticks_;
    st.password = password_;
    for (const auto& name : order_) {
      const Server& s = clusters_.at(name);
      st.clusters.push_back({s.name, s.port, s.pid, s.start_ticks});
    }
    st.has_bouncer = has_bouncer_;
    if (has_bouncer_) {
      st.bouncer = {bouncer_.name, bouncer_.port, bouncer_.pid, bouncer_.start_ticks};
    }
    return WriteFileAtomic(root_ + "/" + internal::kStateFileName, internal::FormatState(st), 0600);
  }

  absl::Status InitTemplateLocked(const std::string& initdb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string tmpl = root_ + "/template";
    const std::string pwfile = root_ + "/pwfile";
    RETURN_IF_ERROR(WriteServerFile(run_as_, pwfile, password_ + "\n"));
    std::vector<std::string> argv;
    if (run_as_.switch_user) {
      argv = {internal::FindExecutable({"/usr/sbin/runuser", "/sbin/runuser"}, "runuser"), "-u", "postgres",
              "--"};
    }
    argv.insert(argv.end(),
                {initdb, "-D", tmpl, "--auth-local=trust", "--auth-host=scram-sha-256", "--username=postgres",
                 "--pwfile=" + pwfile, "-E", "UTF8", "--locale=" + InitdbLocale(), "--no-sync"});
    CommandSpec spec;
    spec.argv = argv;
    spec.timeout = kInitdbTimeout;
    auto res = RunCommand(spec);
    ::unlink(pwfile.c_str());
    if (!res.ok()) {
      return Annotate(res.status(), "sandbox: initdb");
    }
    if (res->timed_out || res->exit_code != 0) {
      std::string out = res->err.empty() ? res->out : res->err;
      if (out.size() > kLogTailBytes) {
        out = "..." + out.substr(out.size() - kLogTailBytes);
      }
      return absl::InternalError(absl::StrCat("sandbox: initdb ", tmpl,
                                              res->timed_out ? " timed out" : " failed", " (exit ",
                                              res->exit_code, "): ", out));
    }
    // Settings shared by every cluster go in the template; the per-cluster
    // sandbox.conf (port, name) is included last so it wins.
    ASSIGN_OR_RETURN(std::string conf, ReadFile(tmpl + "/postgresql.conf"));
    absl::StrAppend(&conf, "\n# cutover sandbox: per-cluster settings\ninclude 'sandbox.conf'\n");
    RETURN_IF_ERROR(WriteServerFile(run_as_, tmpl + "/postgresql.conf", conf));
    RETURN_IF_ERROR(WriteServerFile(run_as_, tmpl + "/pg_hba.conf",
                                    "# cutover sandbox: trust over the socket, SCRAM over loopback TCP\n"
                                    "local all all trust\n"
                                    "host all all 127.0.0.1/32 scram-sha-256\n"
                                    "local replication all trust\n"
                                    "host replication all 127.0.0.1/32 scram-sha-256\n"));
    return absl::OkStatus();
  }

  absl::Status WriteClusterConfLocked(const Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string c = "# Written by the cutover sandbox (deploy/sandbox).\n";
    absl::StrAppend(&c, "listen_addresses = '127.0.0.1'\n");
    absl::StrAppend(&c, "port = ", s.port, "\n");
    absl::StrAppend(&c, "unix_socket_directories = ", ConfQuote(sock_dir_), "\n");
    absl::StrAppend(&c, "cluster_name = ", ConfQuote(s.name), "\n");
    absl::StrAppend(&c, "max_connections = 200\n");
    absl::StrAppend(&c, "shared_buffers = '256MB'\n");
    absl::StrAppend(&c, "max_wal_size = '4GB'\n");
    absl::StrAppend(&c, "huge_pages = off\n");
    absl::StrAppend(&c, "logging_collector = off\n");
    absl::StrAppend(&c, "log_line_prefix = '%m [%p] %q%u@%d '\n");
    if (fast_) {
      absl::StrAppend(&c, "# fast mode: not crash-safe, for tests\n");
      absl::StrAppend(&c, "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
    }
    for (const auto& [k, v] : extra_settings_) {
      absl::StrAppend(&c, k, " = ", ConfQuote(v), "\n");
    }
    return WriteServerFile(run_as_, s.DataDir() + "/sandbox.conf", c);
  }

  // Spawns the postmaster; returns the log offset from which this attempt's
  // output starts.
  absl::StatusOr<uint64_t> LaunchClusterLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A postmaster.pid left by a killed server whose pid is now someone else's
    // would make PostgreSQL refuse to start.
    const std::string lock = s.DataDir() + "/postmaster.pid";
    pid_t old = PidFromFile(lock);
    if (old > 0 && !IsOurServer(old, 0, root_)) {
      ::unlink(lock.c_str());
    }
    uint64_t offset = FileSize(s.log);
    ASSIGN_OR_RETURN(pid_t pid,
                     internal::SpawnServer({postgres_bin_, "-D", s.DataDir()}, s.log, s.dir, run_as_));
    s.pid = pid;
    auto ps = ReadProcStat(pid);
    s.start_ticks = ps ? ps->start_ticks : 0;
    return offset;
  }

  enum class Probe { kPending, kReady, kExited };

  Probe ProbeCluster(const Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!IsRunning(s.pid, s.start_ticks)) {
      internal::WaitExited(s.pid, s.start_ticks, absl::Now());  // reap
      return Probe::kExited;
    }
    auto text = ReadFile(s.DataDir() + "/postmaster.pid");
    if (!text.ok()) {
      return Probe::kPending;
    }
    std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
    // Line 1 is the pid, line 8 the status ("ready" once it accepts connections).
    if (lines.size() >= 8 && absl::StripAsciiWhitespace(lines[0]) == absl::StrCat(s.pid) &&
        absl::StripAsciiWhitespace(lines[7]) == "ready") {
      return Probe::kReady;
    }
    return Probe::kPending;
  }

  std::string LogTail(const Server& s, uint64_t offset) const {
    std::string tail = FileTail(s.log, kLogTailBytes, offset);
    if (tail.empty()) {
      return absl::StrCat("(", s.log, " is empty)");
    }
    return absl::StrCat("last lines of ", s.log, ":\n", tail);
  }

  // Launches the named clusters together and waits until all accept
  // connections. A cluster that fails because its port was taken is retried on
  // a new port (initial start) or on the same port until the deadline
  // (restarts keep their DSN stable).
  absl::Status StartClustersLocked(const std::vector<std::string>& names, bool new_port_on_conflict)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    struct Pending {
      Server* s;
      uint64_t offset;
      int attempts;
    };
    const absl::Time deadline = absl::Now() + kServerStartTimeout;
    std::vector<Pending> pending;
    for (const auto& name : names) {
      Server& s = clusters_.at(name);
      if (new_port_on_conflict) {
        ASSIGN_OR_RETURN(s.port, internal::PickFreePort());
        RETURN_IF_ERROR(WriteClusterConfLocked(s));
      }
      ASSIGN_OR_RETURN(uint64_t offset, LaunchClusterLocked(s));
      pending.push_back({&s, offset, 1});
    }
    RETURN_IF_ERROR(WriteStateLocked());
    Backoff backoff;
    while (!pending.empty()) {
      for (size_t i = 0; i < pending.size();) {
        Pending& p = pending[i];
        Server& s = *p.s;
        Probe probe = ProbeCluster(s);
        if (probe == Probe::kReady) {
          // End to end: TCP, SCRAM with the sandbox password.
          auto session = pg::Session::Connect(DsnFor(s.port, "postgres"),
                                              absl::StrCat("sandbox cluster ", s.name), "cutover-sandbox");
          if (!session.ok()) {
            return absl::InternalError(
                absl::StrCat("sandbox: cluster ", s.name, " started but does not accept ",
                             "connections: ", session.status().message(), "\n", LogTail(s, p.offset)));
          }
          pending.erase(pending.begin() + static_cast<long>(i));
          continue;
        }
        if (probe == Probe::kExited) {
          std::string log = FileTail(s.log, kScanLogBytes, p.offset);
          s.pid = 0;
          s.start_ticks = 0;
          bool in_use = PortInUse(log);
          if (in_use && (!new_port_on_conflict || p.attempts < kMaxPortAttempts) && absl::Now() < deadline) {
            spdlog::info("sandbox: port {} of cluster {} is taken; retrying", s.port, s.name);
            if (new_port_on_conflict) {
              internal::ReleasePort(s.port);
              ASSIGN_OR_RETURN(s.port, internal::PickFreePort());
              RETURN_IF_ERROR(WriteClusterConfLocked(s));
            } else {
              absl::SleepFor(absl::Milliseconds(100));
            }
            ASSIGN_OR_RETURN(p.offset, LaunchClusterLocked(s));
            ++p.attempts;
            RETURN_IF_ERROR(WriteStateLocked());
            continue;
          }
          return absl::InternalError(absl::StrCat("sandbox: cluster ", s.name, " (port ", s.port,
                                                  ") failed to start", in_use ? ": its port is in use" : "",
                                                  "; ", LogTail(s, p.offset)));
        }
        if (absl::Now() >= deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat("sandbox: cluster ", s.name, " (pid ", s.pid, ") was not ready within ",
                           absl::FormatDuration(kServerStartTimeout), "; ", LogTail(s, p.offset)));
        }
        ++i;
      }
      if (!pending.empty()) {
        backoff.Wait();
      }
    }
    return absl::OkStatus();
  }

  absl::Status StopClusterLocked(Server& s, bool immediate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (s.pid <= 0) {
      return absl::OkStatus();
    }
    absl::Status st = StopTargets({{s.name, s.pid, s.start_ticks, immediate ? SIGQUIT : SIGINT,
                                    immediate ? kImmediateStopGrace : kFastStopGrace}});
    s.pid = 0;
    s.start_ticks = 0;
    absl::Status w = WriteStateLocked();
    return st.ok() ? w : st;
  }

  // ---- pgbouncer ----

  std::string BouncerIni(int blue_port) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string c = "; Written by the cutover sandbox (deploy/sandbox). Routers may rewrite [databases].\n";
    absl::StrAppend(&c, "[databases]\n* = host=127.0.0.1 port=", blue_port, "\n\n");
    absl::StrAppend(&c, "[pgbouncer]\n");
    absl::StrAppend(&c, "listen_addr = 127.0.0.1\n");
    absl::StrAppend(&c, "listen_port = ", bouncer_.port, "\n");
    absl::StrAppend(&c, "unix_socket_dir = ", sock_dir_, "\n");
    absl::StrAppend(&c, "auth_type = scram-sha-256\n");
    absl::StrAppend(&c, "auth_file = ", root_, "/userlist.txt\n");
    absl::StrAppend(&c, "admin_users = postgres\n");
    absl::StrAppend(&c, "pool_mode = transaction\n");
    absl::StrAppend(&c, "max_client_conn = 500\n");
    absl::StrAppend(&c, "default_pool_size = 40\n");
    absl::StrAppend(&c, "ignore_startup_parameters = extra_float_digits,options\n");
    absl::StrAppend(&c, "server_reset_query =\n");
    absl::StrAppend(&c, "logfile = ", root_, "/pgbouncer.log\n");
    absl::StrAppend(&c, "pidfile = ", root_, "/pgbouncer.pid\n");
    return c;
  }

  absl::StatusOr<uint64_t> LaunchBouncerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint64_t offset = FileSize(bouncer_.log);
    ASSIGN_OR_RETURN(pid_t pid, internal::SpawnServer({bouncer_bin_, root_ + "/pgbouncer.ini"}, bouncer_.log,
                                                      root_, run_as_));
    bouncer_.pid = pid;
    auto ps = ReadProcStat(pid);
    bouncer_.start_ticks = ps ? ps->start_ticks : 0;
    RETURN_IF_ERROR(WriteStateLocked());
    return offset;
  }

  // Starts PgBouncer and waits until its admin console answers SHOW VERSION.
  absl::Status StartBouncerLocked(bool new_port_on_conflict) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time deadline = absl::Now() + kServerStartTimeout;
    const int blue_port = clusters_.at("blue").port;
    if (new_port_on_conflict) {
      ASSIGN_OR_RETURN(bouncer_.port, internal::PickFreePort());
      RETURN_IF_ERROR(WriteServerFile(run_as_, root_ + "/pgbouncer.ini", BouncerIni(blue_port), 0644));
    }
    ASSIGN_OR_RETURN(uint64_t offset, LaunchBouncerLocked());
    int attempts = 1;
    Backoff backoff;
    absl::Status last_connect_error;
    while (true) {
      if (!IsRunning(bouncer_.pid, bouncer_.start_ticks)) {
        internal::WaitExited(bouncer_.pid, bouncer_.start_ticks, absl::Now());  // reap
        bouncer_.pid = 0;
        bouncer_.start_ticks = 0;
        std::string log = FileTail(bouncer_.log, kScanLogBytes, offset);
        bool in_use = PortInUse(log);
        if (in_use && (!new_port_on_conflict || attempts < kMaxPortAttempts) && absl::Now() < deadline) {
          spdlog::info("sandbox: port {} of pgbouncer is taken; retrying", bouncer_.port);
          if (new_port_on_conflict) {
            internal::ReleasePort(bouncer_.port);
            ASSIGN_OR_RETURN(bouncer_.port, internal::PickFreePort());
            RETURN_IF_ERROR(WriteServerFile(run_as_, root_ + "/pgbouncer.ini", BouncerIni(blue_port), 0644));
          } else {
            absl::SleepFor(absl::Milliseconds(100));
          }
          ASSIGN_OR_RETURN(offset, LaunchBouncerLocked());
          ++attempts;
          continue;
        }
        return absl::InternalError(absl::StrCat("sandbox: pgbouncer (port ", bouncer_.port,
                                                ") failed to start", in_use ? ": its port is in use" : "",
                                                "; ", LogTail(bouncer_, offset)));
      }
      if (TcpAccepts(bouncer_.port)) {
        auto admin = pg::RawConn::Connect(DsnFor(bouncer_.port, "pgbouncer"),
                                          "sandbox pgbouncer admin console", "cutover-sandbox");
        if (admin.ok()) {
          auto version = admin->Query("SHOW VERSION");
          if (version.ok()) {
            return absl::OkStatus();
          }
          last_connect_error = version.status();
        } else {
          last_connect_error = admin.status();
          if (!IsRetryable(last_connect_error)) {
            return absl::InternalError(absl::StrCat(
                "sandbox: pgbouncer started but its admin console refuses us: ", last_connect_error.message(),
                "; ", LogTail(bouncer_, offset)));
          }
        }
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("sandbox: pgbouncer (pid ", bouncer_.pid, ", port ", bouncer_.port,
                         ") was not ready within ", absl::FormatDuration(kServerStartTimeout),
                         last_connect_error.ok() ? "" : absl::StrCat(" (", last_connect_error.message(), ")"),
                         "; ", LogTail(bouncer_, offset)));
      }
      backoff.Wait();
    }
  }

  // Immutable after construction.
  const std::string root_;
  const std::string password_;
  const bool persistent_;
  const bool fast_;
  const bool attached_;
  const pid_t owner_pid_;
  const uint64_t owner_start_ticks_;
  const RunAs run_as_;
  std::string sock_dir_;  // empty: no unix sockets (root path too long)
  // Set once by Create/AdoptState before the object is shared.
  std::vector<std::string> order_;
  bool has_bouncer_ = false;
  std::string postgres_bin_;
  std::string bouncer_bin_;
  std::map<std::string, std::string> extra_settings_;

  mutable absl::Mutex mu_;
  std::map<std::string, Server> clusters_ ABSL_GUARDED_BY(mu_);
  Server bouncer_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool keep_dir_ ABSL_GUARDED_BY(mu_) = false;
};

// ---------------------------------------------------------------------------

namespace {

absl::StatusOr<std::string> PostgresBinary(const std::string& name) {
  std::string p = PgProgram(name);
  if (p.empty() || p[0] != '/' || ::access(p.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: PostgreSQL program '", name,
                     "' not found (install postgresql-15 with deploy/setup.sh or set CUTOVER_PG_BINDIR)"));
  }
  return p;
}

absl::StatusOr<std::string> BouncerBinary() {
  const char* env = std::getenv("CUTOVER_PGBOUNCER");
  std::string p =
      internal::FindExecutable({env ? env : "", CUTOVER_PGBOUNCER_PATH, "/usr/sbin/pgbouncer"}, "pgbouncer");
  if (p.empty() || p[0] != '/') {
    return absl::FailedPreconditionError(
        "sandbox: pgbouncer not found (install it with deploy/setup.sh, set CUTOVER_PGBOUNCER, or start the "
        "sandbox without PgBouncer)");
  }
  return p;
}

}  // namespace

Sandbox::Sandbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Sandbox::~Sandbox() {
  if (impl_ && impl_->ShouldStopOnDestruction()) {
    absl::Status st = impl_->StopAll();
    if (!st.ok()) {
      spdlog::error("sandbox {}: stop failed: {}", impl_->root(), std::string(st.message()));
    }
  }
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(const SandboxOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  CleanupAbandoned();
  ASSIGN_OR_RETURN(RunAs run_as, internal::ServerUser());
  ASSIGN_OR_RETURN(std::string initdb, PostgresBinary("initdb"));
  ASSIGN_OR_RETURN(std::string postgres, PostgresBinary("postgres"));
  std::string bouncer;
  if (options.pgbouncer) {
    ASSIGN_OR_RETURN(bouncer, BouncerBinary());
  }
  ASSIGN_OR_RETURN(std::string password, RandomPassword());
  ASSIGN_OR_RETURN(std::string root, PrepareRoot(options, run_as));
  auto impl = std::make_unique<Impl>(root, password, options.persistent, options.fast, /*attached=*/false,
                                     ::getpid(), internal::SelfStartTicks(), run_as);
  absl::Time t0 = absl::Now();
  absl::Status st = impl->Create(options, initdb, postgres, bouncer);
  if (!st.ok()) {
    absl::Status stopped = impl->StopAll();
    if (!stopped.ok()) {
      return absl::Status(
          st.code(),
          absl::StrCat(st.message(), "\n(cleanup after the failure also failed: ", stopped.message(), ")"));
    }
    if (!options.keep_dir) {
      return absl::Status(st.code(), absl::StrCat(st.message(), "\n(", root,
                                                  " was removed; SandboxOptions::keep_dir keeps it)"));
    }
    return st;
  }
  spdlog::debug("sandbox: started {} in {}", root, absl::FormatDuration(absl::Now() - t0));
  return std::unique_ptr<Sandbox>(new Sandbox(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Attach(const std::string& root_dir) {
  std::error_code ec;
  std::string root = fs::weakly_canonical(fs::absolute(root_dir), ec).string();
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox dir ", root_dir, ": ", ec.message()));
  }
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  const std::string state_path = root + "/" + internal::kStateFileName;
  auto text = ReadFile(state_path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(absl::StrCat("no sandbox in ", root, ": ", state_path, " does not exist"));
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(SandboxState st, internal::ParseState(*text, state_path));
  if (st.root != root) {
    return absl::FailedPreconditionError(absl::StrCat(state_path, " describes a sandbox in ", st.root,
                                                      ", not ", root, " (was the directory moved?)"));
  }
  ASSIGN_OR_RETURN(RunAs run_as, internal::ServerUser());
  std::string postgres = PgProgram("postgres");
  std::string bouncer;
  if (st.has_bouncer) {
    bouncer = BouncerBinary().value_or("pgbouncer");
  }
  auto impl = std::make_unique<Impl>(root, st.password, st.persistent, st.fast, /*attached=*/true,
                                     st.owner_pid, st.owner_start_ticks, run_as);
  impl->AdoptState(st, postgres, bouncer);
  return std::unique_ptr<Sandbox>(new Sandbox(std::move(impl)));
}

absl::Status Sandbox::Stop() { return impl_->StopAll(); }

std::string Sandbox::Dsn(absl::string_view cluster, absl::string_view dbname) const {
  return impl_->Dsn(cluster, dbname);
}
int Sandbox::Port(absl::string_view cluster) const { return impl_->Port(cluster); }
std::vector<std::string> Sandbox::Clusters() const { return impl_->Clusters(); }

absl::Status Sandbox::CreateDatabase(absl::string_view cluster, absl::string_view dbname) {
  std::string dsn = impl_->Dsn(cluster, "postgres");
  if (dsn.empty()) {
    return absl::NotFoundError(absl::StrCat("sandbox has no cluster '", cluster, "'"));
  }
  std::string what = absl::StrCat("sandbox cluster ", cluster);
  ASSIGN_OR_RETURN(auto session, pg::Session::Connect(dsn, what, "cutover-sandbox"));
  auto res = session->Exec(absl::StrCat("CREATE DATABASE ", pg::QuoteIdent(dbname)));
  if (!res.ok()) {
    return Annotate(res.status(), absl::StrCat("create database ", dbname));
  }
  return absl::OkStatus();
}

absl::Status Sandbox::DropDatabase(absl::string_view cluster, absl::string_view dbname) {
  std::string dsn = impl_->Dsn(cluster, "postgres");
  if (dsn.empty()) {
    return absl::NotFoundError(absl::StrCat("sandbox has no cluster '", cluster, "'"));
  }
  std::string what = absl::StrCat("sandbox cluster ", cluster);
  ASSIGN_OR_RETURN(auto session, pg::Session::Connect(dsn, what, "cutover-sandbox"));
  auto res = session->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", pg::QuoteIdent(dbname), " WITH (FORCE)"));
  if (!res.ok()) {
    return Annotate(res.status(), absl::StrCat("drop database ", dbname));
  }
  return absl::OkStatus();
}

absl::Status Sandbox::StopCluster(absl::string_view cluster, bool immediate) {
  return impl_->StopCluster(cluster, immediate);
}
absl::Status Sandbox::StartCluster(absl::string_view cluster) { return impl_->StartCluster(cluster); }
absl::Status Sandbox::RestartCluster(absl::string_view cluster, bool immediate) {
  return impl_->RestartCluster(cluster, immediate);
}
pid_t Sandbox::ClusterPid(absl::string_view cluster) const { return impl_->ClusterPid(cluster); }

int Sandbox::BouncerPort() const { return impl_->BouncerPort(); }
std::string Sandbox::BouncerDsn(absl::string_view dbname) const { return impl_->BouncerDsn(dbname); }
std::string Sandbox::BouncerAdminDsn() const { return impl_->BouncerDsn("pgbouncer"); }
std::string Sandbox::BouncerIniPath() const { return impl_->BouncerIniPath(); }
pid_t Sandbox::BouncerPid() const { return impl_->BouncerPid(); }
absl::Status Sandbox::RestartBouncer() { return impl_->RestartBouncer(); }

const std::string& Sandbox::root() const { return impl_->root(); }
std::string Sandbox::password() const { return impl_->password(); }
bool Sandbox::persistent() const { return impl_->persistent(); }
void Sandbox::set_keep_dir(bool keep) { impl_->set_keep_dir(keep); }
std::vector<ServerInfo> Sandbox::Servers() const { return impl_->Servers(); }

std::string Sandbox::EnvContents() const { return impl_->EnvContents(); }

absl::Status Sandbox::WriteEnvFile(const std::string& path) const {
  return WriteFileAtomic(path, EnvContents(), 0600);
}

}  // namespace cutover::sandbox
