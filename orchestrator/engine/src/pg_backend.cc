// PgCutoverBackend: the real CutoverBackend over PostgreSQL (blue, green,
// control), the revocation queue (PgQueue or KafkaQueue), the capture, relay
// and replayer of replay/, the copier of orchestrator/copy, a router and the
// fence.
#include "cutover/engine/pg_backend.h"

#include <openssl/sha.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "cutover/copy/green_state.h"
#include "cutover/migrate/lint.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/kafka_queue.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/replay/relay.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rollback_sweep.h"
#include "cutover/replay/rules.h"
#include "spdlog/spdlog.h"

namespace cutover::engine {
namespace {

namespace v1 = cutover::v1;
namespace fs = std::filesystem;

v1::Check MakeCheck(const std::string& name, const absl::Status& st, const std::string& detail) {
  v1::Check c;
  c.set_name(name);
  c.set_ok(st.ok());
  c.set_detail(st.ok() ? detail : (detail.empty() ? std::string(st.message()) : absl::StrCat(detail, ": ", st.message())));
  return c;
}

// May the capturing side's user install and later remove capture? It needs
// CREATE on the database (schema cutover_capture, unless that exists and is
// writable) and, per captured table, TRIGGER (CREATE TRIGGER) and ownership
// (DROP TRIGGER at cleanup needs it): PermissionDenied naming what is
// missing. Without this check such a plan passed preflight and failed in
// CAPTURING, or worse, left triggers behind that only the owner can drop.
absl::Status CheckCapturePrivileges(const std::vector<v1::CaptureRule>& rules, pg::Session& side) {
  ASSIGN_OR_RETURN(pqxx::result db, side.Exec("SELECT current_user, has_database_privilege(current_database(), "
                                               "'CREATE') OR (to_regnamespace('cutover_capture') IS NOT NULL AND "
                                               "has_schema_privilege('cutover_capture', 'CREATE'))"));
  const std::string user = db[0][0].as<std::string>();
  std::vector<std::string> missing;
  if (!db[0][1].as<bool>()) missing.push_back("CREATE on the database (for schema cutover_capture)");
  std::set<std::string> tables;
  for (const auto& r : rules) tables.insert(r.table());
  for (const std::string& t : tables) {
    ASSIGN_OR_RETURN(pqxx::result r, side.Exec(absl::StrCat(
                                         "SELECT has_table_privilege(c.oid, 'TRIGGER'), pg_has_role(c.relowner, "
                                         "'USAGE') FROM pg_class c WHERE c.oid = to_regclass(",
                                         pg::QuoteLiteral(t), ")")));
    if (r.empty()) continue;  // a missing table is capture.blue_catalog's finding
    if (!r[0][0].as<bool>() || !r[0][1].as<bool>()) {
      missing.push_back(absl::StrCat("ownership of ", t, " (CREATE and DROP TRIGGER)"));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("the ", side.what(), " user ", user,
                                                  " cannot install capture: it lacks ", absl::StrJoin(missing, ", ")));
}

// The lock-hazard lint of plan.migration.dir (docs/migrations.md): OK, or
// FailedPrecondition listing the hazards and how to allow them. Hazards are
// only logged when the plan allows them (allow_lock_hazards).
absl::Status LintPlanMigrations(const v1::MigrationOptions& m, const std::string& cutover_id) {
  if (m.dir().empty()) return absl::OkStatus();
  migrate::LintOptions o;
  for (const auto& r : m.allowed_lint_rules()) o.allowed_rules.insert(r);
  absl::StatusOr<v1::MigrationLintReport> report = migrate::LintDirectory(m.dir(), o);
  if (!report.ok()) return Annotate(report.status(), "plan.migration.dir");
  if (!migrate::HasErrors(*report)) return absl::OkStatus();
  std::vector<std::string> shown;
  for (const auto& f : report->findings()) {
    if (f.severity() != v1::LINT_SEVERITY_ERROR) continue;
    if (shown.size() == 5) {
      shown.push_back("...");
      break;
    }
    shown.push_back(migrate::FormatFinding(f));
  }
  const std::string what = absl::StrCat("lock hazards in plan.migration.dir ", m.dir(), ": ", migrate::Summary(*report),
                                        ": ", absl::StrJoin(shown, "; "));
  if (m.allow_lock_hazards()) {
    spdlog::warn("cutover {}: {} (plan.migration.allow_lock_hazards: running them anyway)", cutover_id, what);
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      what, ". Fix them (docs/migrations.md), allow one statement with `-- cutover:allow <rule>`, or list the rule in "
            "plan.migration.allowedLintRules"));
}

// Runs a background loop object (Relay / Replayer) on its own thread.
template <typename T>
struct Runner {
  std::unique_ptr<T> obj;
  std::thread thread;
  // A stopped loop object cannot Run again (it can still Drain).
  bool stopped = false;
  bool running() const { return thread.joinable(); }
  void Stop() {
    if (obj) {
      obj->Stop();
      stopped = true;
    }
    if (thread.joinable()) thread.join();
  }
  void ResetIfStopped() {
    if (stopped) obj.reset();
    stopped = false;
  }
};

class PgCutoverBackend final : public CutoverBackend {
 public:
  PgCutoverBackend(std::string id, v1::Plan plan, Clock* clock) : id_(std::move(id)), plan_(std::move(plan)), clock_(clock) {
    copier_ = copy::NewPgCopier(clock_);
  }
  ~PgCutoverBackend() override {
    for (Direction d : {kForward, kReverse}) {
      StopReplayer(d);
      StopRelay(d);
    }
  }

