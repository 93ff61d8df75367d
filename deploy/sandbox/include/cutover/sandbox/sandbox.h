// A local sandbox: throw-away PostgreSQL clusters (blue, green, control by
// default) and one PgBouncer in front of blue, on free loopback ports, with
// their data in one directory. Tests and the quickstart start one and stop it
// by pid when done; a sandbox whose owner process died is cleaned up by the
// next Start() on the machine. Layout and state-file format:
// deploy/sandbox/README.md.
//
// Thread-safety: every method is safe to call from any thread; calls are
// serialized by an internal mutex, so a long call (RestartCluster) delays the
// others. The destructor stops the servers (unless the sandbox is persistent
// or was attached) and blocks until they have exited.
//
// Servers run as the `postgres` user when this process is root (PostgreSQL
// and PgBouncer refuse root), else as the current user. Every server is
// stopped by the pid recorded when it was started, checked against its start
// time and command line first, never by name.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cutover::sandbox {

struct SandboxOptions {
  // Directory holding everything (data, logs, sockets, state). Empty: a new
  // mkdtemp("/tmp/cutover-sandbox-XXXXXX"). An existing directory must be
  // empty or hold an earlier sandbox (whose servers are stopped first).
  std::string root_dir;
  // Cluster names: lowercase identifiers ([a-z][a-z0-9_]*), unique, not
  // "sock" or "template". "blue" is required when pgbouncer is on.
  std::vector<std::string> clusters = {"blue", "green", "control"};
  // One PgBouncer (transaction pooling) in front of "blue".
  bool pgbouncer = true;
  // fsync=off, synchronous_commit=off, full_page_writes=off: for tests. An
  // immediate stop may then lose the last ~wal_writer_delay of commits unless
  // the session ran with synchronous_commit=on. false for benchmarks.
  bool fast = true;
  // The directory and servers outlive this object and process (the CLI);
  // never cleaned up as abandoned. Stop() still stops them.
  bool persistent = false;
  // Keep the directory (data and logs) after Stop() or a failed Start(), for
  // debugging. It is then marked persistent, so crash cleanup leaves it
  // alone; remove it with `cutover-sandbox stop --dir D`.
  bool keep_dir = false;
  // Extra postgresql.conf settings for every cluster (name -> value; values
  // are written quoted, which PostgreSQL accepts for every type).
  std::map<std::string, std::string> extra_settings;
};

// One server as recorded in the state file, for status displays.
struct ServerInfo {
  std::string name;  // cluster name, or "pgbouncer"
  int port = 0;
  pid_t pid = 0;  // 0 when stopped
  bool alive = false;
  std::string log_path;
};

class Sandbox {
 public:
  // Cleans up abandoned sandboxes (see README.md), then creates and starts a
  // new one. Returns once every server accepts connections. On failure
  // everything it started is stopped and the status names the server and
  // shows the tail of its log.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Start(const SandboxOptions& options);
  // Reopens a running sandbox from <root_dir>/sandbox.state (the CLI's stop,
  // status, env). The returned object never stops anything on destruction;
  // call Stop() explicitly. NotFound when there is no state file.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Attach(const std::string& root_dir);

  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  // Stops everything when this object started a non-persistent sandbox in
  // this process (not in a fork()ed child); blocks until the servers exited.
  ~Sandbox();

  // Stops every server (fast shutdown, SIGKILL of its process group after a
  // deadline), then removes the directory unless keep_dir. Idempotent. On
  // error (a server survived SIGKILL) the directory and state stay.
  absl::Status Stop();

  // key=value libpq DSN as the superuser over TCP:
  // "host=127.0.0.1 port=N user=postgres password=P dbname=D".
  // Empty for an unknown cluster.
  std::string Dsn(absl::string_view cluster, absl::string_view dbname = "postgres") const;
  // 0 for an unknown cluster. The port stays the same across restarts.
  int Port(absl::string_view cluster) const;
  std::vector<std::string> Clusters() const;

  absl::Status CreateDatabase(absl::string_view cluster, absl::string_view dbname);
  // DROP DATABASE IF EXISTS ... WITH (FORCE): also terminates its sessions.
  absl::Status DropDatabase(absl::string_view cluster, absl::string_view dbname);

  // Fault injection. StopCluster: fast shutdown, or immediate (SIGQUIT, crash
  // recovery on the next start) when `immediate`. StartCluster restarts a
  // stopped cluster on the same port. Both block until done.
  absl::Status StopCluster(absl::string_view cluster, bool immediate = false);
  absl::Status StartCluster(absl::string_view cluster);
  absl::Status RestartCluster(absl::string_view cluster, bool immediate = false);
  // Postmaster pid as recorded: 0 after StopCluster()/Stop() or for an
  // unknown cluster. A server that died on its own keeps its pid here;
  // Servers() says whether it runs.
  pid_t ClusterPid(absl::string_view cluster) const;

  // PgBouncer in front of blue (0 / empty when the sandbox has none).
  int BouncerPort() const;
  // Through PgBouncer to database `dbname` on blue, same superuser.
  std::string BouncerDsn(absl::string_view dbname = "postgres") const;
  // The admin console (dbname=pgbouncer; simple query protocol only).
  std::string BouncerAdminDsn() const;
  // The live config. Its [databases] section is "* = host=127.0.0.1
  // port=<blue>"; a router may rewrite it and RELOAD. PgBouncer runs as
  // `postgres`: a replacement file must stay readable by that user (0644).
  std::string BouncerIniPath() const;
  pid_t BouncerPid() const;
  // Immediate shutdown, then start again on the same port with the current
  // pgbouncer.ini (not regenerated).
  absl::Status RestartBouncer();

  const std::string& root() const;
  std::string password() const;
  bool persistent() const;
  void set_keep_dir(bool keep);
  // Every server with its port, pid and whether it is running now.
  std::vector<ServerInfo> Servers() const;

  // Shell-sourceable lines: CUTOVER_SANDBOX_DIR=..., <CLUSTER>_DSN='...' and
  // <CLUSTER>_PORT=... for each cluster (BLUE_, GREEN_, CONTROL_),
  // BOUNCER_DSN='...' (dbname postgres), BOUNCER_ADMIN_DSN='...',
  // BOUNCER_INI=..., BOUNCER_PORT=... (when there is a PgBouncer),
  // PGPASSWORD_SANDBOX=...
  std::string EnvContents() const;
  // Writes EnvContents() to `path` (mode 0600: it holds the password).
  absl::Status WriteEnvFile(const std::string& path) const;

 private:
  class Impl;
  explicit Sandbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cutover::sandbox
