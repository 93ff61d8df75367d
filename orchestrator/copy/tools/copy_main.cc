// cutover-copy: runs the blue -> green copy alone (no capture, no flip), with
// a progress line and the copy + verify report. Exit codes: 0 copied and
// verified, 1 copy or verification failed, 2 bad arguments or preflight.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/log.h"
#include "cutover/common/pg.h"
#include "cutover/copy/copier.h"
#include "cutover/copy/report.h"
#include "google/protobuf/util/json_util.h"

namespace {

cutover::copy::CopyControl* g_control = nullptr;

void OnSignal(int) {
  if (g_control != nullptr) g_control->Cancel(absl::CancelledError("interrupted by signal"));
}

class ConsoleObserver : public cutover::copy::CopyObserver {
 public:
  explicit ConsoleObserver(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  absl::Status OnStage(cutover::copy::CopyStage stage) override {
    Print(absl::StrCat("stage: ", cutover::copy::CopyStageName(stage)), true);
    return absl::OkStatus();
  }
  void OnProgress(const cutover::v1::CopyProgress& p) override {
    Print(cutover::copy::FormatProgressLine(p), false);
  }
  void OnLog(absl::string_view line) override { Print(std::string(line), true); }

 private:
  void Print(const std::string& line, bool permanent) {
    if (quiet_) return;
    absl::MutexLock l(&mu_);
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), permanent ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }
  bool quiet_;
  bool tty_;
  absl::Mutex mu_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cutover-copy: consistent, parallel blue -> green PostgreSQL copy with verification"};
  std::string blue, green, output = "text", log_level = "warn", work_dir, mwm;
  int table_jobs = 2, index_jobs = 2;
  int64_t max_bps = 0;
  bool no_verify = false, no_hash = false, no_owner = false, no_analyze = false, quiet = false;
  app.add_option("--blue", blue, "blue DSN (source)")->required();
  app.add_option("--green", green, "green DSN (target, must be empty)")->required();
  app.add_option("--table-jobs", table_jobs, "parallel table-data workers")->check(CLI::Range(1, 64));
  app.add_option("--index-jobs", index_jobs, "parallel index builders")->check(CLI::Range(1, 64));
  app.add_option("--maintenance-work-mem", mwm, "maintenance_work_mem per index session (default 1GB)");
  app.add_option("--max-bytes-per-second", max_bps, "throttle the data copy (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--work-dir", work_dir, "where the schema dump goes (default: a temp dir)");
  app.add_flag("--no-verify", no_verify, "skip verification entirely");
  app.add_flag("--no-content-hash", no_hash, "verify row counts only");
  app.add_flag("--no-owner", no_owner, "restore without ownership and privileges");
  app.add_flag("--no-analyze", no_analyze, "do not ANALYZE green tables");
  app.add_flag("-q,--quiet", quiet, "no progress output");
  app.add_option("-o,--output", output, "report format")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto st = cutover::SetupLogging(log_level); !st.ok()) {
    std::cerr << "cutover-copy: " << st.message() << "\n";
    return 2;
  }

  cutover::copy::CopyRequest req;
  req.blue_dsn = blue;
  req.green_dsn = green;
  req.work_dir = work_dir;
  req.verify = !no_verify;
  req.options.set_table_jobs(table_jobs);
  req.options.set_index_jobs(index_jobs);
  req.options.set_skip_content_hash(no_hash);
  req.options.set_no_owner(no_owner);
  req.options.set_analyze(!no_analyze);
  req.options.set_max_bytes_per_second(max_bps);
  if (!mwm.empty()) req.options.set_maintenance_work_mem(mwm);

  auto copier = cutover::copy::NewPgCopier();
  ConsoleObserver observer(quiet);
  cutover::copy::CopyControl control;
  g_control = &control;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  auto checks = copier->Preflight(req);
  if (auto st = cutover::copy::FirstFailure(checks); !st.ok()) {
    std::cerr << "cutover-copy: preflight failed: " << st.message() << "\n";
    return 2;
  }
  auto report = copier->Copy(req, &observer, &control);
  if (!report.ok()) {
    std::cerr << "\ncutover-copy: FAILED: " << report.status().message() << "\n";
    return 1;
  }
  if (output == "json") {
    std::string json;
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(*report, &json, o);
    std::cout << json << "\n";
  } else {
    std::cout << cutover::copy::FormatCopyReport(*report);
  }
  return 0;
}