  v1::ValidationResult Preflight() override {
    v1::ValidationResult out;
    copy::CopyRequest req = CopyRequestFor();
    for (const copy::CheckResult& r : copier_->Preflight(req)) *out.add_checks() = MakeCheck(r.name, r.status, r.detail);

    absl::StatusOr<std::vector<v1::CaptureRule>> rules = replay::ResolveRules(plan_.capture());
    *out.add_checks() = MakeCheck("capture.rules", rules.status(),
                                  rules.ok() ? absl::StrCat(rules->size(), " rule(s) from profile \"",
                                                            plan_.capture().profile(), "\"")
                                             : "");
    if (rules.ok()) {
      absl::StatusOr<std::unique_ptr<pg::Session>> blue = pg::Session::Connect(plan_.blue().dsn(), "blue", "cutover-preflight");
      if (blue.ok()) {
        absl::Status st = replay::CheckRulesOnCaptureSide(*rules, **blue);
        *out.add_checks() = MakeCheck("capture.blue_catalog", st, "every captured table and column exists on blue");
        *out.add_checks() = MakeCheck("capture.blue_privileges", CheckCapturePrivileges(*rules, **blue),
                                      "may install and remove capture on blue");
      }
    }
    // Queue reachable (nothing is created here).
    if (plan_.queue().has_postgres()) {
      absl::StatusOr<std::unique_ptr<pg::Session>> q =
          pg::Session::Connect(plan_.queue().postgres().dsn(), "queue (control database)", "cutover-preflight");
      absl::Status st = q.status();
      if (st.ok()) {
        absl::StatusOr<pqxx::result> r = (*q)->Exec("SELECT has_database_privilege(current_database(), 'CREATE')");
        st = r.status();
        if (st.ok() && !(*r)[0][0].as<bool>()) {
          st = absl::PermissionDeniedError("the queue's role may not CREATE in the control database (schema cutover_queue)");
        }
      }
      *out.add_checks() = MakeCheck("queue.postgres", st, "control database reachable, schema cutover_queue creatable");
    } else {
      absl::StatusOr<std::unique_ptr<replay::RevocationQueue>> q = OpenPlanQueue(id_, plan_);
      *out.add_checks() = MakeCheck("queue.kafka", q.status(), absl::StrCat("topic ", plan_.queue().kafka().topic()));
    }
    if (!plan_.migration().dir().empty()) {
      *out.add_checks() = MakeCheck("migration.lint", LintPlanMigrations(plan_.migration(), id_),
                                    absl::StrCat("no lock hazards in ", plan_.migration().dir()));
    }
    // Router and fence.
    absl::Status rst = EnsureRouter();
    if (!rst.ok()) {
      *out.add_checks() = MakeCheck("router", rst, "");
    } else {
      for (const router::RouterCheck& c : router_->Check()) *out.add_checks() = MakeCheck(c.name, c.status, c.detail);
    }
    *out.add_checks() =
        MakeCheck("blue.fence", fence(router::Target::kBlue).Check(), "may set blue read-only and terminate sessions");
    // Rollback: its rules resolve, and green can be fenced when traffic goes
    // back to blue. Green's catalog is checked when the reverse capture is
    // installed (after the migrations).
    if (FromProto(plan_.flip().rollback_window()) > absl::ZeroDuration()) {
      absl::StatusOr<std::vector<v1::CaptureRule>> rb = replay::ResolveRollbackRules(plan_.capture());
      *out.add_checks() = MakeCheck("capture.rollback_rules", rb.status(),
                                    rb.ok() ? absl::StrCat(rb->size(), " rollback rule(s)") : "");
      *out.add_checks() = MakeCheck("green.fence", fence(router::Target::kGreen).Check(),
                                    "may set green read-only and terminate sessions (rollback)");
      // The rollback leg's Kafka topic (<topic>.rollback) must exist now: found
      // missing only when a rollback starts, the rollback and its undo fail and
      // the cutover is stuck FAILED with traffic on green (chaos campaign).
      if (plan_.queue().has_kafka()) {
        absl::StatusOr<std::unique_ptr<replay::RevocationQueue>> rq = OpenPlanQueue(id_, plan_, kReverse);
        *out.add_checks() = MakeCheck("queue.kafka.rollback", rq.status(),
                                      absl::StrCat("topic ", plan_.queue().kafka().topic(), ".rollback"));
      }
    }
    // Warnings: long transactions on blue, window vs token TTL.
    absl::StatusOr<absl::Duration> age = OldestBlueTransaction();
    const absl::Duration max_age = FromProto(plan_.flip().max_blue_transaction_age());
    if (age.ok() && max_age > absl::ZeroDuration() && *age > max_age) {
      auto* w = out.add_warnings();
      w->set_code("blue.long_transaction");
      w->set_message(absl::StrCat("a transaction on blue has been open for ", absl::FormatDuration(absl::Trunc(*age, absl::Seconds(1))),
                                  " (> max_blue_transaction_age); the flip's PAUSE would wait on it"));
    }
    const absl::Duration window = FromProto(plan_.expected_window());
    const absl::Duration ttl = FromProto(plan_.token_ttl());
    if (window > absl::ZeroDuration() && ttl > absl::ZeroDuration() && ttl < window) {
      auto* w = out.add_warnings();
      w->set_code("window.token_ttl");
      w->set_message(absl::StrCat("token_ttl ", absl::FormatDuration(ttl), " < expected_window ",
                                  absl::FormatDuration(window),
                                  ": tokens issued on blue after the snapshot are not on green; clients holding them "
                                  "must re-authenticate after the flip. Raise the token TTL before the window."));
    }
    if (plan_.flip().flip_timeout().seconds() == 0 && plan_.flip().flip_timeout().nanos() == 0) {
      auto* w = out.add_warnings();
      w->set_code("flip.timeout_default");
      w->set_message("plan.flip.flip_timeout unset: using 30s");
    }
    bool ok = true;
    for (const auto& c : out.checks()) ok = ok && c.ok();
    out.set_ok(ok);
    return out;
  }

