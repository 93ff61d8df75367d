// cutover-sandbox: starts, inspects and stops a persistent local sandbox
// (blue, green, control PostgreSQL + PgBouncer in front of blue) for the
// quickstart and for manual testing. Wiring only: the logic is
// cutover::sandbox::Sandbox.
//
//   cutover-sandbox start  --dir D [--env-file F] [--no-bouncer] [--durable]
//   cutover-sandbox status --dir D
//   cutover-sandbox env    --dir D
//   cutover-sandbox stop   --dir D [--keep-data]
//   cutover-sandbox restart --dir D (--cluster NAME [--immediate] | --bouncer)
//                                  (fault injection, e.g. tests/chaos)
//
// Exit codes: 0 ok; 1 failure (also: status found a server not running);
// 2 usage error. Messages go to stderr; the env lines (start, env) to stdout.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cutover/common/log.h"
#include "cutover/sandbox/sandbox.h"

namespace {

using cutover::sandbox::Sandbox;

constexpr int kOk = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

int Fail(const std::string& what, const absl::Status& st) {
  std::cerr << "cutover-sandbox: " << what << ": " << st.message() << "\n";
  return kFailure;
}

void PrintServers(const Sandbox& sb) {
  for (const auto& s : sb.Servers()) {
    std::cerr << absl::StrFormat("  %-10s port %-6d pid %-8d %s  log %s\n", s.name, s.port, s.pid,
                                 s.alive ? "alive  " : "stopped", s.log_path);
  }
}

int Start(const std::string& dir, const std::string& env_file, bool no_bouncer, bool durable) {
  cutover::sandbox::SandboxOptions opts;
  opts.root_dir = dir;
  opts.persistent = true;
  opts.pgbouncer = !no_bouncer;
  opts.fast = !durable;
  auto sb = Sandbox::Start(opts);
  if (!sb.ok()) {
    return Fail("start failed", sb.status());
  }
  if (!env_file.empty()) {
    if (auto st = (*sb)->WriteEnvFile(env_file); !st.ok()) {
      return Fail("cannot write the env file", st);
    }
  }
  std::cerr << "cutover-sandbox: started in " << (*sb)->root()
            << (durable ? " (durable)" : " (fast, not crash-safe)") << "\n";
  PrintServers(**sb);
  if (!env_file.empty()) {
    std::cerr << "  env file: " << env_file << " (source it)\n";
  }
  std::cerr << "  stop with: cutover-sandbox stop --dir " << (*sb)->root() << "\n";
  std::cout << (*sb)->EnvContents() << std::flush;
  return kOk;
}

int Status(const std::string& dir) {
  auto sb = Sandbox::Attach(dir);
  if (!sb.ok()) {
    return Fail("status", sb.status());
  }
  bool all_alive = true;
  std::cout << "sandbox " << (*sb)->root() << ((*sb)->persistent() ? " (persistent)" : "") << "\n";
  for (const auto& s : (*sb)->Servers()) {
    all_alive = all_alive && s.alive;
    std::cout << absl::StrFormat("%-10s port=%-6d pid=%-8d %s\n", s.name, s.port, s.pid,
                                 s.alive ? "alive" : "not-running");
  }
  if (!all_alive) {
    std::cerr << "cutover-sandbox: some servers are not running\n";
  }
  return all_alive ? kOk : kFailure;
}

int Env(const std::string& dir) {
  auto sb = Sandbox::Attach(dir);
  if (!sb.ok()) {
    return Fail("env", sb.status());
  }
  std::cout << (*sb)->EnvContents() << std::flush;
  return kOk;
}

int Stop(const std::string& dir, bool keep) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::cerr << "cutover-sandbox: no sandbox at " << dir << " (nothing to stop)\n";
    return kOk;
  }
  auto sb = Sandbox::Attach(dir);
  if (!sb.ok()) {
    return Fail("stop", sb.status());
  }
  (*sb)->set_keep_dir(keep);
  if (auto st = (*sb)->Stop(); !st.ok()) {
    return Fail("stop failed", st);
  }
  std::cerr << "cutover-sandbox: stopped " << (*sb)->root() << (keep ? " (data kept)" : " and removed it")
            << "\n";
  return kOk;
}

