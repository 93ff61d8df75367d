#include "cutover/engine/orchestrator.h"

#include <atomic>
#include <functional>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "google/protobuf/util/message_differencer.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cutover/common/failpoint.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/engine/flip.h"
#include "cutover/migrate/lint.h"
#include "spdlog/spdlog.h"

namespace cutover::engine {

using cutover::v1::Cutover;
using cutover::v1::Phase;
namespace v1 = cutover::v1;

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kApprover: return "approver";
  }
  return "?";
}

std::string PhaseName(Phase phase) {
  return std::string(absl::StripPrefix(v1::Phase_Name(phase), "PHASE_"));
}

bool IsRunningPhase(Phase p) {
  switch (p) {
    case v1::PHASE_CAPTURING:
    case v1::PHASE_COPYING:
    case v1::PHASE_INDEXING:
    case v1::PHASE_VERIFYING_COPY:
    case v1::PHASE_MIGRATING:
    case v1::PHASE_CATCHING_UP:
    case v1::PHASE_READY:
    case v1::PHASE_FLIPPING:
    case v1::PHASE_DRAINING:
    case v1::PHASE_PAUSED:
    case v1::PHASE_ROLLING_BACK:
      return true;
    default:
      return false;
  }
}

bool IsTerminalPhase(Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_ABORTED || p == v1::PHASE_ROLLED_BACK;
}

namespace {

bool IsBeforeFlip(Phase p) { return p >= v1::PHASE_CAPTURING && p <= v1::PHASE_READY; }

bool RollbackEnabled(const Cutover& c) { return FromProto(c.plan().flip().rollback_window()) > absl::ZeroDuration(); }

// A terminal cutover still needing a worker: ABORTED with capture or fence
// left to clean up; COMPLETED with the rollback window open (its reverse
// stream runs, and its capture on green is removed when the window closes).
bool NeedsCleanup(const Cutover& c) {
  if (c.phase() == v1::PHASE_ABORTED) return c.capture_installed() || c.blue_fenced() || c.reverse_capture_installed();
  if (c.phase() == v1::PHASE_COMPLETED) return c.reverse_capture_installed();
  return false;
}

bool Adoptable(const Cutover& c) { return IsRunningPhase(c.phase()) || NeedsCleanup(c); }

std::string NewId(absl::string_view name, absl::Time now) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  std::mt19937_64 gen(rd() ^ (counter++ << 32));
  const std::string stamp = absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone());
  std::string base;
  for (char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') base.push_back(ch);
    if (base.size() >= 40) break;
  }
  if (base.empty()) base = "cutover";
  return absl::StrCat(base, "-", stamp, "-", absl::Hex(gen() & 0xffff, absl::kZeroPad4));
}

std::string CallerName(const Caller& c) { return absl::StrCat(c.identity, " (", RoleName(c.role), ")"); }

}  // namespace