  absl::Status InstallCapture(Direction d) override {
    ASSIGN_OR_RETURN(auto rules, Rules(d));
    ASSIGN_OR_RETURN(auto side, Connect(CaptureDsn(d), CaptureSide(d), "cutover-capture"));
    if (d == kReverse) {
      // The rollback's apply statements must work on blue's schema, and the
      // captured tables exist on green's migrated one.
      ASSIGN_OR_RETURN(auto blue, Connect(plan_.blue().dsn(), "blue", "cutover-capture"));
      RETURN_IF_ERROR(Annotate(replay::CheckRulesAgainstCatalog(rules, *side, *blue), "capture.rollback_rules"));
      // The rollback sweep will look blue's window rows up on green: its
      // targets must resolve on the migrated catalog now, not mid-rollback.
      ASSIGN_OR_RETURN(auto forward, Rules(kForward));
      RETURN_IF_ERROR(replay::CheckSweepTargets(forward, *side));
    }
    return replay::InstallCapture(*side, rules, CaptureOptions(d));
  }
  absl::Status RemoveCapture(Direction d) override {
    ASSIGN_OR_RETURN(auto side, Connect(CaptureDsn(d), CaptureSide(d), "cutover-capture"));
    // The side may be fenced (blue after the flip, green after a rollback).
    RETURN_IF_ERROR(side->Exec("SET default_transaction_read_only = off").status());
    // By now the outbox was drained into the queue (flip) or is not needed
    // (abort, closed rollback window): force drops whatever is left.
    return replay::RemoveCapture(*side, CaptureOptions(d), /*force=*/true);
  }
  absl::Status VerifyCapture(Direction d) override {
    ASSIGN_OR_RETURN(auto side, Connect(CaptureDsn(d), CaptureSide(d), "cutover-capture"));
    ASSIGN_OR_RETURN(replay::CaptureStatus s, replay::InspectCapture(*side));
    if (!s.installed || s.cutover_id != id_ || s.direction != d) {
      return absl::FailedPreconditionError(absl::StrCat("capture for ", id_, " (", v1::Direction_Name(d),
                                                        ") is not installed on ", CaptureSide(d)));
    }
    if (s.triggers == 0 || s.disabled_triggers > 0) {
      return absl::FailedPreconditionError(absl::StrCat("capture on ", CaptureSide(d), " has ", s.triggers,
                                                        " trigger(s), ", s.disabled_triggers, " disabled"));
    }
    return absl::OkStatus();
  }

