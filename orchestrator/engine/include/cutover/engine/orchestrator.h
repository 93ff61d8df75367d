// The orchestrator: runs cutovers as the persisted state machine of
// DESIGN.md (PLANNED ... COMPLETED, with PAUSED, ABORTED, FAILED,
// ROLLING_BACK, ROLLED_BACK) and implements the control API.
//
// How it stays correct across crashes and daemons:
//  - Every phase change is written to the ControlStore (with its timeline
//    row) before the phase's side effects start; every phase's work is
//    idempotent, so a restarted daemon simply runs the stored phase again.
//  - A cutover is driven by exactly one daemon: the holder of its lease.
//    Every daemon scans the store; the one that gets the lease runs a worker
//    for the cutover, the others are standbys and take over when the lease
//    expires. A worker that loses its lease stops without writing anything.
//  - Operator commands (pause, resume, approve, abort, rollback) are
//    appended to the timeline as "request:<cmd>" rows by whichever daemon
//    received the call; the lease holder executes them in order and records
//    the outcome. So a command reaches the right daemon, is audited with the
//    caller's identity, and never races with the worker's own writes.
// Thread-safety: all public methods may be called from any thread. Stop()
// blocks until every worker thread has stopped (leases released).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/engine/api.h"
#include "cutover/engine/backend.h"
#include "cutover/engine/observer.h"
#include "cutover/store/control_store.h"

namespace cutover::engine {

struct OrchestratorOptions {
  // Who this daemon is, in leases and the timeline ("cutoverd@host:pid").
  std::string identity = "cutoverd";
  absl::Duration lease_ttl = absl::Seconds(10);
  // Worker loop tick (commands, progress, guardrails).
  absl::Duration tick = absl::Milliseconds(200);
  // How often the store is scanned for cutovers to adopt.
  absl::Duration scan_interval = absl::Seconds(1);
  absl::Duration undo_timeout = absl::Seconds(30);
  // Automatic flip attempts with auto_flip before waiting for an approve.
  int max_auto_flip_attempts = 3;
  // Retries of a phase that failed with a transient error before FAILED.
  int max_phase_retries = 5;
  // Runs workers; false = API only (a read-only replica of the control plane).
  bool run_workers = true;
  // Told about every phase change (webhooks); not owned, may be null. The
  // lease holder's worker hands over its cutover's phase changes after the
  // persisted cursor Cutover.notified_seq; API calls that leave a cutover
  // nobody drives (create, abort of PLANNED/FAILED) hand theirs over directly.
  PhaseObserver* observer = nullptr;
  // How long a worker whose cutover leaves it (FAILED, terminal) waits for
  // the observer to settle before persisting the cursor and going.
  absl::Duration observer_flush_timeout = absl::Seconds(5);
};

// The phases a worker drives.
bool IsRunningPhase(cutover::v1::Phase phase);
// COMPLETED, ABORTED, ROLLED_BACK.
bool IsTerminalPhase(cutover::v1::Phase phase);
// "COPYING" from PHASE_COPYING.
std::string PhaseName(cutover::v1::Phase phase);
// Plan fields a plan must have, each error naming the field ("plan.blue.dsn").
absl::Status ValidatePlanFields(const cutover::v1::Plan& plan);

class Worker;

class Orchestrator final : public CutoverApi {
 public:
  Orchestrator(store::ControlStore* store, BackendFactory* backends, Clock* clock, OrchestratorOptions options);
  ~Orchestrator() override;

  // Starts the scan thread (adopts cutovers whose lease it can take).
  void Start();
  // Stops workers (without changing any cutover's phase) and releases leases.
  void Stop();

  absl::StatusOr<cutover::v1::ValidationResult> ValidatePlan(const cutover::v1::Plan& plan) override;
  absl::StatusOr<cutover::v1::Cutover> CreatePlan(const cutover::v1::Plan& plan, const Caller& caller) override;
  absl::StatusOr<cutover::v1::Cutover> Start(absl::string_view id, const Caller& caller) override;
  absl::StatusOr<CutoverView> Get(absl::string_view id) override;
  absl::StatusOr<std::vector<cutover::v1::Cutover>> List(const std::vector<cutover::v1::Phase>& phases) override;
  absl::StatusOr<cutover::v1::Cutover> Pause(absl::string_view id, absl::string_view reason,
                                             const Caller& caller) override;
  absl::StatusOr<cutover::v1::Cutover> Resume(absl::string_view id, absl::string_view reason,
                                              const Caller& caller) override;
  absl::StatusOr<cutover::v1::Cutover> Approve(absl::string_view id, absl::string_view reason,
                                               const Caller& caller) override;
  absl::StatusOr<cutover::v1::Cutover> Abort(absl::string_view id, absl::string_view reason,
                                             const Caller& caller) override;
  absl::StatusOr<cutover::v1::Cutover> Rollback(absl::string_view id, absl::string_view reason,
                                                const Caller& caller) override;
  absl::StatusOr<cutover::v1::Report> GetReport(absl::string_view id) override;
  absl::StatusOr<std::vector<cutover::v1::Transition>> ListTransitions(absl::string_view id,
                                                                      int64_t after_seq) override;
  absl::StatusOr<int64_t> WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) override;

  // Ids of the cutovers this daemon drives right now (holds the lease and
  // runs a worker for), in id order. Metrics (cutover_lease_held) use it.
  std::vector<std::string> Driving();
  std::vector<std::string> ActiveForTest() { return Driving(); }
  // Runs one scan synchronously (tests drive adoption without the thread).
  void ScanOnceForTest() { ScanOnce(); }

 private:
  void ScanLoop();
  void ScanOnce();
  absl::StatusOr<cutover::v1::Cutover> Request(absl::string_view id, absl::string_view command,
                                               absl::string_view reason, const Caller& caller);
  // Hands the phase change just written by an API call to the observer when
  // no worker will pick the cutover up (see OrchestratorOptions::observer).
  void NotifyUnowned(const cutover::v1::Cutover& c);

  store::ControlStore* const store_;
  BackendFactory* const backends_;
  Clock* const clock_;
  const OrchestratorOptions options_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread scan_thread_;
  absl::Notification stop_scan_;
};

// The report of a cutover from its stored state and timeline.
cutover::v1::Report BuildReport(const cutover::v1::Cutover& c, const std::vector<cutover::v1::Transition>& timeline,
                                absl::Time now);

}  // namespace cutover::engine