absl::Status ValidatePlanFields(const v1::Plan& plan) {
  std::vector<std::string> errors;
  if (plan.name().empty()) errors.push_back("plan.name is empty (expected a short name, e.g. \"hydra-2x\")");
  // The name is shown in every listing and sent in every Watch event: a
  // megabyte of it (a file pasted into the field) is a mistake, not a name.
  constexpr size_t kMaxName = 128;
  if (plan.name().size() > kMaxName) {
    errors.push_back(absl::StrCat("plan.name is ", plan.name().size(), " bytes long (expected a short name, at most ",
                                  kMaxName, ")"));
  }
  if (plan.blue().dsn().empty()) errors.push_back("plan.blue.dsn is empty (expected a PostgreSQL connection string)");
  if (plan.green().dsn().empty()) errors.push_back("plan.green.dsn is empty (expected a PostgreSQL connection string)");
  if (!plan.blue().dsn().empty() && plan.blue().dsn() == plan.green().dsn()) {
    errors.push_back("plan.green.dsn is the same as plan.blue.dsn (expected two different databases)");
  }
  // A DSN that libpq cannot parse is a plan error (InvalidArgument naming the
  // field), not a failed connection check at preflight.
  auto dsn_syntax = [&](const std::string& dsn, const char* field) {
    if (dsn.empty()) return;
    if (absl::StatusOr<pg::DsnOptions> o = pg::ParseDsn(dsn, field); !o.ok()) {
      errors.push_back(std::string(o.status().message()));
    }
  };
  dsn_syntax(plan.blue().dsn(), "plan.blue.dsn");
  dsn_syntax(plan.green().dsn(), "plan.green.dsn");
  if (plan.queue().has_postgres()) dsn_syntax(plan.queue().postgres().dsn(), "plan.queue.postgres.dsn");
  if (plan.router().has_pgbouncer()) dsn_syntax(plan.router().pgbouncer().admin_dsn(), "plan.router.pgbouncer.admin_dsn");
  if (plan.queue().backend_case() == v1::QueueOptions::BACKEND_NOT_SET) {
    errors.push_back("plan.queue: set postgres or kafka");
  } else if (plan.queue().has_postgres() && plan.queue().postgres().dsn().empty()) {
    errors.push_back("plan.queue.postgres.dsn is empty (expected the control database's connection string)");
  } else if (plan.queue().has_kafka()) {
    if (plan.queue().kafka().bootstrap_servers().empty()) errors.push_back("plan.queue.kafka.bootstrap_servers is empty");
    if (plan.queue().kafka().topic().empty()) errors.push_back("plan.queue.kafka.topic is empty");
  }
  if (plan.router().kind_case() == v1::RouterOptions::KIND_NOT_SET) {
    errors.push_back("plan.router: set pgbouncer or command");
  }
  if (plan.capture().profile().empty() && plan.capture().rules().empty()) {
    errors.push_back("plan.capture: set profile (\"hydra\" or \"generic\") or rules");
  }
  const auto& f = plan.flip();
  auto negative = [](const google::protobuf::Duration& d) { return d.seconds() < 0 || d.nanos() < 0; };
  if (negative(f.flip_timeout())) errors.push_back("plan.flip.flip_timeout is negative (expected e.g. \"30s\")");
  if (negative(f.approval_deadline())) errors.push_back("plan.flip.approval_deadline is negative");
  if (negative(f.max_blue_transaction_age())) errors.push_back("plan.flip.max_blue_transaction_age is negative");
  if (negative(f.rollback_window())) errors.push_back("plan.flip.rollback_window is negative");
  if (f.max_backlog() < 0) errors.push_back("plan.flip.max_backlog is negative (expected a number of events >= 0)");
  if (plan.copy().table_jobs() < 0) errors.push_back("plan.copy.table_jobs is negative");
  if (plan.copy().index_jobs() < 0) errors.push_back("plan.copy.index_jobs is negative");
  if (!plan.migration().dir().empty() && !plan.migration().command().empty()) {
    errors.push_back("plan.migration: set dir or command, not both");
  }
  for (int i = 0; i < plan.migration().allowed_lint_rules_size(); ++i) {
    const std::string& rule = plan.migration().allowed_lint_rules(i);
    if (!migrate::IsKnownRule(rule)) {
      errors.push_back(absl::StrCat("plan.migration.allowed_lint_rules[", i, "]: unknown rule \"", rule.substr(0, 64),
                                    "\" (expected a rule id from docs/migrations.md, e.g. lock-timeout-missing)"));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

// Why a rollback of `c` is not possible now ("" = it is), for people.
std::string RollbackRefusal(const Cutover& c, absl::Time now) {
  if (!RollbackEnabled(c)) {
    return "plan.flip.rollback_window is 0: no capture was installed on green, so revocations made there since "
           "the flip could not be carried back to blue; a rollback has to be done by hand "
           "(docs/runbooks/rollback.md)";
  }
  if (!c.reverse_capture_installed()) {
    return "the rollback capture on green is gone (the rollback window closed or the cutover was cleaned up)";
  }
  if (c.has_rollback_window_ends_at() && now >= FromProtoTime(c.rollback_window_ends_at())) {
    return absl::StrCat("the rollback window closed at ",
                        absl::FormatTime(FromProtoTime(c.rollback_window_ends_at()), absl::UTCTimeZone()),
                        " (plan.flip.rollback_window ", absl::FormatDuration(FromProto(c.plan().flip().rollback_window())),
                        " after the flip)");
  }
  return "";
}

// ---------------------------------------------------------------------------
// Worker: drives one cutover while this daemon holds its lease.
// Threads: the worker thread (phase loop), a lease thread (renewal), and at
// most one background operation (copy or migrate). The in-memory document
// `doc_` is the truth while we hold the lease: only this worker writes the
// cutover; API calls append requests to the timeline.
class Worker {
 public:
  Worker(std::string id, store::ControlStore* store, BackendFactory* backends, Clock* clock,
         const OrchestratorOptions& options)
      : id_(std::move(id)), store_(store), backends_(backends), clock_(clock), options_(options) {}

  ~Worker() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
    lease_thread_ = std::thread([this] { LeaseLoop(); });
  }
  // Stops without changing the phase; releases the lease.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (lease_thread_.joinable()) lease_thread_.join();
  }
  bool done() const { return done_; }

 private:
  // ---- plumbing ----
  void LeaseLoop() {
    while (!stop_ && !done_) {
      absl::StatusOr<store::LeaseInfo> l = store_->AcquireLease(id_, options_.identity, options_.lease_ttl);
      if (l.ok() && l->holder != options_.identity) {
        spdlog::error("cutover {}: lease lost to {}; stopping without further writes", id_, l->holder);
        lease_lost_ = true;
        return;
      }
      if (!l.ok()) spdlog::warn("cutover {}: lease renewal failed: {}", id_, l.status().ToString());
      // Renew at a third of the ttl; sleep in small steps to stop promptly.
      const absl::Time next = absl::Now() + options_.lease_ttl / 3;
      while (!stop_ && !done_ && absl::Now() < next) absl::SleepFor(absl::Milliseconds(20));
    }
  }

  bool ShouldExit() const { return stop_ || lease_lost_; }

  // Saves doc_ (progress, markers) under our lease.
  absl::Status Save() {
    absl::MutexLock l(&mu_);
    return SaveLocked();
  }
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *doc_.mutable_updated_at() = ToProtoTime(clock_->Now());
    absl::StatusOr<store::StoredCutover> s = store_->Save(doc_, options_.identity);
    if (!s.ok() && s.status().code() == absl::StatusCode::kAborted) lease_lost_ = true;
    return s.status();
  }
  // Phase change: persisted (with its timeline row) before anything else.
  absl::Status MoveTo(Phase to, absl::string_view action, absl::string_view reason,
                      const std::function<void(Cutover&)>& mutate = nullptr,
                      absl::string_view actor = "") {
    absl::MutexLock l(&mu_);
    Cutover next = doc_;
    const Phase from = doc_.phase();
    next.set_phase(to);
    *next.mutable_phase_entered_at() = ToProtoTime(clock_->Now());
    *next.mutable_updated_at() = ToProtoTime(clock_->Now());
    if (!reason.empty() || to == v1::PHASE_FAILED || to == v1::PHASE_READY) next.set_reason(std::string(reason));
    if (to != v1::PHASE_FAILED) next.clear_next_step();
    if (mutate) mutate(next);
    store::TransitionRecord rec{from, to, actor.empty() ? options_.identity : std::string(actor),
                                std::string(action), std::string(reason)};
    absl::StatusOr<store::StoredCutover> s = store_->Transition(next, rec, options_.identity);
    if (!s.ok()) {
      if (s.status().code() == absl::StatusCode::kAborted) lease_lost_ = true;
      return s.status();
    }
    doc_ = std::move(next);
    notify_scan_ = true;  // the observer gets the new row on the next tick
    spdlog::info("cutover {}: {} -> {} ({}){}", id_, PhaseName(from), PhaseName(to), std::string(action),
                 reason.empty() ? "" : absl::StrCat(": ", reason));
    retries_ = 0;
    return absl::OkStatus();
  }
  void Note(absl::string_view action, absl::string_view reason, absl::string_view actor = "") {
    Phase p;
    {
      absl::MutexLock l(&mu_);
      p = doc_.phase();
    }
    store::TransitionRecord rec{p, p, actor.empty() ? options_.identity : std::string(actor), std::string(action),
                                std::string(reason)};
    absl::Status st = store_->Record(id_, rec, options_.identity);
    if (!st.ok()) spdlog::warn("cutover {}: timeline note failed: {}", id_, st.ToString());
  }
  Cutover Doc() {
    absl::MutexLock l(&mu_);
    return doc_;
  }

  // A phase step failed: transient -> retry later (bounded), else FAILED.
  void Failed(absl::string_view what, const absl::Status& st, absl::string_view next_step = "") {
    if (IsRetryable(st) && ++retries_ <= options_.max_phase_retries) {
      spdlog::warn("cutover {}: {} failed (attempt {}/{}), retrying: {}", id_, std::string(what), retries_,
                   options_.max_phase_retries, st.ToString());
      backoff_until_ = clock_->Now() + std::min(absl::Seconds(1) * (1 << std::min(retries_, 5)), absl::Seconds(30));
      return;
    }
    const Phase here = Doc().phase();
    std::string cmd = next_step.empty()
                          ? absl::StrCat("fix the cause, then `cutoverctl resume ", id_, "` (re-runs ", PhaseName(here),
                                         ") or `cutoverctl abort ", id_, "`")
                          : std::string(next_step);
    absl::Status m = MoveTo(v1::PHASE_FAILED, "failed", absl::StrCat(what, ": ", st.ToString()), [&](Cutover& c) {
      c.set_failed_phase(here);
      c.set_next_step(cmd);
    });
    if (!m.ok()) spdlog::error("cutover {}: could not record FAILED: {}", id_, m.ToString());
  }

  // ---- background operations (copy, migrate) ----
  struct BgOp {
    std::thread thread;
    std::atomic<bool> finished{false};
    absl::Status status;
    v1::CopyReport report;
  };

  class Observer : public copy::CopyObserver {
   public:
    explicit Observer(Worker* w) : w_(w) {}
    absl::Status OnStage(copy::CopyStage stage) override {
      Phase to = v1::PHASE_COPYING;
      if (stage == copy::CopyStage::kIndexing) to = v1::PHASE_INDEXING;
      if (stage == copy::CopyStage::kVerifying) to = v1::PHASE_VERIFYING_COPY;
      Phase current = w_->Doc().phase();
      if (current == v1::PHASE_PAUSED) current = w_->Doc().paused_phase();
      if (to <= current) return absl::OkStatus();  // resumed into a later stage
      if (w_->Doc().phase() == v1::PHASE_PAUSED) {
        absl::MutexLock l(&w_->mu_);
        w_->doc_.set_paused_phase(to);
        return w_->SaveLocked();
      }
      return w_->MoveTo(to, "phase-complete", "");
    }
    void OnProgress(const v1::CopyProgress& progress) override {
      absl::MutexLock l(&w_->mu_);
      *w_->doc_.mutable_copy() = progress;
    }
    void OnLog(absl::string_view line) override { spdlog::info("cutover {}: {}", w_->id_, std::string(line)); }

   private:
    Worker* w_;
  };

  void StartCopy() {
    bg_ = std::make_unique<BgOp>();
    copy_control_ = std::make_unique<copy::CopyControl>();
    if (Doc().phase() == v1::PHASE_PAUSED) copy_control_->Pause();
    observer_ = std::make_unique<Observer>(this);
    BgOp* op = bg_.get();
    bg_->thread = std::thread([this, op] {
      absl::StatusOr<v1::CopyReport> r = backend_->Copy(observer_.get(), copy_control_.get());
      if (r.ok()) {
        op->report = *r;
      } else {
        op->status = r.status();
      }
      op->finished = true;
    });
  }
  void StartMigrate() {
    bg_ = std::make_unique<BgOp>();
    BgOp* op = bg_.get();
    bg_->thread = std::thread([this, op] {
      op->status = backend_->Migrate(absl::InfiniteFuture());
      op->finished = true;
    });
  }
  void JoinBg() {
    if (!bg_) return;
    if (copy_control_) copy_control_->Cancel(absl::CancelledError("cutoverd stopping"));
    if (bg_->thread.joinable()) bg_->thread.join();
    bg_.reset();
    copy_control_.reset();
  }

  // ---- the loop ----
  void Run() {
    absl::Status st = Adopt();
    if (!st.ok()) {
      spdlog::error("cutover {}: cannot adopt: {}", id_, st.ToString());
      done_ = true;
      return;
    }
    while (!ShouldExit()) {
      if (clock_->Now() >= backoff_until_) {
        HandleRequests();
        if (ShouldExit()) break;
        StepPhase();
      }
      NotifyObserver();
      const Cutover c = Doc();
      if (!Adoptable(c)) break;
      SaveProgressIfDue();
      clock_->SleepFor(options_.tick);
    }
    // Leaving: background work stops; nothing else is written after a lost lease.
    JoinBg();
    if (backend_) StopLegs();
    if (!lease_lost_) FlushObserver();
    if (!lease_lost_) {
      absl::Status r = store_->ReleaseLease(id_, options_.identity);
      if (!r.ok()) spdlog::warn("cutover {}: releasing the lease: {}", id_, r.ToString());
    }
    done_ = true;
  }

  absl::Status Adopt() {
    ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id_));
    {
      absl::MutexLock l(&mu_);
      doc_ = s.cutover;
    }
    observed_seq_ = s.cutover.notified_seq();  // re-hand what the last holder did not settle
    notify_scan_ = true;
    ASSIGN_OR_RETURN(backend_, backends_->Create(id_, s.cutover.plan()));
    Note("adopted", absl::StrCat("driven by ", options_.identity, " from ", PhaseName(s.cutover.phase())));
    return absl::OkStatus();
  }

  // ---- phase-change observer (webhooks) ----
  // Hands the timeline's phase changes after observed_seq_ to the observer
  // (in seq order) and moves the persisted cursor notified_seq up to what the
  // observer has settled; SaveProgressIfDue / MoveTo write it. Only the lease
  // holder does this, so each phase change is handed over by one daemon, and
  // again by the next holder if the cursor had not passed it (duplicates
  // possible, losses not: docs/webhooks.md).
  void NotifyObserver() {
    PhaseObserver* obs = options_.observer;
    if (obs == nullptr || ShouldExit()) return;
    if (notify_scan_.exchange(false)) {
      absl::StatusOr<std::vector<v1::Transition>> rows = store_->Transitions(id_, observed_seq_);
      if (!rows.ok()) {
        notify_scan_ = true;  // next tick
        return;
      }
      const Cutover c = Doc();
      for (const v1::Transition& t : *rows) {
        // The creation row (-> PLANNED) was handed over by the daemon that
        // served CreatePlan (Orchestrator::NotifyUnowned).
        if (t.from() != t.to() && t.from() != v1::PHASE_UNSPECIFIED) obs->OnPhaseChange(c, t);
        observed_seq_ = t.seq();
      }
    }
    const int64_t settled = obs->SettledThrough(id_, observed_seq_);
    absl::MutexLock l(&mu_);
    if (settled > doc_.notified_seq()) doc_.set_notified_seq(settled);
  }
  // Leaving with the lease: persist the cursor. When the cutover itself is
  // leaving (FAILED, terminal) wait a little for deliveries in flight; when
  // the daemon stops, do not wait (the next holder re-sends the rest).
  void FlushObserver() {
    PhaseObserver* obs = options_.observer;
    if (obs == nullptr) return;
    const absl::Time until = absl::Now() + (stop_ ? absl::ZeroDuration() : options_.observer_flush_timeout);
    while (obs->SettledThrough(id_, observed_seq_) < observed_seq_ && absl::Now() < until && !stop_) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    const int64_t settled = obs->SettledThrough(id_, observed_seq_);
    {
      absl::MutexLock l(&mu_);
      if (settled > doc_.notified_seq()) doc_.set_notified_seq(settled);
    }
    // Always: NotifyObserver may have moved the cursor in memory only.
    if (absl::Status st = Save(); !st.ok()) spdlog::warn("cutover {}: saving the webhook cursor: {}", id_, st.ToString());
  }

  void SaveProgressIfDue() {
    if (clock_->Now() < next_progress_save_) return;
    next_progress_save_ = clock_->Now() + absl::Seconds(1);
    const Phase p = Doc().phase();
    if (p >= v1::PHASE_CAPTURING && p <= v1::PHASE_DRAINING && p != v1::PHASE_FLIPPING) RefreshStats();
    if ((p == v1::PHASE_COMPLETED || p == v1::PHASE_DRAINING) && Doc().reverse_capture_installed()) {
      RefreshStats(kReverse);
    }
    // Only when something changed: a cutover waiting in READY or in its
    // rollback window would otherwise write (and wake every watcher) each second.
    Cutover now = Doc();
    now.clear_updated_at();
    if (google::protobuf::util::MessageDifferencer::Equals(now, last_progress_)) return;
    absl::Status st = Save();
    if (st.ok()) {
      last_progress_ = std::move(now);
    } else if (!ShouldExit()) {
      spdlog::warn("cutover {}: saving progress: {}", id_, st.ToString());
    }
  }

  void RefreshStats(Direction d = kForward) {
    absl::StatusOr<v1::ReplayStats> s = backend_->Stats(d);
    if (s.ok()) {
      absl::MutexLock l(&mu_);
      *(d == kReverse ? doc_.mutable_rollback_replay() : doc_.mutable_replay()) = *s;
    }
  }
  void StopLegs() {
    for (Direction d : {kForward, kReverse}) {
      backend_->StopReplayer(d);
      backend_->StopRelay(d);
    }
  }

  // Guardrails: why the flip may not go now (empty = it may).
  std::vector<std::string> Blockers() {
    std::vector<std::string> out;
    const Cutover c = Doc();
    const auto& f = c.plan().flip();
    if (!c.copy_report().has_verify() || !c.copy_report().verify().all_match()) {
      out.push_back("the copy is not verified (VERIFYING_COPY did not pass)");
    }
    if (c.replay().dead_letters() > 0) {
      out.push_back(absl::StrCat(c.replay().dead_letters(),
                                 " dead-lettered event(s) on green: an unapplied revocation is unsafe "
                                 "(inspect cutover_replay.dead_letters)"));
    }
    if (c.replay().backlog() > f.max_backlog()) {
      out.push_back(absl::StrCat("replay backlog ", c.replay().backlog(), " > plan.flip.max_backlog ", f.max_backlog()));
    }
    const absl::Duration max_age = FromProto(f.max_blue_transaction_age());
    if (max_age > absl::ZeroDuration()) {
      absl::StatusOr<absl::Duration> age = backend_->OldestBlueTransaction();
      if (!age.ok()) {
        out.push_back(absl::StrCat("cannot read blue's oldest transaction: ", age.status().message()));
      } else if (*age > max_age) {
        out.push_back(absl::StrCat("blue has a transaction open for ", absl::FormatDuration(absl::Trunc(*age, absl::Seconds(1))),
                                   " > plan.flip.max_blue_transaction_age ", absl::FormatDuration(max_age),
                                   " (PAUSE would wait on it)"));
      }
    }
    return out;
  }

  // ---- operator requests ----
  void HandleRequests() {
    const int64_t after = Doc().handled_seq();
    absl::StatusOr<std::vector<v1::Transition>> rows = store_->Transitions(id_, after);
    if (!rows.ok()) return;
    for (const v1::Transition& t : *rows) {
      if (ShouldExit()) return;
      if (absl::StartsWith(t.action(), "request:")) {
        HandleRequest(std::string(absl::StripPrefix(t.action(), "request:")), t);
      }
      absl::MutexLock l(&mu_);
      doc_.set_handled_seq(t.seq());
    }
    if (!rows->empty()) (void)Save();
  }

  void HandleRequest(const std::string& cmd, const v1::Transition& t) {
    const Cutover c = Doc();
    const Phase p = c.phase();
    const std::string actor = t.actor();
    auto refuse = [&](absl::string_view why) { Note(absl::StrCat(cmd, "-refused"), why, actor); };
    if (cmd == "pause") {
      if (!(p >= v1::PHASE_COPYING && p <= v1::PHASE_READY && p != v1::PHASE_MIGRATING)) {
        return refuse(absl::StrCat("cannot pause in ", PhaseName(p)));
      }
      if (copy_control_) copy_control_->Pause();
      backend_->StopReplayer(kForward);
      (void)MoveTo(v1::PHASE_PAUSED, "pause", t.reason(), [&](Cutover& n) { n.set_paused_phase(p); }, actor);
    } else if (cmd == "resume") {
      if (p != v1::PHASE_PAUSED) return refuse(absl::StrCat("not paused (", PhaseName(p), ")"));
      const Phase back = c.paused_phase();
      if (MoveTo(back, "resume", t.reason(), [](Cutover& n) { n.clear_paused_phase(); }, actor).ok()) {
        if (copy_control_) copy_control_->Resume();
      }
    } else if (cmd == "approve") {
      if (!(p >= v1::PHASE_CAPTURING && p <= v1::PHASE_READY) && p != v1::PHASE_PAUSED) {
        return refuse(absl::StrCat("nothing to approve in ", PhaseName(p)));
      }
      if (c.approved()) return;  // a second approve that raced the first: nothing to do
      {
        absl::MutexLock l(&mu_);
        doc_.set_approved(true);
      }
      (void)Save();
      Note("approved", t.reason(), actor);
    } else if (cmd == "abort") {
      if (!(IsBeforeFlip(p) || p == v1::PHASE_PAUSED)) {
        return refuse(absl::StrCat("cannot abort in ", PhaseName(p),
                                   p >= v1::PHASE_FLIPPING ? " (traffic is on green: use rollback)" : ""));
      }
      if (copy_control_) copy_control_->Cancel(absl::CancelledError("aborted"));
      (void)MoveTo(v1::PHASE_ABORTED, "abort", t.reason(), nullptr, actor);
    } else if (cmd == "rollback") {
      if (p != v1::PHASE_DRAINING && p != v1::PHASE_COMPLETED) {
        return refuse(absl::StrCat("cannot roll back in ", PhaseName(p)));
      }
      if (std::string why = RollbackRefusal(c, clock_->Now()); !why.empty()) return refuse(why);
      (void)MoveTo(v1::PHASE_ROLLING_BACK, "rollback", t.reason(), [&](Cutover& n) {
        n.set_rollback_from(p);
        n.set_rollback_step(v1::FLIP_STEP_NONE);
        n.mutable_rollback()->set_attempts(n.rollback().attempts() + 1);
      }, actor);
    } else {
      refuse(absl::StrCat("unknown request ", cmd));
    }
  }

  // ---- phases ----
  void StepPhase() {
    const Cutover c = Doc();
    if (absl::Status fp = Failpoint(absl::StrCat("phase.", PhaseName(c.phase()))); !fp.ok()) {
      return Failed(PhaseName(c.phase()), fp);
    }
    switch (c.phase()) {
      case v1::PHASE_CAPTURING: return Capturing();
      case v1::PHASE_COPYING:
      case v1::PHASE_INDEXING:
      case v1::PHASE_VERIFYING_COPY: return Copying();
      case v1::PHASE_MIGRATING: return Migrating();
      case v1::PHASE_CATCHING_UP: return CatchingUp();
      case v1::PHASE_READY: return Ready();
      case v1::PHASE_FLIPPING: return Flipping();
      case v1::PHASE_DRAINING: return Draining();
      case v1::PHASE_ABORTED: return Cleanup();
      case v1::PHASE_PAUSED: return Paused();
      case v1::PHASE_COMPLETED: return RollbackWindow();
      case v1::PHASE_ROLLING_BACK: return RollingBack();
      default: return;
    }
  }

  void Capturing() {
    if (!Doc().capture_installed()) {
      // Mark before installing: a crash in between leaves a flag that makes
      // abort clean up (removal is idempotent).
      {
        absl::MutexLock l(&mu_);
        doc_.set_capture_installed(true);
      }
      if (absl::Status st = Save(); !st.ok()) return Failed("saving capture state", st);
    }
    if (absl::Status st = backend_->InstallCapture(kForward); !st.ok()) return Failed("installing capture on blue", st);
    if (absl::Status st = backend_->VerifyCapture(kForward); !st.ok()) return Failed("verifying capture on blue", st);
    if (absl::Status st = backend_->StartRelay(kForward); !st.ok()) return Failed("starting the relay", st);
    (void)MoveTo(v1::PHASE_COPYING, "phase-complete", "capture live on blue; window open");
  }

  void Copying() {
    if (absl::Status st = backend_->StartRelay(kForward); !st.ok()) return Failed("starting the relay", st);
    if (!bg_ && Doc().blue_writes_at_copy_size() == 0) {
      // Baseline of the accepted losses (writes on blue after the snapshot).
      absl::StatusOr<std::vector<v1::AcceptedLoss>> w = backend_->BlueWrites();
      if (w.ok()) {
        absl::MutexLock l(&mu_);
        for (auto& t : *w) *doc_.add_blue_writes_at_copy() = std::move(t);
      } else {
        spdlog::warn("cutover {}: blue's write statistics unavailable, no accepted-loss figures: {}", id_,
                     w.status().ToString());
      }
    }
    if (!bg_) return StartCopy();
    if (!bg_->finished) return;
    bg_->thread.join();
    absl::Status st = bg_->status;
    v1::CopyReport report = bg_->report;
    bg_.reset();
    copy_control_.reset();
    if (!st.ok()) {
      if (st.code() == absl::StatusCode::kCancelled && Doc().phase() == v1::PHASE_ABORTED) return;
      return Failed(absl::StrCat(PhaseName(Doc().phase()), " (copy)"), st);
    }
    (void)MoveTo(v1::PHASE_MIGRATING, "phase-complete",
                 absl::StrCat(report.tables(), " tables, ", report.rows(), " rows copied and verified"),
                 [&](Cutover& n) {
                   *n.mutable_copy_report() = report;
                   *n.mutable_copy() = report.progress();
                   *n.mutable_verify() = report.verify();
                 });
  }

  void Migrating() {
    if (absl::Status st = backend_->StartRelay(kForward); !st.ok()) return Failed("starting the relay", st);
    if (!bg_) return StartMigrate();
    if (!bg_->finished) return;
    bg_->thread.join();
    absl::Status st = bg_->status;
    bg_.reset();
    if (!st.ok()) return Failed("MIGRATING", st);
    (void)MoveTo(v1::PHASE_CATCHING_UP, "phase-complete", "migrations applied on green");
  }

  void CatchingUp() {
    if (absl::Status st = backend_->StartRelay(kForward); !st.ok()) return Failed("starting the relay", st);
    if (absl::Status st = backend_->StartReplayer(kForward); !st.ok()) return Failed("starting the replayer", st);
    RefreshStats();
    const Cutover c = Doc();
    if (c.replay().backlog() > c.plan().flip().max_backlog()) return;
    const absl::Duration deadline = FromProto(c.plan().flip().approval_deadline());
    (void)MoveTo(v1::PHASE_READY, "phase-complete",
                 absl::StrCat("replay backlog ", c.replay().backlog(), " <= ", c.plan().flip().max_backlog()),
                 [&](Cutover& n) {
                   if (deadline > absl::ZeroDuration() && !n.plan().flip().auto_flip()) {
                     *n.mutable_approval_deadline_at() = ToProtoTime(clock_->Now() + deadline);
                   }
                 });
  }

  void Ready() {
    if (absl::Status st = backend_->StartRelay(kForward); !st.ok()) return Failed("starting the relay", st);
    if (absl::Status st = backend_->StartReplayer(kForward); !st.ok()) return Failed("starting the replayer", st);
    if (RollbackEnabled(Doc()) && !reverse_capture_verified_) {
      // Before any client reaches green: revocations made there after the
      // flip must be capturable for a rollback. Marked first, so abort
      // cleans up after a crash in between; installed (idempotent) and
      // verified by every worker before it may flip — the mark alone once
      // let a flip through after a failed install (chaos seed 1024).
      const bool marked = Doc().reverse_capture_installed();
      if (!marked) {
        {
          absl::MutexLock l(&mu_);
          doc_.set_reverse_capture_installed(true);
        }
        if (absl::Status st = Save(); !st.ok()) return Failed("saving rollback capture state", st);
      }
      if (absl::Status st = backend_->InstallCapture(kReverse); !st.ok()) {
        return Failed("installing rollback capture on green", st);
      }
      if (absl::Status st = backend_->VerifyCapture(kReverse); !st.ok()) {
        return Failed("verifying rollback capture on green", st);
      }
      reverse_capture_verified_ = true;
      Note("rollback-prepared", "capture for a rollback installed on green (GREEN_TO_BLUE)");
    }
    RefreshStats();
    const std::vector<std::string> blockers = Blockers();
    Cutover c = Doc();
    {
      absl::MutexLock l(&mu_);
      doc_.clear_flip_blockers();
      for (const auto& b : blockers) doc_.add_flip_blockers(b);
    }
    const bool wants = c.plan().flip().auto_flip() || c.approved();
    if (!wants) {
      if (c.has_approval_deadline_at() && clock_->Now() >= FromProtoTime(c.approval_deadline_at())) {
        (void)MoveTo(v1::PHASE_ABORTED, "approval-expired",
                     absl::StrCat("no approve before the approval deadline ",
                                  absl::FormatTime(FromProtoTime(c.approval_deadline_at()), absl::UTCTimeZone())));
      }
      return;
    }
    if (!blockers.empty()) {
      const std::string why = absl::StrJoin(blockers, "; ");
      if (why != last_refusal_) {
        Note("flip-refused", why);
        last_refusal_ = why;
      }
      return;
    }
    last_refusal_.clear();
    (void)MoveTo(v1::PHASE_FLIPPING, "flip", c.approved() ? "approved" : "auto_flip", [](Cutover& n) {
      n.set_flip_step(v1::FLIP_STEP_NONE);
      n.mutable_flip()->set_attempts(n.flip().attempts() + 1);
    });
  }

  FlipContext MakeFlipContext(Direction direction = kForward) {
    FlipContext ctx;
    ctx.backend = backend_.get();
    ctx.direction = direction;
    ctx.clock = clock_;
    const absl::Duration t = FromProto(Doc().plan().flip().flip_timeout());
    ctx.flip_timeout = t > absl::ZeroDuration() ? t : absl::Seconds(30);
    ctx.undo_timeout = options_.undo_timeout;
    ctx.persist = [this, direction](v1::FlipStep step, const v1::FlipResult& r) -> absl::Status {
      if (ShouldExit()) return absl::AbortedError("lease lost or cutoverd stopping");
      absl::MutexLock l(&mu_);
      const bool reverse = direction == kReverse;
      v1::FlipResult* stored = reverse ? doc_.mutable_rollback() : doc_.mutable_flip();
      if (reverse) {
        doc_.set_rollback_step(step);
      } else {
        doc_.set_flip_step(step);
      }
      const int attempts = stored->attempts();
      *stored = r;
      stored->set_attempts(attempts);
      if (step >= v1::FLIP_STEP_SEALING) {
        if (reverse) {
          doc_.set_green_fenced(true);
        } else {
          doc_.set_blue_fenced(true);
        }
      }
      // Clients wait while markers are written (a store write is several
      // round trips: ~15 ms on a busy box). Recovery only tells "before
      // DRAINED: undo" from "DRAINED or later: finish", so only PAUSING (the
      // first side effect) and REPOINTING / RESUMED are stored; FENCING ..
      // DRAINING live in memory (and reach the store with REPOINTING). A
      // restart between them finds PAUSING and undoes, as it must.
      if (step > v1::FLIP_STEP_PAUSING && step < v1::FLIP_STEP_REPOINTING) return absl::OkStatus();
      return SaveLocked();
    };
    return ctx;
  }

  void Flipping() {
    const Cutover c = Doc();
    FlipContext ctx = MakeFlipContext();
    FlipOutcome out;
    if (c.flip_step() != v1::FLIP_STEP_NONE) {
      Note("flip-recovery", absl::StrCat("found the flip at ", v1::FlipStep_Name(c.flip_step()), " after a restart"));
      out = RecoverFlip(ctx, c.flip_step(), c.flip());
    } else {
      backend_->StopRelay(kForward);  // Seal() drains the outbox itself
      out = RunFlip(ctx);
    }
    out.result.set_attempts(c.flip().attempts());
    if (out.result.succeeded()) {
      (void)MoveTo(v1::PHASE_DRAINING, "flip-complete",
                   absl::StrCat("traffic on green; write gap ",
                                absl::FormatDuration(FromProto(out.result.write_gap())), ", ",
                                out.result.tail_events(), " tail event(s)"),
                   [&](Cutover& n) {
                     *n.mutable_flip() = out.result;
                     n.set_flip_step(v1::FLIP_STEP_RESUMED);
                     n.set_blue_fenced(true);
                     if (RollbackEnabled(n)) {
                       *n.mutable_rollback_window_ends_at() =
                           ToProtoTime(clock_->Now() + FromProto(n.plan().flip().rollback_window()));
                     }
                   });
      return;
    }
    if (!out.undo_status.ok()) {
      (void)MoveTo(v1::PHASE_FAILED, "flip-undo-failed",
                   absl::StrCat(out.result.failure_reason(), "; undo failed: ", out.undo_status.ToString()),
                   [&](Cutover& n) {
                     *n.mutable_flip() = out.result;
                     // Resume must retry the undo, never finish forward.
                     if (out.undo_attempted) n.set_flip_step(v1::FLIP_STEP_PAUSING);
                     n.set_failed_phase(v1::PHASE_FLIPPING);
                     n.set_next_step(absl::StrCat(
                         "check the router and blue's fence by hand (RESUME in PgBouncer; "
                         "ALTER DATABASE ... RESET default_transaction_read_only), then `cutoverctl resume ",
                         id_, "` to retry the undo"));
                   });
      return;
    }
    const bool retry_auto = c.plan().flip().auto_flip() && c.flip().attempts() < options_.max_auto_flip_attempts;
    (void)MoveTo(v1::PHASE_READY, "flip-failed",
                 absl::StrCat("flip attempt ", c.flip().attempts(), " undone: ", out.result.failure_reason(),
                              retry_auto ? "; retrying automatically"
                                         : (c.plan().flip().auto_flip() ? "; auto_flip attempts exhausted: approve to retry"
                                                                        : "; approve to retry")),
                 [&](Cutover& n) {
                   *n.mutable_flip() = out.result;
                   n.set_flip_step(v1::FLIP_STEP_NONE);
                   n.set_blue_fenced(false);
                   n.set_approved(false);
                   if (!retry_auto && c.plan().flip().auto_flip()) {
                     // Stop auto retries: an explicit approve is needed now.
                     n.mutable_plan()->mutable_flip()->set_auto_flip(false);
                   }
                 });
    backoff_until_ = clock_->Now() + absl::Seconds(1);
  }

  void Draining() {
    const Cutover c = Doc();
    // The seal was applied during the flip; make sure nothing is left and
    // nothing is dead-lettered before calling it complete.
    if (c.reverse_capture_installed()) KeepRollbackReady();
    absl::StatusOr<int64_t> tail = backend_->ReplayUntil(kForward, c.flip().seal(), clock_->Now() + absl::Minutes(5));
    if (!tail.ok()) return Failed("DRAINING (replay up to the seal)", tail.status());
    RefreshStats();
    if (Doc().replay().dead_letters() > 0) {
      return Failed("DRAINING", absl::FailedPreconditionError(absl::StrCat(
                                    Doc().replay().dead_letters(), " dead-lettered event(s) on green need an operator")),
                    absl::StrCat("inspect cutover_replay.dead_letters on green, apply them by hand, archive and "
                                 "delete those rows (they are counted while present: docs/runbooks/dead-letters.md), "
                                 "then `cutoverctl resume ",
                                 id_, "`"));
    }
    backend_->StopReplayer(kForward);
    backend_->StopRelay(kForward);
    const std::vector<v1::AcceptedLoss> losses = AcceptedLosses(c);
    if (c.capture_installed()) {
      if (absl::Status st = backend_->RemoveCapture(kForward); !st.ok()) return Failed("removing capture from blue", st);
    }
    (void)MoveTo(v1::PHASE_COMPLETED, "phase-complete",
                 c.reverse_capture_installed()
                     ? absl::StrCat("every event up to the seal applied on green; rollback possible until ",
                                    absl::FormatTime(FromProtoTime(c.rollback_window_ends_at()), absl::UTCTimeZone()))
                     : "every event up to the seal applied on green",
                 [&](Cutover& n) {
                   n.set_capture_installed(false);
                   *n.mutable_completed_at() = ToProtoTime(clock_->Now());
                   n.clear_accepted_losses();
                   for (const auto& l : losses) *n.add_accepted_losses() = l;
                 });
  }

  // Writes on blue between the copy's start and now (blue fenced) that the
  // forward leg did not carry, per table; empty without a baseline.
  std::vector<v1::AcceptedLoss> AcceptedLosses(const Cutover& c) {
    std::vector<v1::AcceptedLoss> out;
    if (c.blue_writes_at_copy_size() == 0) return out;
    absl::StatusOr<std::vector<v1::AcceptedLoss>> now = backend_->BlueWrites();
    absl::StatusOr<std::map<std::string, int64_t>> carried = backend_->CarriedByTable();
    if (!now.ok() || !carried.ok()) {
      spdlog::warn("cutover {}: accepted losses not computed: {}", id_,
                   (!now.ok() ? now.status() : carried.status()).ToString());
      return out;
    }
    std::map<std::string, v1::AcceptedLoss> base;
    for (const auto& b : c.blue_writes_at_copy()) base[b.table()] = b;
    for (const auto& w : *now) {
      const v1::AcceptedLoss& b = base[w.table()];
      int64_t ins = std::max<int64_t>(0, w.inserts() - b.inserts());
      int64_t upd = std::max<int64_t>(0, w.updates() - b.updates());
      int64_t del = std::max<int64_t>(0, w.deletes() - b.deletes());
      // Revocations were carried: capture DELETEs first, then UPDATEs.
      int64_t left = (*carried)[w.table()];
      const int64_t from_del = std::min(left, del);
      del -= from_del;
      left -= from_del;
      upd -= std::min(left, upd);
      if (ins == 0 && upd == 0 && del == 0) continue;
      v1::AcceptedLoss l;
      l.set_table(w.table());
      l.set_inserts(ins);
      l.set_updates(upd);
      l.set_deletes(del);
      out.push_back(std::move(l));
    }
    return out;
  }

  void Paused() {
    // Copy stays paused through its control; replay is stopped; the relay
    // keeps moving captured events so the outbox does not grow.
    // A copy that finishes while paused keeps its result in bg_ until the
    // resume (Copying() picks it up).
    (void)backend_->StartRelay(kForward);
  }

  // ABORTED with leftovers: stop everything, lower the fence, remove capture.
  void Cleanup() {
    JoinBg();
    StopLegs();
    const Cutover c = Doc();
    const absl::Time deadline = clock_->Now() + options_.undo_timeout;
    if (c.blue_fenced() || c.flip_step() != v1::FLIP_STEP_NONE) {
      absl::Status st = backend_->fence(router::Target::kBlue).Lower(deadline);
      if (st.ok()) st = backend_->router().Repoint(router::Target::kBlue, deadline);
      if (st.ok()) st = backend_->router().Resume(deadline);
      if (!st.ok()) return Failed("abort cleanup (fence/router)", st);
    }
    if (c.capture_installed()) {
      if (absl::Status st = backend_->RemoveCapture(kForward); !st.ok()) return Failed("abort cleanup (removing capture)", st);
    }
    if (c.reverse_capture_installed()) {
      if (absl::Status st = backend_->RemoveCapture(kReverse); !st.ok()) {
        return Failed("abort cleanup (removing rollback capture from green)", st);
      }
    }
    {
      absl::MutexLock l(&mu_);
      doc_.set_capture_installed(false);
      doc_.set_reverse_capture_installed(false);
      doc_.set_blue_fenced(false);
      doc_.set_flip_step(v1::FLIP_STEP_NONE);
    }
    if (Save().ok()) Note("cleaned-up", "capture removed from blue, no fence; green kept for inspection");
  }

  // ---- rollback ----
  // While the window is open the reverse leg runs: green's outbox -> the
  // rollback queue -> blue (fenced for everyone but us), so a rollback only
  // has a short tail to drain.
  void KeepRollbackReady() {
    if (absl::Status st = backend_->StartRelay(kReverse); !st.ok()) {
      spdlog::warn("cutover {}: rollback relay: {}", id_, st.ToString());
    }
    if (absl::Status st = backend_->StartReplayer(kReverse); !st.ok()) {
      spdlog::warn("cutover {}: rollback replayer: {}", id_, st.ToString());
    }
  }

  // COMPLETED with the rollback window open.
  void RollbackWindow() {
    const Cutover c = Doc();
    if (!c.reverse_capture_installed()) return;
    if (c.has_rollback_window_ends_at() && clock_->Now() < FromProtoTime(c.rollback_window_ends_at())) {
      return KeepRollbackReady();
    }
    backend_->StopReplayer(kReverse);
    backend_->StopRelay(kReverse);
    if (absl::Status st = backend_->RemoveCapture(kReverse); !st.ok()) {
      // COMPLETED stays COMPLETED; retried on the next tick.
      spdlog::warn("cutover {}: removing rollback capture from green: {}", id_, st.ToString());
      backoff_until_ = clock_->Now() + absl::Seconds(5);
      return;
    }
    {
      absl::MutexLock l(&mu_);
      doc_.set_reverse_capture_installed(false);
    }
    if (Save().ok()) Note("rollback-window-closed", "rollback capture removed from green; rollback no longer possible");
  }

  // The rollback sweep, once, before the reverse flip (green still serves,
  // blue is fenced): what blue wrote after the copy snapshot and green never
  // had is revoked on blue, so a token issued in the window and "revoked" on
  // green (no row there, nothing captured) stays dead once blue serves.
  // False when the rollback cannot go on now (retry later or undone).
  bool SweepBeforeRollback(const Cutover& c) {
    v1::RollbackSweep sweep;
    const std::string& snapshot = c.copy_report().blue_xid_snapshot();
    if (snapshot.empty()) {
      sweep.set_done(true);
      sweep.set_skipped_reason(
          "no copy snapshot recorded (copied by an older cutoverd): rows written on blue during the window were not "
          "checked against green");
    } else {
      absl::StatusOr<v1::RollbackSweep> r = backend_->SweepBlue(snapshot);
      if (!r.ok()) {
        if (IsRetryable(r.status()) && ++retries_ <= options_.max_phase_retries) {
          spdlog::warn("cutover {}: rollback sweep failed (attempt {}/{}), retrying: {}", id_, retries_,
                       options_.max_phase_retries, r.status().ToString());
          backoff_until_ = clock_->Now() + std::min(absl::Seconds(1) * (1 << std::min(retries_, 5)), absl::Seconds(30));
          return false;
        }
        UndoRollback(c, absl::StrCat("rollback sweep on blue failed: ", r.status().ToString()));
        return false;
      }
      sweep = *std::move(r);
    }
    {
      absl::MutexLock l(&mu_);
      *doc_.mutable_rollback_sweep() = sweep;
    }
    if (absl::Status st = Save(); !st.ok()) {
      Failed("saving the rollback sweep", st);
      return false;
    }
    std::vector<std::string> parts;
    for (const auto& t : sweep.tables()) {
      if (t.revoked() > 0) parts.push_back(absl::StrCat(t.table(), " ", t.revoked()));
    }
    Note("rollback-sweep",
         !sweep.skipped_reason().empty()
             ? absl::StrCat("skipped: ", sweep.skipped_reason())
             : absl::StrCat(sweep.revoked(), " row(s) written on blue after the copy snapshot and missing on green "
                            "revoked on blue before it serves again",
                            parts.empty() ? "" : absl::StrCat(" (", absl::StrJoin(parts, ", "), ")"), " in ",
                            absl::FormatDuration(absl::Trunc(FromProto(sweep.duration()), absl::Milliseconds(1)))));
    retries_ = 0;
    return true;
  }

  // The rollback did not happen; traffic stays on green, back in the phase it
  // came from, and `cutoverctl rollback` can try again.
  // `result`: the undone reverse flip's, recorded with the transition.
  void UndoRollback(const Cutover& c, const std::string& why, const v1::FlipResult* result = nullptr) {
    const Phase back = c.rollback_from() == v1::PHASE_DRAINING ? v1::PHASE_DRAINING : v1::PHASE_COMPLETED;
    (void)MoveTo(back, "rollback-failed",
                 absl::StrCat("rollback attempt ", c.rollback().attempts(), " undone, traffic still on green: ", why,
                              "; `cutoverctl rollback ", id_, "` to retry"),
                 [&](Cutover& n) {
                   if (result != nullptr) *n.mutable_rollback() = *result;
                   n.set_rollback_step(v1::FLIP_STEP_NONE);
                   n.set_green_fenced(false);
                 });
    backoff_until_ = clock_->Now() + absl::Seconds(1);
  }

  void RollingBack() {
    const Cutover c = Doc();
    backend_->StopReplayer(kForward);
    backend_->StopRelay(kForward);
    if (c.rollback_step() == v1::FLIP_STEP_NONE && !c.rollback_sweep().done() && !SweepBeforeRollback(c)) return;
    FlipContext ctx = MakeFlipContext(kReverse);
    FlipOutcome out;
    if (c.rollback_step() != v1::FLIP_STEP_NONE) {
      if (c.rollback_step() != v1::FLIP_STEP_RESUMED) {
        Note("rollback-recovery",
             absl::StrCat("found the rollback at ", v1::FlipStep_Name(c.rollback_step()), " after a restart"));
      }
      out = RecoverFlip(ctx, c.rollback_step(), c.rollback());
    } else {
      out = RunFlip(ctx);  // its seal stops the reverse relay and drains green's outbox itself
    }
    out.result.set_attempts(c.rollback().attempts());
    if (out.result.succeeded()) {
      {
        absl::MutexLock l(&mu_);
        *doc_.mutable_rollback() = out.result;
        doc_.set_rollback_step(v1::FLIP_STEP_RESUMED);
        doc_.set_green_fenced(true);
        doc_.set_blue_fenced(false);
      }
      if (absl::Status st = Save(); !st.ok()) return Failed("saving the rollback result", st);
      // Traffic is on blue. Leave both databases without capture: green's
      // (drained up to the seal) and blue's, if the rollback came before
      // DRAINING removed it.
      StopLegs();
      if (absl::Status st = backend_->RemoveCapture(kReverse); !st.ok()) {
        return Failed("removing rollback capture from green", st);
      }
      if (Doc().capture_installed()) {
        if (absl::Status st = backend_->RemoveCapture(kForward); !st.ok()) return Failed("removing capture from blue", st);
      }
      RefreshStats(kReverse);
      (void)MoveTo(v1::PHASE_ROLLED_BACK, "rollback-complete",
                   absl::StrCat("traffic back on blue; write gap ", absl::FormatDuration(FromProto(out.result.write_gap())),
                                ", ", out.result.tail_events(), " revocation(s) from green applied in the tail; green fenced"),
                   [&](Cutover& n) {
                     n.set_reverse_capture_installed(false);
                     n.set_capture_installed(false);
                     *n.mutable_completed_at() = ToProtoTime(clock_->Now());
                   });
      return;
    }
    if (!out.undo_status.ok()) {
      (void)MoveTo(v1::PHASE_FAILED, "rollback-undo-failed",
                   absl::StrCat(out.result.failure_reason(), "; undo failed: ", out.undo_status.ToString()),
                   [&](Cutover& n) {
                     *n.mutable_rollback() = out.result;
                     if (out.undo_attempted) n.set_rollback_step(v1::FLIP_STEP_PAUSING);
                     n.set_failed_phase(v1::PHASE_ROLLING_BACK);
                     n.set_next_step(absl::StrCat(
                         "check the router (RESUME in PgBouncer) and green's fence by hand (ALTER DATABASE ... RESET "
                         "default_transaction_read_only on green), then `cutoverctl resume ",
                         id_, "` to retry"));
                   });
      return;
    }
    UndoRollback(c, out.result.failure_reason(), &out.result);
  }

  const std::string id_;
  store::ControlStore* const store_;
  BackendFactory* const backends_;
  Clock* const clock_;
  const OrchestratorOptions options_;

  absl::Mutex mu_;
  Cutover doc_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<CutoverBackend> backend_;
  std::unique_ptr<BgOp> bg_;
  std::unique_ptr<copy::CopyControl> copy_control_;
  std::unique_ptr<Observer> observer_;
  int retries_ = 0;
  // READY: the rollback capture was installed and verified on green by this
  // worker (a flip waits for it when the plan has a rollback window).
  bool reverse_capture_verified_ = false;
  absl::Time backoff_until_ = absl::InfinitePast();
  absl::Time next_progress_save_ = absl::InfinitePast();
  Cutover last_progress_;  // the document as last saved by SaveProgressIfDue (updated_at cleared)
  std::string last_refusal_;
  // Webhook observer: the highest timeline seq handed over (worker thread
  // only) and "the timeline has rows the observer has not seen" (set by
  // MoveTo from the worker or the copy thread).
  int64_t observed_seq_ = 0;
  std::atomic<bool> notify_scan_{true};

  std::atomic<bool> stop_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
  std::thread lease_thread_;
};

