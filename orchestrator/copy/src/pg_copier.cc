#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/subprocess.h"
#include "cutover/copy/catalog.h"
#include "cutover/copy/copier.h"
#include "cutover/copy/copy_plan.h"
#include "cutover/copy/green_state.h"
#include "cutover/copy/progress.h"
#include "cutover/copy/scheduler.h"
#include "cutover/copy/schema.h"
#include "cutover/copy/stream.h"
#include "spdlog/spdlog.h"

namespace cutover::copy {

const char* CopyStageName(CopyStage stage) {
  switch (stage) {
    case CopyStage::kSchema: return "schema";
    case CopyStage::kData: return "data";
    case CopyStage::kIndexing: return "indexing";
    case CopyStage::kVerifying: return "verifying";
  }
  return "?";
}

absl::Status FirstFailure(const std::vector<CheckResult>& checks) {
  for (const auto& c : checks) {
    if (!c.status.ok()) return Annotate(c.status, c.name);
  }
  return absl::OkStatus();
}

namespace {

constexpr int kMaxJobs = 64;
constexpr int kTableAttempts = 3;

struct Normalized {
  int table_jobs = 2;
  int index_jobs = 2;
  std::string maintenance_work_mem = "1GB";
  bool analyze = true;
};

absl::StatusOr<Normalized> NormalizeOptions(const cutover::v1::CopyOptions& o) {
  Normalized n;
  if (o.table_jobs() < 0 || o.table_jobs() > kMaxJobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("copy.table_jobs is ", o.table_jobs(), ": expected 1..", kMaxJobs, " (0 = default 2)"));
  }
  if (o.index_jobs() < 0 || o.index_jobs() > kMaxJobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("copy.index_jobs is ", o.index_jobs(), ": expected 1..", kMaxJobs, " (0 = default 2)"));
  }
  if (o.max_bytes_per_second() < 0) {
    return absl::InvalidArgumentError("copy.max_bytes_per_second is negative: expected 0 (unlimited) or more");
  }
  if (o.table_jobs() > 0) n.table_jobs = o.table_jobs();
  if (o.index_jobs() > 0) n.index_jobs = o.index_jobs();
  if (!o.maintenance_work_mem().empty()) n.maintenance_work_mem = o.maintenance_work_mem();
  if (o.has_analyze()) n.analyze = o.analyze();
  return n;
}

CatalogFilter FilterFrom(const cutover::v1::CopyOptions& o) {
  CatalogFilter f;
  f.exclude_schemas.assign(o.exclude_schemas().begin(), o.exclude_schemas().end());
  f.exclude_table_data.assign(o.exclude_table_data().begin(), o.exclude_table_data().end());
  return f;
}

int MajorVersion(int server_version) { return server_version / 10000; }

// Reads blue's catalog in a snapshot: the exported one, or (preflight) a
// fresh REPEATABLE READ one.
absl::StatusOr<Catalog> ReadCatalogIn(pg::Session& blue, const std::string& snapshot_id,
                                      const CatalogFilter& filter) {
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(blue.conn());
    if (!snapshot_id.empty()) tx.exec("SET TRANSACTION SNAPSHOT " + pg::QuoteLiteral(snapshot_id));
    auto cat = ReadCatalog(tx, filter);
    tx.commit();
    return cat;
  } catch (const std::exception& e) {
    return pg::StatusFromException(e, "blue");
  }
}

// Executes data and post-data work against real PostgreSQL; one blue
// snapshot connection and one green connection per data worker, one green
// connection per index worker, opened lazily. Each worker index is used by
// exactly one thread (scheduler contract), so no locking is needed.
class PgCopyExecutor : public CopyExecutor {
 public:
  PgCopyExecutor(const CopyRequest& req, const Normalized& opts, std::string snapshot, CopyProgressTracker* tracker,
                 CopyControl* control, Clock* clock)
      : req_(req),
        opts_(opts),
        snapshot_(std::move(snapshot)),
        tracker_(tracker),
        control_(control),
        clock_(clock),
        blue_(opts.table_jobs),
        green_data_(opts.table_jobs),
        green_index_(opts.index_jobs) {}

