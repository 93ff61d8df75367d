#include "process.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace cutover::sandbox::internal {
namespace {

std::string Errno(int err) { return std::strerror(err); }

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }

 private:
  int fd_;
};

absl::Mutex g_ports_mu(absl::kConstInit);
std::set<int>& ReservedPorts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_ports_mu) {
  static auto* ports = new std::set<int>();
  return *ports;
}

// Writes errno to the error pipe and exits; only async-signal-safe calls.
[[noreturn]] void ChildFail(int errfd) {
  int err = errno;
  ssize_t ignored = ::write(errfd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

}  // namespace

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  if (pid <= 0) {
    return std::nullopt;
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) {
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::vector<std::string> f = absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); field N is f[N - 3].
  if (f.size() < 20) {
    return std::nullopt;
  }
  ProcStat st;
  st.state = f[0].empty() ? '?' : f[0][0];
  int pgid = 0;
  if (!absl::SimpleAtoi(f[2], &pgid)) {
    return std::nullopt;
  }
  st.pgid = pgid;
  if (!absl::SimpleAtoi(f[19], &st.start_ticks)) {
    return std::nullopt;
  }
  return st;
}

std::string ReadCmdline(pid_t pid) {
  if (pid <= 0) {
    return "";
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  if (!in) {
    return "";
  }
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  while (!s.empty() && s.back() == ' ') {
    s.pop_back();
  }
  return s;
}

uint64_t SelfStartTicks() {
  auto st = ReadProcStat(getpid());
  return st ? st->start_ticks : 0;
}

bool IsRunning(pid_t pid, uint64_t start_ticks) {
  auto st = ReadProcStat(pid);
  if (!st) {
    return false;
  }
  if (st->state == 'Z' || st->state == 'X') {
    return false;
  }
  return start_ticks == 0 || st->start_ticks == start_ticks;
}

absl::StatusOr<RunAs> ServerUser() {
  RunAs r;
  if (geteuid() != 0) {
    return r;
  }
  struct passwd pw_buf;
  struct passwd* pw = nullptr;
  std::vector<char> buf(16384);
  int rc = getpwnam_r("postgres", &pw_buf, buf.data(), buf.size(), &pw);
  if (rc != 0 || pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root but there is no 'postgres' user to run PostgreSQL and PgBouncer as "
        "(install postgresql-15, see deploy/setup.sh)");
  }
  r.switch_user = true;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  int n = 64;
  std::vector<gid_t> groups(n);
  while (getgrouplist("postgres", pw->pw_gid, groups.data(), &n) < 0) {
    groups.resize(n);
  }
  groups.resize(n);
  r.groups = std::move(groups);
  return r;
}

absl::Status ChownToServer(const RunAs& run_as, const std::string& path) {
  if (!run_as.switch_user) {
    return absl::OkStatus();
  }
  if (::lchown(path.c_str(), run_as.uid, run_as.gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", path, " to postgres: ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> SpawnServer(const std::vector<std::string>& argv_in, const std::string& log_path,
                                  const std::string& cwd, const RunAs& run_as) {
  if (argv_in.empty() || argv_in[0].empty() || argv_in[0][0] != '/') {
    return absl::InvalidArgumentError("SpawnServer: argv[0] must be an absolute path");
  }
  // Everything the child needs is prepared here: between fork and exec only
  // async-signal-safe calls are allowed (this process may have threads).
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_strs;
  for (char** e = environ; *e != nullptr; ++e) {
    // PG* variables (PGDATA, PGPORT, ...) must not steer the server.
    if (absl::StartsWith(*e, "PG")) {
      continue;
    }
    env_strs.emplace_back(*e);
  }
  std::vector<char*> envp;
  envp.reserve(env_strs.size() + 1);
  for (auto& s : env_strs) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);

  UniqueFd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.get() < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", Errno(errno)));
  }
  if (run_as.switch_user && ::fchown(log_fd.get(), run_as.uid, run_as.gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", log_path, ": ", Errno(errno)));
  }
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) {
    return absl::InternalError(absl::StrCat("open /dev/null: ", Errno(errno)));
  }
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", Errno(errno)));
  }
  UniqueFd err_r(errpipe[0]);
  UniqueFd err_w(errpipe[1]);
  struct rlimit nofile;
  bool have_nofile = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0;

  pid_t pid = ::fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", Errno(errno)));
  }
  if (pid == 0) {
    // Child. Move our fds above the stdio range first (the parent may have
    // had 0-2 closed, so they could be any of these).
    int e = ::fcntl(err_w.get(), F_DUPFD_CLOEXEC, 10);
    if (e < 0) {
      _exit(127);
    }
    int n = ::fcntl(null_fd.get(), F_DUPFD, 10);
    int l = ::fcntl(log_fd.get(), F_DUPFD, 10);
    if (n < 0 || l < 0) {
      ChildFail(e);
    }
    if (::setsid() < 0) {
      ChildFail(e);
    }
    if (::dup2(n, 0) < 0 || ::dup2(l, 1) < 0 || ::dup2(l, 2) < 0) {
      ChildFail(e);
    }
    // Close everything else (inherited sockets, pipes of concurrent
    // RunCommand calls) except the CLOEXEC error pipe.
    ::close_range(3, static_cast<unsigned>(e - 1), 0);
    ::close_range(static_cast<unsigned>(e + 1), ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) {
        ::sigaction(s, &dfl, nullptr);
      }
    }
    if (have_nofile && nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = nofile.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (run_as.switch_user) {
      if (::setgroups(run_as.groups.size(), run_as.groups.data()) != 0) {
        ChildFail(e);
      }
      if (::setgid(run_as.gid) != 0) {
        ChildFail(e);
      }
      if (::setuid(run_as.uid) != 0) {
        ChildFail(e);
      }
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      ChildFail(e);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ChildFail(e);
  }
  err_w.Reset();
  int child_errno = 0;
  ssize_t r;
  do {
    r = ::read(err_r.get(), &child_errno, sizeof(child_errno));
  } while (r < 0 && errno == EINTR);
  if (r > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::InternalError(absl::StrCat("cannot start ", argv_in[0], ": ", Errno(child_errno)));
  }
  return pid;
}