// ---------------------------------------------------------------------------

Orchestrator::Orchestrator(store::ControlStore* store, BackendFactory* backends, Clock* clock,
                           OrchestratorOptions options)
    : store_(store), backends_(backends), clock_(clock), options_(std::move(options)) {}

Orchestrator::~Orchestrator() { Stop(); }

void Orchestrator::Start() {
  if (!options_.run_workers || scan_thread_.joinable()) return;
  scan_thread_ = std::thread([this] { ScanLoop(); });
}

void Orchestrator::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (!stop_scan_.HasBeenNotified()) stop_scan_.Notify();
  if (scan_thread_.joinable()) scan_thread_.join();
  std::map<std::string, std::unique_ptr<Worker>> workers;
  {
    absl::MutexLock l(&mu_);
    workers.swap(workers_);
  }
  for (auto& [id, w] : workers) w->Stop();
}

void Orchestrator::ScanLoop() {
  while (!stop_scan_.WaitForNotificationWithTimeout(options_.scan_interval)) ScanOnce();
}

void Orchestrator::ScanOnce() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->second->done()) {
        it->second->Stop();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  absl::StatusOr<std::vector<store::StoredCutover>> all = store_->List({});
  if (!all.ok()) {
    spdlog::warn("scan: listing cutovers: {}", all.status().ToString());
    return;
  }
  for (const store::StoredCutover& s : *all) {
    if (!Adoptable(s.cutover)) continue;
    const std::string& id = s.cutover.id();
    {
      absl::MutexLock l(&mu_);
      if (stopping_ || workers_.count(id)) continue;
    }
    absl::StatusOr<store::LeaseInfo> lease = store_->AcquireLease(id, options_.identity, options_.lease_ttl);
    if (!lease.ok() || lease->holder != options_.identity) continue;  // someone else drives it: standby
    auto w = std::make_unique<Worker>(id, store_, backends_, clock_, options_);
    w->Start();
    absl::MutexLock l(&mu_);
    workers_[id] = std::move(w);
  }
}

