// In-memory engine::CutoverApi for the service and cutoverctl tests: a map of
// cutovers with a timeline, a version that grows on every change, the Caller
// of every call recorded, and SetPhaseForTest to drive Watch from the test.
// Thread-safe (one mutex); WaitForChange blocks on it with a deadline.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/common/proto_time.h"
#include "cutover/engine/api.h"

namespace cutover::service::testing {

namespace v1 = cutover::v1;

struct RecordedCall {
  std::string method;
  std::string id;
  engine::Caller caller;
  std::string reason;
};

class FakeCutoverApi : public engine::CutoverApi {
 public:
  // Adds a cutover directly (no caller recorded).
  std::string AddForTest(const std::string& id, v1::Phase phase, const std::string& name = "hydra-upgrade") {
    absl::MutexLock l(&mu_);
    v1::Cutover c;
    c.set_id(id);
    c.mutable_plan()->set_name(name);
    c.set_phase(phase);
    *c.mutable_created_at() = ToProtoTime(absl::Now());
    *c.mutable_updated_at() = c.created_at();
    auto* t = c.mutable_copy()->add_tables();
    t->set_table("public.hydra_oauth2_access");
    t->set_bytes_estimated(1000);
    t->set_bytes_copied(500);
    c.mutable_copy()->set_bytes_estimated(1000);
    c.mutable_copy()->set_bytes_copied(500);
    c.mutable_replay()->set_backlog(7);
    cutovers_[id] = c;
    AppendLocked(id, v1::PHASE_UNSPECIFIED, phase, "cutoverd", "create", "");
    return id;
  }

  // Moves a cutover to `phase` with a timeline row, as the engine would.
  // Arbitrary change of the stored cutover (bumps the version, wakes watchers).
  void MutateForTest(const std::string& id, const std::function<void(v1::Cutover&)>& f) {
    absl::MutexLock l(&mu_);
    f(cutovers_[id]);
    ++version_;
  }

  void SetPhaseForTest(const std::string& id, v1::Phase phase, const std::string& reason = "") {
    absl::MutexLock l(&mu_);
    MoveLocked(id, phase, "cutoverd", "phase-complete", reason);
  }

  std::vector<RecordedCall> calls() const {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  // WaitForChange calls currently blocked (a watcher is connected).
  int waiters() const {
    absl::MutexLock l(&mu_);
    return waiters_;
  }
  void SetValidationForTest(v1::ValidationResult r) {
    absl::MutexLock l(&mu_);
    validation_ = std::move(r);
  }

  absl::StatusOr<v1::ValidationResult> ValidatePlan(const v1::Plan& plan) override {
    absl::MutexLock l(&mu_);
    RecordLocked("ValidatePlan", plan.name(), engine::Caller{"-", engine::Role::kViewer}, "");
    return validation_;
  }
  absl::StatusOr<v1::Cutover> CreatePlan(const v1::Plan& plan, const engine::Caller& caller) override {
    absl::MutexLock l(&mu_);
    RecordLocked("CreatePlan", plan.name(), caller, "");
    if (plan.name().empty()) return absl::InvalidArgumentError("plan.name is missing");
    std::string id = absl::StrCat("plan-", ++next_id_);
    v1::Cutover c;
    c.set_id(id);
    *c.mutable_plan() = plan;
    c.set_phase(v1::PHASE_PLANNED);
    cutovers_[id] = c;
    AppendLocked(id, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED, caller.identity, "create", "");
    return cutovers_[id];
  }
  absl::StatusOr<v1::Cutover> Start(absl::string_view id, const engine::Caller& caller) override {
    return Command("Start", id, "", caller, v1::PHASE_PLANNED, v1::PHASE_CAPTURING);
  }
  absl::StatusOr<engine::CutoverView> Get(absl::string_view id) override {
    absl::MutexLock l(&mu_);
    auto it = cutovers_.find(std::string(id));
    if (it == cutovers_.end()) return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    return engine::CutoverView{it->second, version_};
  }
  absl::StatusOr<std::vector<v1::Cutover>> List(const std::vector<v1::Phase>& phases) override {
    absl::MutexLock l(&mu_);
    std::vector<v1::Cutover> out;
    for (const auto& [id, c] : cutovers_) {
      if (phases.empty() || std::find(phases.begin(), phases.end(), c.phase()) != phases.end())
        out.push_back(c);
    }
    return out;
  }
  absl::StatusOr<v1::Cutover> Pause(absl::string_view id, absl::string_view reason,
                                    const engine::Caller& caller) override {
    return Command("Pause", id, reason, caller, v1::PHASE_UNSPECIFIED, v1::PHASE_PAUSED);
  }
  absl::StatusOr<v1::Cutover> Resume(absl::string_view id, absl::string_view reason,
                                     const engine::Caller& caller) override {
    return Command("Resume", id, reason, caller, v1::PHASE_PAUSED, v1::PHASE_COPYING);
  }
  absl::StatusOr<v1::Cutover> Approve(absl::string_view id, absl::string_view reason,
                                      const engine::Caller& caller) override {
    return Command("Approve", id, reason, caller, v1::PHASE_READY, v1::PHASE_FLIPPING);
  }
  absl::StatusOr<v1::Cutover> Abort(absl::string_view id, absl::string_view reason,
                                    const engine::Caller& caller) override {
    return Command("Abort", id, reason, caller, v1::PHASE_UNSPECIFIED, v1::PHASE_ABORTED);
  }
  absl::StatusOr<v1::Cutover> Rollback(absl::string_view id, absl::string_view reason,
                                       const engine::Caller& caller) override {
    return Command("Rollback", id, reason, caller, v1::PHASE_COMPLETED, v1::PHASE_ROLLING_BACK);
  }
  absl::StatusOr<v1::Report> GetReport(absl::string_view id) override {
    absl::MutexLock l(&mu_);
    auto it = cutovers_.find(std::string(id));
    if (it == cutovers_.end()) return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    v1::Report r;
    r.set_cutover_id(it->first);
    r.set_name(it->second.plan().name());
    r.set_phase(it->second.phase());
    for (const auto& t : timeline_[it->first]) *r.add_timeline() = t;
    return r;
  }
  absl::StatusOr<std::vector<v1::Transition>> ListTransitions(absl::string_view id,
                                                              int64_t after_seq) override {
    absl::MutexLock l(&mu_);
    if (!cutovers_.contains(std::string(id))) {
      return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    }
    std::vector<v1::Transition> out;
    for (const auto& t : timeline_[std::string(id)]) {
      if (t.seq() > after_seq) out.push_back(t);
    }
    return out;
  }
  absl::StatusOr<int64_t> WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) override {
    absl::MutexLock l(&mu_);
    if (!cutovers_.contains(std::string(id))) {
      return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    }
    ++waiters_;
    auto changed = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ > version; };
    mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
    --waiters_;
    return version_;
  }

