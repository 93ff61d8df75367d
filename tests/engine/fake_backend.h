// FakeBackend: an in-memory CutoverBackend for the state-machine tests. It
// keeps the state the real one would have (capture installed, relay and
// replayer running, green's applied positions) and injects errors per
// method ("install_capture", "copy", "migrate", "seal", "replay_until", ...).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cutover/engine/backend.h"
#include "cutover/router/fakes.h"

namespace cutover::engine {

#define RETURN_IF_ERROR_FAKE(expr)       \
  do {                                   \
    absl::Status _st = (expr);           \
    if (!_st.ok()) return _st;           \
  } while (0)

class FakeBackend final : public CutoverBackend, public router::ErrorInjector {
 public:
  cutover::v1::ValidationResult Preflight() override {
    cutover::v1::ValidationResult r;
    auto* c = r.add_checks();
    c->set_name("fake.ok");
    c->set_ok(preflight_ok);
    r.set_ok(preflight_ok);
    return r;
  }
  // Forward calls are logged as "seal", "install_capture", ...; reverse
  // (rollback) ones with a "reverse_" prefix, and errors injected likewise.
  absl::Status InstallCapture(Direction d) override {
    return Do(Name(d, "install_capture"), [&] { (d == kReverse ? reverse_capture_installed : capture_installed) = true; });
  }
  absl::Status RemoveCapture(Direction d) override {
    return Do(Name(d, "remove_capture"), [&] { (d == kReverse ? reverse_capture_installed : capture_installed) = false; });
  }
  absl::Status VerifyCapture(Direction d) override { return Do(Name(d, "verify_capture"), [] {}); }
  absl::Status StartRelay(Direction d) override {
    return Do(Name(d, "start_relay"), [&] { (d == kReverse ? reverse_relay_running : relay_running) = true; }, false);
  }
  void StopRelay(Direction d) override { (d == kReverse ? reverse_relay_running : relay_running) = false; }
  absl::Status StartReplayer(Direction d) override {
    return Do(Name(d, "start_replayer"), [&] { (d == kReverse ? reverse_replayer_running : replayer_running) = true; },
              false);
  }
  void StopReplayer(Direction d) override { (d == kReverse ? reverse_replayer_running : replayer_running) = false; }
  absl::StatusOr<cutover::v1::CopyReport> Copy(copy::CopyObserver* observer, copy::CopyControl* control) override {
    Log("copy");
    if (absl::Status st = Take("copy"); !st.ok()) return st;
    RETURN_IF_ERROR_FAKE(observer->OnStage(copy::CopyStage::kSchema));
    RETURN_IF_ERROR_FAKE(observer->OnStage(copy::CopyStage::kData));
    // Blocks while the test holds the copy (to pause / abort / kill midway).
    while (hold_copy) {
      if (absl::Status st = control->Checkpoint(); !st.ok()) return st;
      absl::SleepFor(absl::Milliseconds(2));
    }
    if (absl::Status st = control->Checkpoint(); !st.ok()) return st;
    RETURN_IF_ERROR_FAKE(observer->OnStage(copy::CopyStage::kIndexing));
    RETURN_IF_ERROR_FAKE(observer->OnStage(copy::CopyStage::kVerifying));
    cutover::v1::CopyReport r;
    r.set_tables(3);
    r.set_rows(42);
    if (record_snapshot) r.set_blue_xid_snapshot("100:100:");
    r.mutable_verify()->set_all_match(verify_ok);
    copies++;
    return r;
  }
  absl::Status Migrate(absl::Time) override { return Do("migrate", [&] { migrated = true; }); }
  absl::StatusOr<cutover::v1::ReplayStats> Stats(Direction d) override {
    cutover::v1::ReplayStats s;
    if (d == kForward) {
      s.set_backlog(backlog);
      s.set_dead_letters(dead_letters);
    }
    return s;
  }
  absl::StatusOr<absl::Duration> OldestBlueTransaction() override { return absl::Seconds(oldest_txn_seconds.load()); }
  // Blue's counters: 10 more inserts and 4 more deletes on public.t after
  // every call (so the copy's baseline and the fence's reading differ).
  absl::StatusOr<std::vector<cutover::v1::AcceptedLoss>> BlueWrites() override {
    const int n = ++blue_writes_calls;
    cutover::v1::AcceptedLoss w;
    w.set_table("public.t");
    w.set_inserts(10 * n);
    w.set_deletes(4 * n);
    return std::vector<cutover::v1::AcceptedLoss>{w};
  }
  absl::StatusOr<std::map<std::string, int64_t>> CarriedByTable() override {
    return std::map<std::string, int64_t>{{"public.t", 3}};
  }
  // One table "public.t": `sweep_revoked` rows revoked ("sweep" errors inject).
  absl::StatusOr<cutover::v1::RollbackSweep> SweepBlue(const std::string& blue_xid_snapshot) override {
    Log("sweep");
    if (absl::Status st = Take("sweep"); !st.ok()) return st;
    {
      absl::MutexLock l(&mu_);
      sweep_snapshots_.push_back(blue_xid_snapshot);
    }
    cutover::v1::RollbackSweep s;
    s.set_done(true);
    auto* t = s.add_tables();
    t->set_table("public.t");
    t->set_target_table("public.t");
    t->set_candidates(sweep_revoked + 2);
    t->set_revoked(sweep_revoked);
    t->set_action("delete");
    s.set_revoked(sweep_revoked);
    return s;
  }
  std::vector<std::string> sweep_snapshots() {
    absl::MutexLock l(&mu_);
    return sweep_snapshots_;
  }
  router::Router& router() override { return router_; }
  router::Fence& fence(router::Target side) override { return side == router::Target::kGreen ? green_fence_ : fence_; }
  absl::StatusOr<cutover::v1::Seal> Seal(Direction d, absl::Time) override {
    Log(Name(d, "seal"));
    if (absl::Status st = Take(Name(d, "seal")); !st.ok()) return st;
    cutover::v1::Seal s;
    auto* p = s.add_end();
    p->set_partition(0);
    p->set_offset(100);
    return s;
  }
  absl::StatusOr<int64_t> ReplayUntil(Direction d, const cutover::v1::Seal&, absl::Time deadline) override {
    Log(Name(d, "replay_until"));
    (d == kReverse ? reverse_replayer_running : replayer_running) = false;
    while (hold_replay) {
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("replay did not reach the seal in time");
      absl::SleepFor(absl::Milliseconds(2));
    }
    if (absl::Status st = Take(Name(d, "replay_until")); !st.ok()) return st;
    return int64_t{7};
  }