std::vector<std::string> Orchestrator::Driving() {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (auto& [id, w] : workers_) {
    if (!w->done()) out.push_back(id);
  }
  return out;
}

absl::StatusOr<v1::ValidationResult> Orchestrator::ValidatePlan(const v1::Plan& plan) {
  RETURN_IF_ERROR(ValidatePlanFields(plan));
  ASSIGN_OR_RETURN(std::unique_ptr<CutoverBackend> b, backends_->Create("validate", plan));
  return b->Preflight();
}

namespace {
std::string FailedChecks(const v1::ValidationResult& r) {
  std::vector<std::string> failed;
  for (const auto& c : r.checks()) {
    if (!c.ok()) failed.push_back(absl::StrCat(c.name(), ": ", c.detail()));
  }
  return absl::StrJoin(failed, "; ");
}
}  // namespace

absl::StatusOr<Cutover> Orchestrator::CreatePlan(const v1::Plan& plan, const Caller& caller) {
  ASSIGN_OR_RETURN(v1::ValidationResult vr, ValidatePlan(plan));
  if (!vr.ok()) return absl::FailedPreconditionError(absl::StrCat("preflight failed: ", FailedChecks(vr)));
  Cutover c;
  const absl::Time now = clock_->Now();
  c.set_id(NewId(plan.name(), now));
  *c.mutable_plan() = plan;
  c.set_phase(v1::PHASE_PLANNED);
  *c.mutable_created_at() = ToProtoTime(now);
  *c.mutable_updated_at() = ToProtoTime(now);
  *c.mutable_phase_entered_at() = ToProtoTime(now);
  *c.mutable_preflight() = vr;
  ASSIGN_OR_RETURN(store::StoredCutover s,
                   store_->Create(c, {v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED, CallerName(caller), "create-plan",
                                      absl::StrCat(vr.warnings_size(), " warning(s)")}));
  NotifyUnowned(s.cutover);
  return s.cutover;
}