bool SignalIfSame(pid_t pid, uint64_t start_ticks, int sig, bool group) {
  auto st = ReadProcStat(pid);
  if (!st || st->state == 'Z' || st->state == 'X') {
    return false;
  }
  if (start_ticks != 0 && st->start_ticks != start_ticks) {
    return false;
  }
  pid_t target = group && st->pgid == pid ? -pid : pid;
  return ::kill(target, sig) == 0;
}

bool WaitExited(pid_t pid, uint64_t start_ticks, absl::Time deadline) {
  absl::Duration poll = absl::Milliseconds(2);
  while (true) {
    auto st = ReadProcStat(pid);
    if (!st) {
      return true;
    }
    if (start_ticks != 0 && st->start_ticks != start_ticks) {
      return true;  // pid reused
    }
    // Same process: reap it if it is our child (a no-op otherwise).
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return true;
    }
    if (st->state == 'Z' || st->state == 'X') {
      // Someone else's zombie (its parent reaps it, or never does).
      if (r < 0 && errno == ECHILD) {
        return true;
      }
    }
    if (absl::Now() >= deadline) {
      return false;
    }
    absl::SleepFor(poll);
    poll = std::min(poll * 2, absl::Milliseconds(50));
  }
}

absl::Status StopProcess(pid_t pid, uint64_t start_ticks, int first_signal, absl::Duration grace,
                         absl::Duration kill_grace, const std::string& what) {
  if (pid <= 0) {
    return absl::OkStatus();
  }
  if (!SignalIfSame(pid, start_ticks, first_signal)) {
    WaitExited(pid, start_ticks, absl::Now());  // reaps a zombie child
    return absl::OkStatus();
  }
  if (WaitExited(pid, start_ticks, absl::Now() + grace)) {
    return absl::OkStatus();
  }
  spdlog::warn("sandbox: {} (pid {}) did not stop within {}; sending SIGKILL to its process group", what, pid,
               absl::FormatDuration(grace));
  SignalIfSame(pid, start_ticks, SIGKILL, /*group=*/true);
  if (WaitExited(pid, start_ticks, absl::Now() + kill_grace)) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(what, " (pid ", pid, ") is still running after SIGKILL"));
}

absl::StatusOr<int> PickFreePort() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      return absl::InternalError(absl::StrCat("socket: ", Errno(errno)));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", Errno(errno)));
    }
    socklen_t len = sizeof(addr);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return absl::InternalError(absl::StrCat("getsockname: ", Errno(errno)));
    }
    int port = ntohs(addr.sin_port);
    absl::MutexLock l(&g_ports_mu);
    if (ReservedPorts().insert(port).second) {
      return port;
    }
  }
  return absl::ResourceExhaustedError("no free loopback port found in 64 attempts");
}

void ReleasePort(int port) {
  absl::MutexLock l(&g_ports_mu);
  ReservedPorts().erase(port);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_size);
}

std::string FileTail(const std::string& path, size_t max_bytes, uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "";
  }
  uint64_t size = FileSize(path);
  uint64_t from = std::max<uint64_t>(offset, size > max_bytes ? size - max_bytes : 0);
  if (from > size) {
    return "";
  }
  in.seekg(static_cast<std::streamoff>(from));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (from > offset) {
    auto nl = s.find('\n');
    if (nl != std::string::npos) {
      s = s.substr(nl + 1);
    }
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return absl::InternalError(absl::StrCat("open ", tmp, ": ", Errno(errno)));
  }
  ::fchmod(fd.get(), static_cast<mode_t>(mode));
  size_t off = 0;
  while (off < contents.size()) {
    ssize_t w = ::write(fd.get(), contents.data() + off, contents.size() - off);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      return absl::InternalError(absl::StrCat("write ", tmp, ": ", Errno(errno)));
    }
    off += static_cast<size_t>(w);
  }
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, " -> ", path, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::InternalError(absl::StrCat("cannot read ", path, ": ", Errno(err)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FindExecutable(const std::vector<std::string>& preferred, const std::string& name) {
  for (const auto& p : preferred) {
    if (!p.empty() && ::access(p.c_str(), X_OK) == 0) {
      return p;
    }
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string p = absl::StrCat(dir, "/", name);
    if (::access(p.c_str(), X_OK) == 0) {
      return p;
    }
  }
  return name;
}

}  // namespace cutover::sandbox::internal