  absl::Status StartRelay(Direction d) override {
    absl::MutexLock l(&run_mu_);
    Leg& leg = legs_[Index(d)];
    if (leg.relay.running()) return absl::OkStatus();
    leg.relay.ResetIfStopped();
    RETURN_IF_ERROR(EnsureRelayLocked(d));
    replay::Relay* r = leg.relay.obj.get();
    leg.relay.thread = std::thread([r] { r->Run(); });
    return absl::OkStatus();
  }
  void StopRelay(Direction d) override {
    absl::MutexLock l(&run_mu_);
    // A stopped Relay cannot Run again (StartRelay makes a new one), but
    // Seal can still drain with it, over its open connection.
    legs_[Index(d)].relay.Stop();
  }
  absl::Status StartReplayer(Direction d) override {
    absl::MutexLock l(&run_mu_);
    Leg& leg = legs_[Index(d)];
    if (leg.replayer.running()) return absl::OkStatus();
    leg.replayer.ResetIfStopped();
    RETURN_IF_ERROR(EnsureReplayerLocked(d));
    replay::Replayer* r = leg.replayer.obj.get();
    leg.replayer.thread = std::thread([r] { r->Run(); });
    return absl::OkStatus();
  }
  void StopReplayer(Direction d) override {
    absl::MutexLock l(&run_mu_);
    legs_[Index(d)].replayer.Stop();
    // A stopped Replayer cannot Run again; keep it only for DrainUntil.
  }

  absl::StatusOr<v1::CopyReport> Copy(copy::CopyObserver* observer, copy::CopyControl* control) override {
    ASSIGN_OR_RETURN(auto green, pg::Session::Connect(plan_.green().dsn(), "green", "cutover-copy"));
    ASSIGN_OR_RETURN(copy::GreenState gs, copy::InspectGreen(*green));
    if (gs.last_attempt && gs.last_attempt->cutover_id == id_) {
      if (gs.last_attempt->state == "verified") {
        // Verified before a restart: nothing to copy again.
        v1::CopyReport r;
        r.set_snapshot_id(gs.last_attempt->snapshot_id);
        r.set_blue_xid_snapshot(gs.last_attempt->blue_xid_snapshot);
        r.mutable_verify()->set_all_match(true);
        r.mutable_verify()->set_content_hashed(!plan_.copy().skip_content_hash());
        return r;
      }
      if (gs.last_attempt->state == "copied") {
        // Copied but never verified, and the snapshot is gone with the old
        // process: verification in the same snapshot is impossible, so copy
        // again from a new snapshot.
        RETURN_IF_ERROR(copy::SetAttemptState(*green, gs.last_attempt->id, "failed",
                                              "cutoverd restarted before verification; copying again"));
      }
    }
    green.reset();
    return copier_->Copy(CopyRequestFor(), observer, control);
  }