absl::StatusOr<Cutover> Orchestrator::Start(absl::string_view id, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  if (s.cutover.phase() != v1::PHASE_PLANNED) {
    return absl::FailedPreconditionError(absl::StrCat("cutover ", id, " is in ", PhaseName(s.cutover.phase()),
                                                      "; start needs PLANNED"));
  }
  // Conditions may have changed since the plan was stored: check again.
  ASSIGN_OR_RETURN(v1::ValidationResult vr, ValidatePlan(s.cutover.plan()));
  if (!vr.ok()) return absl::FailedPreconditionError(absl::StrCat("preflight failed: ", FailedChecks(vr)));
  Cutover next = s.cutover;
  next.set_phase(v1::PHASE_CAPTURING);
  *next.mutable_preflight() = vr;
  *next.mutable_phase_entered_at() = ToProtoTime(clock_->Now());
  *next.mutable_updated_at() = ToProtoTime(clock_->Now());
  ASSIGN_OR_RETURN(store::StoredCutover out,
                   store_->Transition(next, {v1::PHASE_PLANNED, v1::PHASE_CAPTURING, CallerName(caller), "start", ""},
                                      ""));
  return out.cutover;
}

absl::StatusOr<CutoverView> Orchestrator::Get(absl::string_view id) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  return CutoverView{std::move(s.cutover), s.version};
}