 private:
  void RecordLocked(absl::string_view method, absl::string_view id, const engine::Caller& caller,
                    absl::string_view reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    RecordedCall& c = calls_.emplace_back();
    c.method = std::string(method);
    c.id = std::string(id);
    c.caller = caller;
    c.reason = std::string(reason);
  }
  absl::StatusOr<v1::Cutover> Command(const char* method, absl::string_view id, absl::string_view reason,
                                      const engine::Caller& caller, v1::Phase needs, v1::Phase to) {
    absl::MutexLock l(&mu_);
    RecordLocked(method, id, caller, reason);
    auto it = cutovers_.find(std::string(id));
    if (it == cutovers_.end()) return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    if (needs != v1::PHASE_UNSPECIFIED && it->second.phase() != needs) {
      return absl::FailedPreconditionError(absl::StrCat(method, " needs phase ", v1::Phase_Name(needs),
                                                        "; cutover ", id, " is in ",
                                                        v1::Phase_Name(it->second.phase())));
    }
    if (to == v1::PHASE_PAUSED) it->second.set_paused_phase(it->second.phase());
    if (std::string(method) == "Approve") it->second.set_approved(true);
    MoveLocked(it->first, to, caller.identity, absl::AsciiStrToLower(method), std::string(reason));
    return it->second;
  }
  void MoveLocked(const std::string& id, v1::Phase to, const std::string& actor, const std::string& action,
                  const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::Cutover& c = cutovers_[id];
    v1::Phase from = c.phase();
    c.set_phase(to);
    c.set_reason(reason);
    *c.mutable_updated_at() = ToProtoTime(absl::Now());
    AppendLocked(id, from, to, actor, action, reason);
  }
  void AppendLocked(const std::string& id, v1::Phase from, v1::Phase to, const std::string& actor,
                    const std::string& action, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::Transition t;
    t.set_seq(++seq_);
    *t.mutable_at() = ToProtoTime(absl::Now());
    t.set_from(from);
    t.set_to(to);
    t.set_actor(actor);
    t.set_action(action);
    t.set_reason(reason);
    timeline_[id].push_back(t);
    ++version_;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, v1::Cutover> cutovers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::Transition>> timeline_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedCall> calls_ ABSL_GUARDED_BY(mu_);
  v1::ValidationResult validation_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
};

// Tokens of the test auth config (long enough for the 16-character minimum).
inline constexpr char kViewerToken[] = "viewer-token-0123456789";
inline constexpr char kOperatorToken[] = "operator-token-0123456789";
inline constexpr char kApproverToken[] = "approver-token-0123456789";

}  // namespace cutover::service::testing