  absl::Status Migrate(absl::Time deadline) override {
    const auto& m = plan_.migration();
    if (!m.command().empty()) {
      CommandSpec spec;
      spec.argv = {"/bin/sh", "-c", m.command()};
      spec.env["CUTOVER_GREEN_DSN"] = plan_.green().dsn();
      spec.env["CUTOVER_ID"] = id_;
      absl::Duration t = FromProto(m.command_timeout());
      spec.timeout = std::min(t > absl::ZeroDuration() ? t : absl::Hours(24), deadline - clock_->Now());
      return Annotate(RunCommandOk(spec).status(), "plan.migration.command");
    }
    if (m.dir().empty()) return absl::OkStatus();
    // The lint first: a lock hazard is refused before anything runs.
    RETURN_IF_ERROR(LintPlanMigrations(m, id_));
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(m.dir(), ec)) {
      if (e.path().extension() == ".sql") files.push_back(e.path());
    }
    if (ec) return absl::FailedPreconditionError(absl::StrCat("plan.migration.dir ", m.dir(), ": ", ec.message()));
    std::sort(files.begin(), files.end());
    ASSIGN_OR_RETURN(auto green, pg::Session::Connect(plan_.green().dsn(), "green", "cutover-migrate"));
    RETURN_IF_ERROR(green->Exec("SET synchronous_commit = on; CREATE SCHEMA IF NOT EXISTS cutover_replay; "
                                "CREATE TABLE IF NOT EXISTS cutover_replay.migrations (file text PRIMARY KEY, "
                                "sha text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
                        .status());
    for (const fs::path& f : files) {
      std::ifstream in(f);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string body = ss.str();
      // SHA-256 (not std::hash: that differs between builds, and a standby
      // on another host must recognise the files the first daemon applied).
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
      const std::string sha =
          absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
      const std::string name = f.filename().string();
      ASSIGN_OR_RETURN(pqxx::result r, green->Exec(absl::StrCat("SELECT sha FROM cutover_replay.migrations WHERE file = ",
                                                                pg::QuoteLiteral(name))));
      if (!r.empty()) {
        if (r[0][0].c_str() != sha) {
          return absl::FailedPreconditionError(absl::StrCat("migration ", name, " changed after it was applied on green"));
        }
        continue;
      }
      // psql runs the file as one transaction unless it says it must not
      // (CREATE INDEX CONCURRENTLY and friends).
      const bool single = !absl::StrContains(body, "cutover:no-transaction");
      CommandSpec spec;
      spec.argv = {PgProgram("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plan_.green().dsn(), "-f", f.string()};
      if (single) spec.argv.insert(spec.argv.begin() + 1, "-1");
      spec.timeout = deadline == absl::InfiniteFuture() ? absl::InfiniteDuration() : deadline - clock_->Now();
      RETURN_IF_ERROR(Annotate(RunCommandOk(spec).status(), absl::StrCat("migration ", name)));
      RETURN_IF_ERROR(green->Exec(absl::StrCat("INSERT INTO cutover_replay.migrations (file, sha) VALUES (",
                                               pg::QuoteLiteral(name), ", ", pg::QuoteLiteral(sha), ")"))
                          .status());
      spdlog::info("cutover {}: migration {} applied on green", id_, name);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::ReplayStats> Stats(Direction d) override {
    absl::MutexLock l(&stats_mu_);
    StatsSessions& ss = stats_[Index(d)];
    v1::ReplayStats s;
    // Outbox on the capturing side.
    if (!ss.capture) {
      ASSIGN_OR_RETURN(ss.capture, Connect(CaptureDsn(d), CaptureSide(d), "cutover-stats"));
    }
    absl::StatusOr<pqxx::result> ob = ss.capture->Exec(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(captured_at)), 0) FROM cutover_capture.outbox");
    int64_t outbox = 0;
    double oldest = 0;
    if (ob.ok()) {
      outbox = (*ob)[0][0].as<int64_t>();
      oldest = (*ob)[0][1].as<double>();
    } else if (ob.status().code() == absl::StatusCode::kUnavailable) {
      ss.capture.reset();
    }
    // Queue end vs the positions stored on the target.
    int64_t queued = 0;
    {
      absl::MutexLock rl(&run_mu_);
      Leg& leg = legs_[Index(d)];
      if (leg.queue) {
        absl::StatusOr<replay::Positions> end = leg.queue->EndPositions();
        if (end.ok()) {
          std::map<int32_t, int64_t> applied;
          if (!ss.target) {
            auto t = Connect(TargetDsn(d), TargetSide(d), "cutover-stats");
            if (t.ok()) ss.target = std::move(*t);
          }
          if (ss.target) {
            absl::StatusOr<pqxx::result> pr = ss.target->Exec(absl::StrCat(
                "SELECT partition, next_offset FROM cutover_replay.positions WHERE cutover_id = ", pg::QuoteLiteral(id_)));
            if (pr.ok()) {
              for (const auto& row : *pr) applied[row[0].as<int32_t>()] = row[1].as<int64_t>();
            } else if (pr.status().code() == absl::StatusCode::kUnavailable) {
              ss.target.reset();
            }
          }
          for (const auto& p : *end) {
            s.set_captured(s.captured() + p.offset());
            queued += std::max<int64_t>(0, p.offset() - (applied.count(p.partition()) ? applied[p.partition()] : 0));
          }
        }
      }
      if (leg.replayer.obj) {
        const replay::ReplayCounters c = leg.replayer.obj->stats();
        s.set_applied(c.applied);
        s.set_noops(c.noops);
        s.set_duplicates(c.duplicates);
        const absl::Time now = clock_->Now();
        if (leg.last_rate_at != absl::InfinitePast() && now > leg.last_rate_at) {
          s.set_events_per_second(static_cast<double>(c.consumed - leg.last_consumed) /
                                  absl::ToDoubleSeconds(now - leg.last_rate_at));
        }
        leg.last_rate_at = now;
        leg.last_consumed = c.consumed;
      }
    }
    if (ss.target) {
      absl::StatusOr<pqxx::result> dl = ss.target->Exec(absl::StrCat(
          "SELECT count(*) FROM cutover_replay.dead_letters WHERE cutover_id = ", pg::QuoteLiteral(id_)));
      if (dl.ok()) s.set_dead_letters((*dl)[0][0].as<int64_t>());
    }
    s.set_backlog(outbox + queued);
    *s.mutable_oldest_event_age() = ToProto(absl::Seconds(oldest));
    s.set_relay_backlog(outbox);
    *s.mutable_relay_lag() = ToProto(absl::Seconds(oldest));
    return s;
  }

  absl::StatusOr<std::vector<v1::AcceptedLoss>> BlueWrites() override {
    ASSIGN_OR_RETURN(auto blue, Connect(plan_.blue().dsn(), "blue", "cutover-stats"));
    // A fresh snapshot of the statistics, not the transaction's cached one.
    ASSIGN_OR_RETURN(pqxx::result r,
                     blue->Exec("SELECT pg_stat_clear_snapshot(); "
                                "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del "
                                "FROM pg_stat_user_tables WHERE schemaname NOT LIKE 'cutover%' ORDER BY 1"));
    std::vector<v1::AcceptedLoss> out;
    for (const auto& row : r) {
      v1::AcceptedLoss w;
      w.set_table(row[0].as<std::string>());
      w.set_inserts(row[1].as<int64_t>());
      w.set_updates(row[2].as<int64_t>());
      w.set_deletes(row[3].as<int64_t>());
      out.push_back(std::move(w));
    }
    return out;
  }

  absl::StatusOr<std::map<std::string, int64_t>> CarriedByTable() override {
    ASSIGN_OR_RETURN(auto rules, Rules(kForward));
    std::map<std::string, std::string> table_of;
    for (const auto& r : rules) table_of[r.name()] = r.table();
    ASSIGN_OR_RETURN(auto green, Connect(plan_.green().dsn(), "green", "cutover-stats"));
    ASSIGN_OR_RETURN(pqxx::result r,
                     green->Exec(absl::StrCat("SELECT rule, count(*) FROM cutover_replay.applied WHERE cutover_id = ",
                                              pg::QuoteLiteral(id_), " GROUP BY rule")));
    std::map<std::string, int64_t> out;
    for (const auto& row : r) {
      auto it = table_of.find(row[0].as<std::string>());
      if (it != table_of.end()) out[it->second] += row[1].as<int64_t>();
    }
    return out;
  }

  absl::StatusOr<absl::Duration> OldestBlueTransaction() override {
    ASSIGN_OR_RETURN(auto blue, pg::Session::Connect(plan_.blue().dsn(), "blue", "cutover-preflight"));
    ASSIGN_OR_RETURN(pqxx::result r,
                     blue->Exec("SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND "
                                "backend_type = 'client backend' AND xact_start IS NOT NULL AND "
                                "coalesce(application_name, '') NOT LIKE 'cutover%'"));
    return absl::Seconds(r[0][0].as<double>());
  }

  absl::StatusOr<v1::RollbackSweep> SweepBlue(const std::string& blue_xid_snapshot) override {
    ASSIGN_OR_RETURN(auto rules, Rules(kForward));
    ASSIGN_OR_RETURN(auto blue, Connect(plan_.blue().dsn(), "blue", "cutover-sweep"));
    ASSIGN_OR_RETURN(auto green, Connect(plan_.green().dsn(), "green", "cutover-sweep"));
    replay::SweepOptions o;
    o.log = [this](const std::string& line) { spdlog::info("cutover {}: rollback sweep: {}", id_, line); };
    return replay::SweepRowsMissingOnGreen(rules, blue_xid_snapshot, *blue, *green, o);
  }

  router::Router& router() override {
    absl::Status st = EnsureRouter();
    if (!st.ok()) {
      // A router that fails every call with the construction error.
      failing_router_ = std::make_unique<FailingRouter>(st);
      return *failing_router_;
    }
    return *router_;
  }
  router::Fence& fence(router::Target side) override {
    auto& f = side == router::Target::kGreen ? green_fence_ : blue_fence_;
    if (!f) f = router::NewPgFence(side == router::Target::kGreen ? plan_.green().dsn() : plan_.blue().dsn(), clock_);
    return *f;
  }

  absl::StatusOr<v1::Seal> Seal(Direction d, absl::Time deadline) override {
    absl::MutexLock l(&run_mu_);
    Leg& leg = legs_[Index(d)];
    leg.relay.Stop();
    RETURN_IF_ERROR(EnsureRelayLocked(d));
    ASSIGN_OR_RETURN(int64_t moved, leg.relay.obj->Drain(deadline));
    ASSIGN_OR_RETURN(replay::Positions end, leg.queue->EndPositions());
    // The relay object is spent (stopped); StartRelay makes a new one.
    leg.relay.obj.reset();
    leg.applied_at_seal = leg.replayer.obj ? Total(leg.replayer.obj->stats().positions) : -1;
    v1::Seal seal;
    for (const auto& p : end) *seal.add_end() = p;
    *seal.mutable_sealed_at() = ToProtoTime(clock_->Now());
    spdlog::info("cutover {}: {} sealed at {} ({} outbox rows moved)", id_, v1::Direction_Name(d),
                 replay::FormatPositions(end), moved);
    return seal;
  }

  absl::StatusOr<int64_t> ReplayUntil(Direction d, const v1::Seal& seal, absl::Time deadline) override {
    absl::MutexLock l(&run_mu_);
    Leg& leg = legs_[Index(d)];
    const replay::Positions target(seal.end().begin(), seal.end().end());
    // The tail: what the seal holds beyond what was applied when it was taken.
    const int64_t applied_at_seal = leg.applied_at_seal;
    leg.applied_at_seal = -1;
    auto tail = [&](int64_t applied_before) { return std::max<int64_t>(0, Total(target) - applied_before); };
    if (leg.replayer.running()) {
      // Wait on the running replayer: it is already reading the queue.
      const int64_t before = applied_at_seal >= 0 ? applied_at_seal : Total(leg.replayer.obj->stats().positions);
      RETURN_IF_ERROR(leg.replayer.obj->WaitUntil(target, deadline));
      return tail(before);
    }
    leg.replayer.ResetIfStopped();
    RETURN_IF_ERROR(EnsureReplayerLocked(d));
    const int64_t before = Total(leg.replayer.obj->stats().positions);
    RETURN_IF_ERROR(leg.replayer.obj->DrainUntil(target, deadline));
    return tail(before);
  }

 private:
  class FailingRouter final : public router::Router {
   public:
    explicit FailingRouter(absl::Status st) : st_(std::move(st)) {}
    std::string kind() const override { return "invalid"; }
    std::vector<router::RouterCheck> Check() override { return {{"router", st_, ""}}; }
    absl::Status Pause(absl::Time) override { return st_; }
    absl::Status Repoint(router::Target, absl::Time) override { return st_; }
    absl::Status Resume(absl::Time) override { return st_; }
    absl::StatusOr<router::Target> Current() override { return st_; }

   private:
    absl::Status st_;
  };

  copy::CopyRequest CopyRequestFor() const {
    copy::CopyRequest req;
    req.blue_dsn = plan_.blue().dsn();
    req.green_dsn = plan_.green().dsn();
    req.options = plan_.copy();
    req.cutover_id = id_;
    return req;
  }
  static int Index(Direction d) { return d == kReverse ? 1 : 0; }
  static int64_t Total(const replay::Positions& p) {
    int64_t n = 0;
    for (const auto& q : p) n += q.offset();
    return n;
  }
  // The leg's capturing side and its target.
  const std::string& CaptureDsn(Direction d) const { return d == kReverse ? plan_.green().dsn() : plan_.blue().dsn(); }
  const std::string& TargetDsn(Direction d) const { return d == kReverse ? plan_.blue().dsn() : plan_.green().dsn(); }
  static const char* CaptureSide(Direction d) { return d == kReverse ? "green" : "blue"; }
  static const char* TargetSide(Direction d) { return d == kReverse ? "blue" : "green"; }
  static absl::StatusOr<std::unique_ptr<pg::Session>> Connect(const std::string& dsn, const char* what,
                                                              const char* app) {
    return pg::Session::Connect(dsn, what, app);
  }

  replay::CaptureInstallOptions CaptureOptions(Direction d) const {
    replay::CaptureInstallOptions o;
    o.cutover_id = id_;
    o.direction = d;
    o.clock = clock_;
    return o;
  }
  absl::StatusOr<std::vector<v1::CaptureRule>> Rules(Direction d) {
    return d == kReverse ? replay::ResolveRollbackRules(plan_.capture()) : replay::ResolveRules(plan_.capture());
  }

  absl::Status EnsureQueueLocked(Direction d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_) {
    Leg& leg = legs_[Index(d)];
    if (leg.queue) return absl::OkStatus();
    ASSIGN_OR_RETURN(leg.queue, OpenPlanQueue(id_, plan_, d));
    return absl::OkStatus();
  }
  absl::Status EnsureRelayLocked(Direction d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_) {
    Leg& leg = legs_[Index(d)];
    if (leg.relay.obj) return absl::OkStatus();
    RETURN_IF_ERROR(EnsureQueueLocked(d));
    replay::RelayOptions o;
    o.cutover_id = id_;
    o.source_dsn = CaptureDsn(d);
    ASSIGN_OR_RETURN(leg.relay.obj, replay::Relay::Create(o, leg.queue.get(), clock_));
    return absl::OkStatus();
  }
  absl::Status EnsureReplayerLocked(Direction d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_) {
    Leg& leg = legs_[Index(d)];
    if (leg.replayer.obj) return absl::OkStatus();
    RETURN_IF_ERROR(EnsureQueueLocked(d));
    ASSIGN_OR_RETURN(auto rules, Rules(d));
    replay::ReplayerOptions o;
    o.cutover_id = id_;
    o.apply_dsn = TargetDsn(d);
    o.direction = d;
    ASSIGN_OR_RETURN(leg.replayer.obj, replay::Replayer::Create(o, rules, leg.queue.get(), clock_));
    return absl::OkStatus();
  }
  absl::Status EnsureRouter() {
    if (router_) return absl::OkStatus();
    ASSIGN_OR_RETURN(router_, router::NewRouter(plan_.router(), clock_));
    return absl::OkStatus();
  }

  const std::string id_;
  const v1::Plan plan_;
  Clock* const clock_;
  std::unique_ptr<copy::Copier> copier_;
  std::unique_ptr<router::Router> router_;
  std::unique_ptr<router::Router> failing_router_;
  std::unique_ptr<router::Fence> blue_fence_;
  std::unique_ptr<router::Fence> green_fence_;

  // One revocation stream per direction.
  struct Leg {
    std::unique_ptr<replay::RevocationQueue> queue;
    Runner<replay::Relay> relay;
    Runner<replay::Replayer> replayer;
    absl::Time last_rate_at = absl::InfinitePast();
    int64_t last_consumed = 0;
    // Offsets the replayer had applied when the last seal was taken (-1: unknown).
    int64_t applied_at_seal = -1;
  };
  absl::Mutex run_mu_;
  Leg legs_[2] ABSL_GUARDED_BY(run_mu_);

  struct StatsSessions {
    std::unique_ptr<pg::Session> capture;
    std::unique_ptr<pg::Session> target;
  };
  absl::Mutex stats_mu_;
  StatsSessions stats_[2] ABSL_GUARDED_BY(stats_mu_);
};

class PgFactory final : public BackendFactory {
 public:
  explicit PgFactory(Clock* clock) : clock_(clock) {}
  absl::StatusOr<std::unique_ptr<CutoverBackend>> Create(const std::string& id, const v1::Plan& plan) override {
    return std::unique_ptr<CutoverBackend>(new PgCutoverBackend(id, plan, clock_));
  }

 private:
  Clock* clock_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<replay::RevocationQueue>> OpenPlanQueue(const std::string& cutover_id,
                                                                       const v1::Plan& plan, Direction direction) {
  const bool reverse = direction == kReverse;
  if (plan.queue().has_postgres()) {
    return replay::OpenPgQueue({plan.queue().postgres().dsn(), reverse ? cutover_id + ":rollback" : cutover_id});
  }
  if (!plan.queue().has_kafka()) return absl::InvalidArgumentError("plan.queue: set postgres or kafka");
  replay::KafkaQueueOptions o;
  const auto& k = plan.queue().kafka();
  o.bootstrap_servers = k.bootstrap_servers();
  o.topic = reverse ? k.topic() + ".rollback" : k.topic();
  o.partitions = k.partitions();
  o.properties.insert(k.properties().begin(), k.properties().end());
  return replay::OpenKafkaQueue(o);
}

std::unique_ptr<BackendFactory> NewPgBackendFactory(Clock* clock) { return std::make_unique<PgFactory>(clock); }

}  // namespace cutover::engine