absl::StatusOr<std::vector<Cutover>> Orchestrator::List(const std::vector<Phase>& phases) {
  ASSIGN_OR_RETURN(std::vector<store::StoredCutover> all, store_->List(phases));
  std::vector<Cutover> out;
  out.reserve(all.size());
  for (auto& s : all) out.push_back(std::move(s.cutover));
  return out;
}

absl::StatusOr<Cutover> Orchestrator::Request(absl::string_view id, absl::string_view command,
                                              absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Phase p = s.cutover.phase();
  RETURN_IF_ERROR(store_->Record(id, {p, p, CallerName(caller), absl::StrCat("request:", command), std::string(reason)},
                                 ""));
  return s.cutover;
}

void Orchestrator::NotifyUnowned(const Cutover& c) {
  // A cutover a worker will adopt (start, resume, rollback, abort with
  // cleanup left) gets this row from that worker, after its cursor.
  if (options_.observer == nullptr || Adoptable(c)) return;
  absl::StatusOr<std::vector<v1::Transition>> rows = store_->Transitions(c.id(), c.notified_seq());
  if (!rows.ok()) {
    spdlog::warn("cutover {}: webhook for {} not sent: reading the timeline: {}", c.id(), PhaseName(c.phase()),
                 rows.status().ToString());
    return;
  }
  for (auto it = rows->rbegin(); it != rows->rend(); ++it) {
    if (it->from() == it->to()) continue;
    if (it->to() == c.phase()) options_.observer->OnPhaseChange(c, *it);
    return;
  }
}