  absl::Status CopyTable(const TableInfo& table, int worker) override {
    absl::Status last;
    for (int attempt = 1; attempt <= kTableAttempts; ++attempt) {
      auto result = CopyOnce(table, worker);
      if (result.ok()) {
        tracker_->SetCopied(table.oid, result->rows, result->bytes);
        return absl::OkStatus();
      }
      last = Annotate(result.status(), absl::StrCat("copying ", table.DisplayName()));
      tracker_->ResetTable(table.oid);
      blue_[worker].reset();
      green_data_[worker].reset();
      if (!IsRetryable(last) || !control_->cancelled().ok() || attempt == kTableAttempts) break;
      spdlog::warn("copy of {} failed (attempt {}/{}), retrying: {}", table.DisplayName(), attempt, kTableAttempts,
                   std::string(last.message()));
      clock_->SleepFor(absl::Seconds(attempt));
    }
    tracker_->MarkFailed(table.oid);
    return last;
  }

  absl::Status RunStep(const PostStep& step, int worker) override {
    auto& conn = green_index_[worker];
    if (!conn) {
      ASSIGN_OR_RETURN(pg::RawConn c, pg::RawConn::Connect(req_.green_dsn, "green", "cutover-index"));
      RETURN_IF_ERROR(c.Exec(absl::StrCat("SET maintenance_work_mem = ", pg::QuoteLiteral(opts_.maintenance_work_mem),
                                          "; SET synchronous_commit = off; SET statement_timeout = 0;")));
      conn.emplace(std::move(c));
    }
    for (const auto& sql : step.sql) {
      absl::Status st = conn->Exec(sql);
      if (!st.ok()) {
        conn.reset();
        return Annotate(st, absl::StrCat("building ", StepKindName(step.kind), " ", step.name));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<StreamResult> CopyOnce(const TableInfo& table, int worker) {
    if (!blue_[worker]) {
      ASSIGN_OR_RETURN(pg::RawConn c, OpenSnapshotConn(req_.blue_dsn, snapshot_, "cutover-copy"));
      blue_[worker].emplace(std::move(c));
    }
    if (!green_data_[worker]) {
      ASSIGN_OR_RETURN(pg::RawConn c, pg::RawConn::Connect(req_.green_dsn, "green", "cutover-copy"));
      RETURN_IF_ERROR(c.Exec("SET synchronous_commit = off; SET statement_timeout = 0;"));
      green_data_[worker].emplace(std::move(c));
    }
    return StreamTable(*blue_[worker], *green_data_[worker], table, [&](int64_t rows, int64_t bytes) {
      tracker_->AddStreamed(table.oid, rows, bytes);
      return control_->Account(bytes);
    });
  }

  const CopyRequest& req_;
  const Normalized opts_;
  const std::string snapshot_;
  CopyProgressTracker* const tracker_;
  CopyControl* const control_;
  Clock* const clock_;
  std::vector<std::optional<pg::RawConn>> blue_;
  std::vector<std::optional<pg::RawConn>> green_data_;
  std::vector<std::optional<pg::RawConn>> green_index_;
};

// Forwards scheduler events to the tracker, and turns "all data in" into the
// INDEXING stage.
class StageForwarder : public ScheduleObserver {
 public:
  StageForwarder(CopyProgressTracker* tracker, CopyObserver* observer, CopyControl* control, Clock* clock)
      : tracker_(tracker), observer_(observer), control_(control), clock_(clock) {}
  void OnTableDataStarted(const TableInfo& t) override { tracker_->OnTableDataStarted(t); }
  void OnTableDataDone(const TableInfo& t) override {
    tracker_->OnTableDataDone(t);
    observer_->OnLog(absl::StrCat("copied ", t.DisplayName()));
  }
  void OnStepStarted(const PostStep& s) override { tracker_->OnStepStarted(s); }
  void OnStepDone(const PostStep& s) override { tracker_->OnStepDone(s); }
  void OnDataComplete() override {
    data_done_at_ = clock_->Now();
    absl::Status st = observer_->OnStage(CopyStage::kIndexing);
    if (!st.ok()) control_->Cancel(st);
  }
  absl::Time data_done_at() const { return data_done_at_; }

 private:
  CopyProgressTracker* tracker_;
  CopyObserver* observer_;
  CopyControl* control_;
  Clock* clock_;
  std::atomic<absl::Time> data_done_at_{absl::InfinitePast()};
};

class PgCopier : public Copier {
 public:
  explicit PgCopier(Clock* clock) : clock_(clock) {}

  std::vector<CheckResult> Preflight(const CopyRequest& req) override;
  absl::StatusOr<cutover::v1::CopyReport> Copy(const CopyRequest& req, CopyObserver* observer,
                                               CopyControl* control) override;

 private:
  absl::StatusOr<cutover::v1::CopyReport> CopyAfterPreflight(const CopyRequest& req, const Normalized& opts,
                                                            pg::Session& green, CopyObserver* observer,
                                                            CopyControl* control, int64_t* attempt_id);
  absl::StatusOr<cutover::v1::VerifyReport> Verify(const CopyRequest& req, const Normalized& opts,
                                                   const std::string& snapshot, const CopyPlan& plan,
                                                   CopyControl* control);
  Clock* const clock_;
};

std::vector<CheckResult> PgCopier::Preflight(const CopyRequest& req) {
  std::vector<CheckResult> out;
  auto add = [&](std::string name, absl::Status st, std::string detail) {
    out.push_back({std::move(name), std::move(st), std::move(detail)});
    return out.back().status.ok();
  };
  auto opts = NormalizeOptions(req.options);
  add("copy.options", opts.status(), "table_jobs, index_jobs, max_bytes_per_second in range");

  const bool blue_dsn_ok = add("blue.dsn", pg::ParseDsn(req.blue_dsn, "blue DSN").status(), "blue DSN parses");
  const bool green_dsn_ok = add("green.dsn", pg::ParseDsn(req.green_dsn, "green DSN").status(), "green DSN parses");
  std::unique_ptr<pg::Session> blue, green;
  if (blue_dsn_ok) {
    auto s = pg::Session::Connect(req.blue_dsn, "blue", "cutover-preflight");
    if (add("blue.connect", s.status(), absl::StrCat("connect to ", pg::DescribeDsn(req.blue_dsn)))) {
      blue = std::move(*s);
    }
  }
  if (green_dsn_ok) {
    auto s = pg::Session::Connect(req.green_dsn, "green", "cutover-preflight");
    if (add("green.connect", s.status(), absl::StrCat("connect to ", pg::DescribeDsn(req.green_dsn)))) {
      green = std::move(*s);
    }
  }
  if (!blue || !green) return out;

  // Same database on both sides would copy a database onto itself.
  const char* kWhere = "SELECT coalesce(inet_server_addr()::text, 'local') || ':' || "
                       "coalesce(inet_server_port()::text, '') || '/' || current_database(), "
                       "(SELECT system_identifier::text FROM pg_control_system())";
  auto bw = blue->Exec(kWhere);
  auto gw = green->Exec(kWhere);
  if (bw.ok() && gw.ok()) {
    const bool same = (*bw)[0][1].as<std::string>() == (*gw)[0][1].as<std::string>() &&
                      (*bw)[0][0].as<std::string>().substr((*bw)[0][0].as<std::string>().find('/')) ==
                          (*gw)[0][0].as<std::string>().substr((*gw)[0][0].as<std::string>().find('/'));
    add("distinct", same ? absl::InvalidArgumentError("blue and green DSNs name the same database")
                         : absl::OkStatus(),
        "blue and green are different databases");
  } else {
    add("distinct", !bw.ok() ? bw.status() : gw.status(), "compare blue and green identity");
  }

  const int bv = blue->server_version(), gv = green->server_version();
  add("versions",
      MajorVersion(gv) < MajorVersion(bv)
          ? absl::FailedPreconditionError(absl::StrCat("green runs PostgreSQL ", MajorVersion(gv),
                                                       ", older than blue's ", MajorVersion(bv),
                                                       ": a dump cannot move to an older major version"))
          : absl::OkStatus(),
      absl::StrCat("blue ", bv, ", green ", gv));
  auto dump_version = RunCommandOk({{PgProgram("pg_dump"), "--version"}, {}, "", absl::Seconds(20), ""});
  if (!dump_version.ok()) {
    add("pg_dump", Annotate(dump_version.status(), "pg_dump is needed for the schema"), "pg_dump --version");
  } else {
    int major = 0;
    std::vector<std::string> words = absl::StrSplit(*dump_version, absl::ByAnyChar(" ."), absl::SkipEmpty());
    for (const auto& w : words) {
      if (absl::SimpleAtoi(w, &major) && major > 0) break;
    }
    add("pg_dump",
        major < MajorVersion(bv) ? absl::FailedPreconditionError(absl::StrCat(
                                       "pg_dump is version ", major, ", older than blue's server ", MajorVersion(bv)))
                                 : absl::OkStatus(),
        absl::StrCat("pg_dump ", major));
  }

  // Blue: what we copy, whether we may read it, and what we refuse.
  auto cat = ReadCatalogIn(*blue, "", FilterFrom(req.options));
  if (!add("blue.catalog", cat.status(), "read blue's catalog")) return out;
  {
    std::vector<std::string> bad;
    for (const auto& u : cat->unsupported) bad.push_back(absl::StrCat(u.what, ": ", u.where));
    add("blue.supported",
        bad.empty() ? absl::OkStatus()
                    : absl::FailedPreconditionError(absl::StrCat("blue has objects cutover cannot copy: ",
                                                                 absl::StrJoin(bad, "; "))),
        absl::StrCat(cat->tables.size(), " tables, ", cat->indexes.size(), " indexes, ", cat->sequences.size(),
                     " sequences"));
  }
  auto priv = blue->Exec(absl::StrCat(
      "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname <> ALL(ARRAY['pg_catalog','information_schema',"
      "'cutover_capture','cutover_replay']) AND n.nspname NOT LIKE 'pg\\_%' "
      "AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')) "
      "ORDER BY 1 LIMIT 6"));
  if (priv.ok()) {
    std::vector<std::string> denied;
    for (const auto& r : *priv) denied.push_back(r[0].as<std::string>());
    add("blue.privileges",
        denied.empty() ? absl::OkStatus()
                       : absl::PermissionDeniedError(absl::StrCat(
                             "the blue user cannot read ", absl::StrJoin(denied, ", "),
                             denied.size() > 5 ? " and more" : "",
                             " (needs USAGE on the schema and SELECT on each table and sequence, "
                             "e.g. GRANT pg_read_all_data)")),
        "SELECT on every table and sequence to copy");
  } else {
    add("blue.privileges", priv.status(), "SELECT on every table and sequence to copy");
  }

  // Green: may we create, do extensions and roles exist, is it empty.
  auto create = green->Exec(
      "SELECT has_database_privilege(current_database(), 'CREATE'), "
      "       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_user");
  if (create.ok()) {
    const bool can_create = (*create)[0][0].as<bool>();
    add("green.privileges",
        can_create ? absl::OkStatus()
                   : absl::PermissionDeniedError(absl::StrCat("the green user ", (*create)[0][2].as<std::string>(),
                                                              " lacks CREATE on the green database")),
        "CREATE on the green database");
  } else {
    add("green.privileges", create.status(), "CREATE on the green database");
  }
  if (!cat->extensions.empty()) {
    auto avail = green->Exec("SELECT name FROM pg_available_extensions");
    std::vector<std::string> missing;
    if (avail.ok()) {
      std::set<std::string> names;
      for (const auto& r : *avail) names.insert(r[0].as<std::string>());
      for (const auto& e : cat->extensions) {
        if (!names.count(e)) missing.push_back(e);
      }
    }
    add("green.extensions",
        !avail.ok() ? avail.status()
        : missing.empty()
            ? absl::OkStatus()
            : absl::FailedPreconditionError(absl::StrCat("extensions used on blue are not installable on green: ",
                                                         absl::StrJoin(missing, ", "))),
        absl::StrCat("extensions ", absl::StrJoin(cat->extensions, ", ")));
  }
  if (!req.options.no_owner()) {
    auto roles = green->Exec("SELECT rolname FROM pg_roles");
    std::vector<std::string> missing;
    if (roles.ok()) {
      std::set<std::string> names;
      for (const auto& r : *roles) names.insert(r[0].as<std::string>());
      for (const auto& o : cat->owner_roles) {
        if (!names.count(o)) missing.push_back(o);
      }
    }
    add("green.roles",
        !roles.ok() ? roles.status()
        : missing.empty()
            ? absl::OkStatus()
            : absl::FailedPreconditionError(absl::StrCat(
                  "roles owning blue's objects do not exist on green: ", absl::StrJoin(missing, ", "),
                  " (create them on green, or set copy.no_owner)")),
        "owner roles exist on green");
  }
  auto gstate = InspectGreen(*green);
  if (gstate.ok()) {
    std::string detail = "green holds nothing";
    if (gstate->resettable()) {
      detail = absl::StrCat("green holds an incomplete copy (attempt ", gstate->last_attempt->id, ", ",
                            gstate->last_attempt->state, "): it will be reset");
    }
    add("green.empty", CheckGreenUsable(*gstate), detail);
  } else {
    add("green.empty", gstate.status(), "inspect green");
  }
  if (opts.ok()) {
    auto mwm = green->ExecParams("SELECT set_config('maintenance_work_mem', $1, false)", opts->maintenance_work_mem);
    add("copy.maintenance_work_mem",
        mwm.ok() ? absl::OkStatus()
                 : absl::InvalidArgumentError(absl::StrCat("copy.maintenance_work_mem '", opts->maintenance_work_mem,
                                                           "' is not a valid memory size (e.g. \"1GB\")")),
        "maintenance_work_mem accepted by green");
  }
  if (!req.work_dir.empty()) {
    add("work_dir",
        access(req.work_dir.c_str(), W_OK) == 0
            ? absl::OkStatus()
            : absl::InvalidArgumentError(absl::StrCat("work_dir ", req.work_dir, " is not a writable directory")),
        "work_dir writable");
  }
  return out;
}

class NullObserver : public CopyObserver {};

absl::StatusOr<cutover::v1::CopyReport> PgCopier::Copy(const CopyRequest& req, CopyObserver* observer,
                                                       CopyControl* control) {
  NullObserver null_observer;
  if (observer == nullptr) observer = &null_observer;
  CopyControl local_control(clock_);
  if (control == nullptr) control = &local_control;

  RETURN_IF_ERROR(FirstFailure(Preflight(req)));
  ASSIGN_OR_RETURN(Normalized opts, NormalizeOptions(req.options));
  control->SetMaxBytesPerSecond(req.options.max_bytes_per_second());

  ASSIGN_OR_RETURN(auto green, pg::Session::Connect(req.green_dsn, "green", "cutover-copy"));
  RETURN_IF_ERROR(EnsureMarker(*green));
  ASSIGN_OR_RETURN(GreenState gstate, InspectGreen(*green));
  if (gstate.resettable() && (!gstate.empty() || gstate.last_attempt->state != "reset")) {
    observer->OnLog(absl::StrCat("resetting green: previous copy attempt ", gstate.last_attempt->id, " is ",
                                 gstate.last_attempt->state));
    spdlog::warn("green holds incomplete copy attempt {} ({}): resetting green", gstate.last_attempt->id,
                 gstate.last_attempt->state);
    RETURN_IF_ERROR(Annotate(ResetGreen(*green), "resetting green"));
  }

  int64_t attempt_id = 0;
  auto report = CopyAfterPreflight(req, opts, *green, observer, control, &attempt_id);
  if (!report.ok() && attempt_id > 0) {
    // Best effort: a dead green connection leaves the attempt "running",
    // which the next run treats the same way.
    auto fresh = pg::Session::Connect(req.green_dsn, "green", "cutover-copy");
    if (fresh.ok()) {
      (void)SetAttemptState(**fresh, attempt_id, "failed", std::string(report.status().message()).substr(0, 2000));
    }
  }
  return report;
}

absl::StatusOr<cutover::v1::CopyReport> PgCopier::CopyAfterPreflight(const CopyRequest& req, const Normalized& opts,
                                                                    pg::Session& green, CopyObserver* observer,
                                                                    CopyControl* control, int64_t* attempt_id) {
  const absl::Time t_start = clock_->Now();
  cutover::v1::CopyReport report;

  // The coordinator exports the snapshot and holds it open until verification ends.
  ASSIGN_OR_RETURN(pg::RawConn coord, pg::RawConn::Connect(req.blue_dsn, "blue", "cutover-coordinator"));
  RETURN_IF_ERROR(coord.Exec("SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; "
                             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"));
  // pg_current_snapshot() in this REPEATABLE READ transaction is the
  // exported snapshot's xid horizon: the rollback sweep tells rows written on
  // blue after the copy by it.
  ASSIGN_OR_RETURN(pg::PgResultPtr snap_res, coord.Query("SELECT pg_export_snapshot(), pg_current_snapshot()::text"));
  const std::string snapshot = PQgetvalue(snap_res.get(), 0, 0);
  report.set_snapshot_id(snapshot);
  report.set_blue_xid_snapshot(PQgetvalue(snap_res.get(), 0, 1));
  observer->OnLog(absl::StrCat("exported snapshot ", snapshot, " on blue"));

  ASSIGN_OR_RETURN(auto blue_meta, pg::Session::Connect(req.blue_dsn, "blue", "cutover-copy"));
  ASSIGN_OR_RETURN(Catalog catalog, ReadCatalogIn(*blue_meta, snapshot, FilterFrom(req.options)));
  ASSIGN_OR_RETURN(*attempt_id, BeginAttempt(green, req.cutover_id, snapshot, pg::DescribeDsn(req.blue_dsn),
                                                  report.blue_xid_snapshot()));

  // Schema: dump in the snapshot, pre-data as one transaction.
  RETURN_IF_ERROR(observer->OnStage(CopyStage::kSchema));
  std::string work_dir = req.work_dir;
  bool remove_work_dir = false;
  if (work_dir.empty()) {
    char tmpl[] = "/tmp/cutover-copy-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("cannot create a temp dir for the schema dump");
    work_dir = tmpl;
    remove_work_dir = true;
  }
  struct Cleanup {
    std::string dir;
    bool on;
    ~Cleanup() {
      if (on) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  } cleanup{work_dir, remove_work_dir};
  const std::string dump_path = absl::StrCat(work_dir, "/schema.dump");
  DumpOptions dump{req.blue_dsn, snapshot,
                   {req.options.exclude_schemas().begin(), req.options.exclude_schemas().end()}, dump_path};
  RETURN_IF_ERROR(DumpSchema(dump));
  RestoreOptions pre;
  pre.green_dsn = req.green_dsn;
  pre.dump_path = dump_path;
  pre.section = "pre-data";
  pre.single_transaction = true;
  pre.no_owner = req.options.no_owner();
  RETURN_IF_ERROR(Restore(pre));
  const absl::Time t_schema = clock_->Now();
  *report.mutable_schema_duration() = ToProto(t_schema - t_start);
  observer->OnLog("pre-data schema restored on green");

  CopyPlan plan = BuildCopyPlan(catalog, PlanOptions{opts.analyze});
  ASSIGN_OR_RETURN(std::string post_toc, ListToc(dump_path, "post-data"));
  TocFilterResult post = FilterToc(post_toc, plan.handled_oids);
  const std::string list_path = absl::StrCat(work_dir, "/post-data.list");
  {
    std::ofstream f(list_path);
    f << post.list;
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", list_path));
  }

  CopyProgressTracker tracker(clock_);
  tracker.SetPlan(plan, snapshot);
  absl::Notification stop_progress;
  std::thread progress_thread([&] {
    while (!stop_progress.WaitForNotificationWithTimeout(req.progress_interval)) {
      observer->OnProgress(tracker.Snapshot());
    }
  });
  struct JoinOnExit {
    absl::Notification& n;
    std::thread& t;
    ~JoinOnExit() {
      if (!n.HasBeenNotified()) n.Notify();
      if (t.joinable()) t.join();
    }
  } join_progress{stop_progress, progress_thread};

  // Data and the copier's own post-data, interleaved.
  RETURN_IF_ERROR(observer->OnStage(CopyStage::kData));
  const absl::Time t_data = clock_->Now();
  PgCopyExecutor executor(req, opts, snapshot, &tracker, control, clock_);
  StageForwarder forwarder(&tracker, observer, control, clock_);
  RETURN_IF_ERROR(RunCopySchedule(plan, {opts.table_jobs, opts.index_jobs}, executor, &forwarder, control));
  RETURN_IF_ERROR(control->cancelled());
  const absl::Time t_data_done = forwarder.data_done_at() == absl::InfinitePast() ? clock_->Now()
                                                                                   : forwarder.data_done_at();
  *report.mutable_data_duration() = ToProto(t_data_done - t_data);

  // Whatever post-data pg_restore still has (triggers, partitioned indexes, ...).
  if (post.kept > 0) {
    RestoreOptions rest;
    rest.green_dsn = req.green_dsn;
    rest.dump_path = dump_path;
    rest.section = "post-data";
    rest.list_path = list_path;
    rest.jobs = opts.index_jobs;
    rest.no_owner = req.options.no_owner();
    RETURN_IF_ERROR(Restore(rest));
  }
  // Sequences: non-transactional, so blue's current values (never below the snapshot's).
  for (const auto& seq : catalog.sequences) {
    ASSIGN_OR_RETURN(pg::PgResultPtr r,
                     coord.Query(absl::StrCat("SELECT last_value, is_called FROM ", seq.QualifiedName())));
    const std::string value = PQgetvalue(r.get(), 0, 0);
    const bool is_called = std::string(PQgetvalue(r.get(), 0, 1)) == "t";
    RETURN_IF_ERROR(green
                        .Exec(absl::StrCat("SELECT setval(", pg::QuoteLiteral(seq.QualifiedName()), ", ", value, ", ",
                                           is_called ? "true" : "false", ")"))
                        .status());
  }
  for (const auto& mv : catalog.populated_matviews) {
    RETURN_IF_ERROR(Annotate(green.Exec(absl::StrCat("REFRESH MATERIALIZED VIEW ", mv.QualifiedName())).status(),
                             absl::StrCat("refreshing materialized view ", mv.schema, ".", mv.name)));
  }
  const absl::Time t_post = clock_->Now();
  *report.mutable_data_and_index_duration() = ToProto(t_post - t_data);
  RETURN_IF_ERROR(SetAttemptState(green, *attempt_id, "copied"));
  observer->OnLog("data, indexes, constraints and sequences are on green");

  int tables_with_data = 0;
  for (const auto& t : plan.tables) tables_with_data += t.copy_data ? 1 : 0;
  report.set_tables(tables_with_data);
  report.set_indexes(plan.index_count);
  report.set_constraints(plan.constraint_count);
  report.set_sequences(static_cast<int32_t>(catalog.sequences.size()));

  if (req.verify) {
    RETURN_IF_ERROR(observer->OnStage(CopyStage::kVerifying));
    ASSIGN_OR_RETURN(*report.mutable_verify(), Verify(req, opts, snapshot, plan, control));
    if (!report.verify().all_match()) {
      std::vector<std::string> bad;
      for (const auto& t : report.verify().tables()) {
        if (t.match()) continue;
        bad.push_back(absl::StrCat(t.table(), ": blue ", t.blue_rows(), " rows hash ", t.blue_hash(), ", green ",
                                   t.green_rows(), " rows hash ", t.green_hash()));
      }
      return absl::DataLossError(absl::StrCat("verification failed for ", bad.size(), " table(s): ",
                                              absl::StrJoin(bad, "; ")));
    }
    RETURN_IF_ERROR(SetAttemptState(green, *attempt_id, "verified"));
  }
  RETURN_IF_ERROR(coord.Exec("COMMIT"));

  stop_progress.Notify();
  progress_thread.join();
  *report.mutable_progress() = tracker.Snapshot();
  observer->OnProgress(report.progress());
  report.set_rows(report.progress().rows_copied());
  report.set_bytes(report.progress().bytes_copied());
  *report.mutable_total_duration() = ToProto(clock_->Now() - t_start);
  return report;
}

absl::StatusOr<cutover::v1::VerifyReport> PgCopier::Verify(const CopyRequest& req, const Normalized& opts,
                                                           const std::string& snapshot, const CopyPlan& plan,
                                                           CopyControl* control) {
  const absl::Time t0 = clock_->Now();
  const bool with_hash = !req.options.skip_content_hash();
  std::vector<const TableInfo*> tables;
  for (const auto& t : plan.tables) {
    if (t.copy_data) tables.push_back(&t);
  }
  std::vector<cutover::v1::TableVerification> results(tables.size());
  const int workers = std::max(opts.table_jobs, 1);
  std::vector<std::optional<pg::RawConn>> blue(workers), green(workers);
  RETURN_IF_ERROR(ParallelFor(
      tables.size(), workers,
      [&](size_t i, int w) -> absl::Status {
        if (!blue[w]) {
          ASSIGN_OR_RETURN(pg::RawConn c, OpenSnapshotConn(req.blue_dsn, snapshot, "cutover-verify"));
          blue[w].emplace(std::move(c));
        }
        if (!green[w]) {
          ASSIGN_OR_RETURN(pg::RawConn c, pg::RawConn::Connect(req.green_dsn, "green", "cutover-verify"));
          RETURN_IF_ERROR(c.Exec(HashSettings()));
          green[w].emplace(std::move(c));
        }
        TableHash b, g;
        RETURN_IF_ERROR(HashBoth(*blue[w], *green[w], *tables[i], with_hash, &b, &g));
        auto& r = results[i];
        r.set_table(tables[i]->DisplayName());
        r.set_blue_rows(b.rows);
        r.set_green_rows(g.rows);
        r.set_blue_hash(b.hash);
        r.set_green_hash(g.hash);
        r.set_match(b.rows == g.rows && b.hash == g.hash);
        return absl::OkStatus();
      },
      control));
  cutover::v1::VerifyReport out;
  out.set_content_hashed(with_hash);
  bool all = true;
  for (auto& r : results) {
    all = all && r.match();
    *out.add_tables() = std::move(r);
  }
  out.set_all_match(all);
  *out.mutable_duration() = ToProto(clock_->Now() - t0);
  return out;
}

}  // namespace

std::unique_ptr<Copier> NewPgCopier(Clock* clock) { return std::make_unique<PgCopier>(clock); }

}  // namespace cutover::copy