  std::vector<std::string> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  int Count(const std::string& what) {
    int n = 0;
    for (const auto& c : calls()) n += c == what;
    return n;
  }

  router::FakeRouter router_;
  router::FakeFence fence_;        // blue's
  router::FakeFence green_fence_;  // green's (rollback)
  std::atomic<bool> preflight_ok{true};
  std::atomic<int64_t> sweep_revoked{3};
  std::atomic<bool> record_snapshot{true};
  std::atomic<bool> capture_installed{false};
  std::atomic<bool> relay_running{false};
  std::atomic<bool> replayer_running{false};
  std::atomic<bool> reverse_capture_installed{false};
  std::atomic<bool> reverse_relay_running{false};
  std::atomic<bool> reverse_replayer_running{false};
  std::atomic<bool> migrated{false};
  std::atomic<bool> verify_ok{true};
  std::atomic<bool> hold_copy{false};
  std::atomic<bool> hold_replay{false};
  std::atomic<int64_t> backlog{0};
  std::atomic<int64_t> dead_letters{0};
  std::atomic<int64_t> oldest_txn_seconds{0};
  std::atomic<int> copies{0};
  std::atomic<int> blue_writes_calls{0};

 private:
  static std::string Name(Direction d, const std::string& what) { return d == kReverse ? "reverse_" + what : what; }
  void Log(const std::string& what) {
    absl::MutexLock l(&mu_);
    calls_.push_back(what);
  }
  absl::Status Do(const std::string& what, const std::function<void()>& effect, bool log = true) {
    if (log) Log(what);
    if (absl::Status st = Take(what); !st.ok()) return st;
    effect();
    return absl::OkStatus();
  }
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> sweep_snapshots_ ABSL_GUARDED_BY(mu_);
};

// Hands out the test's FakeBackend (one per test, shared by every worker).
class FakeFactory final : public BackendFactory {
 public:
  explicit FakeFactory(FakeBackend* b) : b_(b) {}
  absl::StatusOr<std::unique_ptr<CutoverBackend>> Create(const std::string&, const cutover::v1::Plan&) override {
    return std::unique_ptr<CutoverBackend>(new Proxy(b_));
  }

 private:
  // Forwards to the shared fake, so a "restarted" orchestrator sees the same world.
  class Proxy final : public CutoverBackend {
   public:
    explicit Proxy(FakeBackend* b) : b_(b) {}
    cutover::v1::ValidationResult Preflight() override { return b_->Preflight(); }
    absl::Status InstallCapture(Direction d) override { return b_->InstallCapture(d); }
    absl::Status RemoveCapture(Direction d) override { return b_->RemoveCapture(d); }
    absl::Status VerifyCapture(Direction d) override { return b_->VerifyCapture(d); }
    absl::Status StartRelay(Direction d) override { return b_->StartRelay(d); }
    void StopRelay(Direction d) override { b_->StopRelay(d); }
    absl::Status StartReplayer(Direction d) override { return b_->StartReplayer(d); }
    void StopReplayer(Direction d) override { b_->StopReplayer(d); }
    absl::StatusOr<cutover::v1::CopyReport> Copy(copy::CopyObserver* o, copy::CopyControl* c) override {
      return b_->Copy(o, c);
    }
    absl::Status Migrate(absl::Time d) override { return b_->Migrate(d); }
    absl::StatusOr<cutover::v1::ReplayStats> Stats(Direction d) override { return b_->Stats(d); }
    absl::StatusOr<absl::Duration> OldestBlueTransaction() override { return b_->OldestBlueTransaction(); }
    absl::StatusOr<std::vector<cutover::v1::AcceptedLoss>> BlueWrites() override { return b_->BlueWrites(); }
    absl::StatusOr<std::map<std::string, int64_t>> CarriedByTable() override { return b_->CarriedByTable(); }
    absl::StatusOr<cutover::v1::RollbackSweep> SweepBlue(const std::string& s) override { return b_->SweepBlue(s); }
    router::Router& router() override { return b_->router(); }
    router::Fence& fence(router::Target side) override { return b_->fence(side); }
    absl::StatusOr<cutover::v1::Seal> Seal(Direction d, absl::Time t) override { return b_->Seal(d, t); }
    absl::StatusOr<int64_t> ReplayUntil(Direction d, const cutover::v1::Seal& s, absl::Time t) override {
      return b_->ReplayUntil(d, s, t);
    }

   private:
    FakeBackend* b_;
  };
  FakeBackend* b_;
};

}  // namespace cutover::engine