int Restart(const std::string& dir, const std::string& cluster, bool immediate, bool bouncer) {
  if (cluster.empty() == !bouncer) {
    std::cerr << "cutover-sandbox: restart: expected exactly one of --cluster NAME or --bouncer\n";
    return kUsage;
  }
  auto sb = Sandbox::Attach(dir);
  if (!sb.ok()) {
    return Fail("restart", sb.status());
  }
  absl::Status st = bouncer ? (*sb)->RestartBouncer() : (*sb)->RestartCluster(cluster, immediate);
  if (!st.ok()) {
    return Fail(absl::StrCat("restart ", bouncer ? "pgbouncer" : cluster), st);
  }
  std::cerr << "cutover-sandbox: restarted " << (bouncer ? "pgbouncer" : cluster)
            << (immediate ? " (immediate stop, crash recovery)" : "") << "\n";
  return kOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "Local sandbox for cutover: blue, green and control PostgreSQL clusters and a PgBouncer in front "
      "of blue, on free loopback ports.\nExit codes: 0 ok, 1 failure, 2 usage error."};
  app.require_subcommand(1, 1);
  app.fallthrough();  // --log-level may also follow the subcommand
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();

  std::string dir, env_file;
  bool no_bouncer = false, durable = false, keep = false;
  auto* start = app.add_subcommand("start",
                                   "Start a persistent sandbox in --dir (an earlier one there is "
                                   "stopped first); returns once every server accepts connections; "
                                   "prints the env lines on stdout");
  start->add_option("--dir", dir, "Sandbox directory (created if missing; must be empty or hold a sandbox)")
      ->required();
  start->add_option("--env-file", env_file, "Also write the shell-sourceable env lines to this file");
  start->add_flag("--no-bouncer", no_bouncer, "Do not start PgBouncer");
  start->add_flag("--durable", durable, "fsync and synchronous commit on (benchmarks); default is fast mode");
  auto* stop =
      app.add_subcommand("stop", "Stop the sandbox in --dir by the pids in its state file and remove it");
  stop->add_option("--dir", dir, "Sandbox directory")->required();
  stop->add_flag("--keep-data", keep, "Keep the directory (data and logs)");
  auto* status = app.add_subcommand("status",
                                    "Print each server with its port, pid and whether it runs "
                                    "(exit 1 when one does not)");
  status->add_option("--dir", dir, "Sandbox directory")->required();
  auto* env = app.add_subcommand("env", "Print the shell-sourceable env lines (DSNs, ports) on stdout");
  env->add_option("--dir", dir, "Sandbox directory")->required();
  std::string cluster;
  bool immediate = false, bouncer = false;
  auto* restart = app.add_subcommand("restart",
                                     "Fault injection: restart one cluster (same port) or PgBouncer; returns "
                                     "once it accepts connections again");
  restart->add_option("--dir", dir, "Sandbox directory")->required();
  restart->add_option("--cluster", cluster, "Cluster to restart (blue, green, control)");
  restart->add_flag("--immediate", immediate,
                    "Immediate stop (SIGQUIT: crash recovery on start) instead of fast");
  restart->add_flag("--bouncer", bouncer, "Restart PgBouncer instead of a cluster");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (auto st = cutover::SetupLogging(log_level); !st.ok()) {
    std::cerr << "cutover-sandbox: " << st.message() << "\n";
    return kUsage;
  }
  if (start->parsed()) {
    return Start(dir, env_file, no_bouncer, durable);
  }
  if (stop->parsed()) {
    return Stop(dir, keep);
  }
  if (status->parsed()) {
    return Status(dir);
  }
  if (env->parsed()) {
    return Env(dir);
  }
  if (restart->parsed()) {
    return Restart(dir, cluster, immediate, bouncer);
  }
  return kUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cutover-sandbox: " << e.what() << "\n";
    return kFailure;
  }
}