absl::StatusOr<Cutover> Orchestrator::Pause(absl::string_view id, absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Phase p = s.cutover.phase();
  if (!(p >= v1::PHASE_COPYING && p <= v1::PHASE_READY && p != v1::PHASE_MIGRATING)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cutover ", id, " is in ", PhaseName(p),
        "; pause needs COPYING, INDEXING, VERIFYING_COPY, CATCHING_UP or READY (migrations cannot be paused midway)"));
  }
  return Request(id, "pause", reason, caller);
}

absl::StatusOr<Cutover> Orchestrator::Resume(absl::string_view id, absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Phase p = s.cutover.phase();
  if (p == v1::PHASE_FAILED) {
    // Nobody drives a FAILED cutover: re-enter the phase it failed in; a
    // daemon adopts it on its next scan.
    Cutover next = s.cutover;
    const Phase back = s.cutover.failed_phase() != v1::PHASE_UNSPECIFIED ? s.cutover.failed_phase() : v1::PHASE_CAPTURING;
    next.set_phase(back);
    next.clear_failed_phase();
    next.clear_next_step();
    *next.mutable_phase_entered_at() = ToProtoTime(clock_->Now());
    ASSIGN_OR_RETURN(store::StoredCutover out,
                     store_->Transition(next, {p, back, CallerName(caller), "resume", std::string(reason)}, ""));
    return out.cutover;
  }
  if (p != v1::PHASE_PAUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("cutover ", id, " is in ", PhaseName(p), "; resume needs PAUSED or FAILED"));
  }
  return Request(id, "resume", reason, caller);
}

absl::StatusOr<Cutover> Orchestrator::Approve(absl::string_view id, absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Cutover& c = s.cutover;
  const Phase p = c.phase();
  if (!((p >= v1::PHASE_CAPTURING && p <= v1::PHASE_READY) || p == v1::PHASE_PAUSED)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cutover ", id, " is in ", PhaseName(p), "; approve needs a phase from CAPTURING to READY, or PAUSED",
        p == v1::PHASE_PLANNED ? " (start it first)" : "",
        p >= v1::PHASE_FLIPPING && !IsTerminalPhase(p) && p != v1::PHASE_FAILED ? " (the flip already started)" : ""));
  }
  // A repeated approve is idempotent: a runbook that retries after a timeout
  // must not fail, and the flip must not be approved twice. The answer is the
  // cutover as it is (approved, or its approve pending for the worker) and
  // nothing is recorded (docs/bad-input.md).
  if (c.approved()) return c;
  ASSIGN_OR_RETURN(std::vector<v1::Transition> pending, store_->Transitions(id, c.handled_seq()));
  for (const v1::Transition& t : pending) {
    if (t.action() == "request:approve") return c;
  }
  if (p == v1::PHASE_READY && c.flip_blockers_size() > 0) {
    return absl::FailedPreconditionError(absl::StrCat("flip refused by guardrails: ", absl::StrJoin(c.flip_blockers(), "; ")));
  }
  return Request(id, "approve", reason, caller);
}

absl::StatusOr<Cutover> Orchestrator::Abort(absl::string_view id, absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Phase p = s.cutover.phase();
  if (p == v1::PHASE_PLANNED || p == v1::PHASE_FAILED) {
    if (p == v1::PHASE_FAILED && s.cutover.failed_phase() >= v1::PHASE_DRAINING) {
      return absl::FailedPreconditionError(
          absl::StrCat("cutover ", id, " failed in ", PhaseName(s.cutover.failed_phase()),
                       ", after traffic moved to green: abort would lose green's writes; resume it or roll back"));
    }
    Cutover next = s.cutover;
    next.set_phase(v1::PHASE_ABORTED);
    next.set_reason(std::string(reason));
    *next.mutable_phase_entered_at() = ToProtoTime(clock_->Now());
    ASSIGN_OR_RETURN(store::StoredCutover out,
                     store_->Transition(next, {p, v1::PHASE_ABORTED, CallerName(caller), "abort", std::string(reason)}, ""));
    NotifyUnowned(out.cutover);
    return out.cutover;
  }
  if (!(IsBeforeFlip(p) || p == v1::PHASE_PAUSED)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cutover ", id, " is in ", PhaseName(p), "; abort needs a phase before FLIPPING",
        p >= v1::PHASE_FLIPPING && !IsTerminalPhase(p) ? " (traffic is moving to green: use rollback)" : ""));
  }
  return Request(id, "abort", reason, caller);
}

absl::StatusOr<Cutover> Orchestrator::Rollback(absl::string_view id, absl::string_view reason, const Caller& caller) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  const Cutover& c = s.cutover;
  const Phase p = c.phase();
  const bool failed_after_flip = p == v1::PHASE_FAILED && (c.failed_phase() == v1::PHASE_DRAINING ||
                                                          c.failed_phase() == v1::PHASE_ROLLING_BACK);
  if (p != v1::PHASE_DRAINING && p != v1::PHASE_COMPLETED && !failed_after_flip) {
    std::string hint;
    if (IsBeforeFlip(p) || p == v1::PHASE_PAUSED || p == v1::PHASE_PLANNED) hint = " (traffic is still on blue: use abort)";
    if (p == v1::PHASE_FLIPPING) hint = " (the flip is running: wait for DRAINING or COMPLETED)";
    if (p == v1::PHASE_ROLLING_BACK) hint = " (already rolling back)";
    return absl::FailedPreconditionError(absl::StrCat("cutover ", id, " is in ", PhaseName(p),
                                                      "; rollback needs DRAINING or COMPLETED", hint));
  }
  if (std::string why = RollbackRefusal(c, clock_->Now()); !why.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot roll back cutover ", id, ": ", why));
  }
  if (failed_after_flip) {
    // Nobody drives a FAILED cutover: move it straight to ROLLING_BACK; a
    // daemon adopts it on its next scan.
    Cutover next = c;
    next.set_phase(v1::PHASE_ROLLING_BACK);
    next.set_rollback_from(c.failed_phase() == v1::PHASE_ROLLING_BACK ? c.rollback_from() : c.failed_phase());
    if (c.failed_phase() != v1::PHASE_ROLLING_BACK) {
      next.set_rollback_step(v1::FLIP_STEP_NONE);
      next.mutable_rollback()->set_attempts(c.rollback().attempts() + 1);
    }
    next.clear_failed_phase();
    next.clear_next_step();
    next.set_reason(std::string(reason));
    *next.mutable_phase_entered_at() = ToProtoTime(clock_->Now());
    ASSIGN_OR_RETURN(store::StoredCutover out, store_->Transition(next, {p, v1::PHASE_ROLLING_BACK, CallerName(caller),
                                                                        "rollback", std::string(reason)},
                                                                 ""));
    return out.cutover;
  }
  return Request(id, "rollback", reason, caller);
}

absl::StatusOr<v1::Report> Orchestrator::GetReport(absl::string_view id) {
  ASSIGN_OR_RETURN(store::StoredCutover s, store_->Get(id));
  ASSIGN_OR_RETURN(std::vector<v1::Transition> timeline, store_->Transitions(id, 0));
  return BuildReport(s.cutover, timeline, clock_->Now());
}

absl::StatusOr<std::vector<v1::Transition>> Orchestrator::ListTransitions(absl::string_view id, int64_t after_seq) {
  return store_->Transitions(id, after_seq);
}

absl::StatusOr<int64_t> Orchestrator::WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) {
  return store_->WaitForChange(id, version, deadline);
}

v1::Report BuildReport(const Cutover& c, const std::vector<v1::Transition>& timeline, absl::Time now) {
  v1::Report r;
  r.set_cutover_id(c.id());
  r.set_name(c.plan().name());
  r.set_phase(c.phase());
  // Time spent in each phase, summed over visits, from the timeline.
  std::map<int, absl::Duration> spent;
  std::vector<int> order;
  Phase current = v1::PHASE_UNSPECIFIED;
  absl::Time since = absl::InfinitePast();
  for (const auto& t : timeline) {
    if (t.from() == t.to()) continue;
    const absl::Time at = FromProtoTime(t.at());
    if (current != v1::PHASE_UNSPECIFIED && since != absl::InfinitePast()) {
      if (!spent.count(current)) order.push_back(current);
      spent[current] += at - since;
    }
    current = t.to();
    since = at;
  }
  if (current != v1::PHASE_UNSPECIFIED && !IsTerminalPhase(current) && since != absl::InfinitePast()) {
    if (!spent.count(current)) order.push_back(current);
    spent[current] += now - since;
  }
  for (int p : order) {
    auto* pt = r.add_timings();
    pt->set_phase(static_cast<Phase>(p));
    *pt->mutable_duration() = ToProto(spent[p]);
  }
  *r.mutable_copy() = c.copy_report();
  *r.mutable_replay() = c.replay();
  *r.mutable_flip() = c.flip();
  *r.mutable_accepted_losses() = c.accepted_losses();
  if (c.rollback().attempts() > 0) {
    *r.mutable_rollback() = c.rollback();
    *r.mutable_rollback_replay() = c.rollback_replay();
    if (c.has_rollback_sweep()) *r.mutable_rollback_sweep() = c.rollback_sweep();
  }
  for (const auto& t : timeline) *r.add_timeline() = t;
  return r;
}

}  // namespace cutover::engine
