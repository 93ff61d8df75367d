// In-memory Router and Fence for the state-machine and flip-protocol tests
// (library cutover::router_fakes, never linked into binaries). They record
// every call, keep the state a real router would have (target, paused,
// raised) and inject errors per method.
//
// Method names used by the call log and error injection:
//   FakeRouter: "check", "pause", "repoint", "resume", "current"; the log
//               writes a repoint as "repoint:green" / "repoint:blue".
//   FakeFence:  "check", "raise", "lower", "raised".
// A failed call is logged too, and changes no state.
//
// Thread-safety: every method may be called from any thread. The hook runs
// without the internal lock held, so it may call back into the fake (e.g. to
// read calls()) or block to simulate a slow router.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cutover/router/router.h"

namespace cutover::router {

// Per-method error injection shared by both fakes.
class ErrorInjector {
 public:
  // The next call of `method` fails with `status` (queued: several FailNext
  // calls fail that many calls, in order).
  void FailNext(const std::string& method, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Every call of `method` fails with `status` until Clear(method).
  void FailAlways(const std::string& method, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void Clear(const std::string& method) ABSL_LOCKS_EXCLUDED(mu_);
  // The injected error for this call of `method` (OK when none); consumes a FailNext.
  absl::Status Take(const std::string& method) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::deque<absl::Status>> next_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> always_ ABSL_GUARDED_BY(mu_);
};

// Call log and hook shared by the fakes.
class FakeCallLog : public ErrorInjector {
 public:
  // Called at the start of each method with its name ("pause", "repoint", ...),
  // before error injection; a non-OK result is returned as the call's error.
  using Hook = std::function<absl::Status(const std::string& method)>;

  void SetHook(Hook hook) ABSL_LOCKS_EXCLUDED(log_mu_);
  std::vector<std::string> calls() const ABSL_LOCKS_EXCLUDED(log_mu_);
  void ClearCalls() ABSL_LOCKS_EXCLUDED(log_mu_);

 protected:
  // Logs `log_entry`, then runs the hook and the injected error of `method`.
  absl::Status Enter(const std::string& method, const std::string& log_entry) ABSL_LOCKS_EXCLUDED(log_mu_);

 private:
  mutable absl::Mutex log_mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(log_mu_);
  Hook hook_ ABSL_GUARDED_BY(log_mu_);
};

class FakeRouter final : public Router, public FakeCallLog {
 public:
  explicit FakeRouter(Target initial = Target::kBlue) : target_(initial) {}

  std::string kind() const override { return "fake"; }
  std::vector<RouterCheck> Check() override;
  absl::Status Pause(absl::Time deadline) override;
  absl::Status Repoint(Target target, absl::Time deadline) override;
  absl::Status Resume(absl::Time deadline) override;
  absl::StatusOr<Target> Current() override;

  // Findings Check() returns (default: one OK "router.reachable").
  void SetCheckResults(std::vector<RouterCheck> checks) ABSL_LOCKS_EXCLUDED(mu_);
  Target target() const ABSL_LOCKS_EXCLUDED(mu_);
  bool paused() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  Target target_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<RouterCheck> checks_ ABSL_GUARDED_BY(mu_) = {{"router.reachable", absl::OkStatus(), "fake"}};
};

class FakeFence final : public Fence, public FakeCallLog {
 public:
  absl::Status Check() override;
  absl::Status Raise(absl::Time deadline) override;
  absl::Status Lower(absl::Time deadline) override;
  absl::StatusOr<bool> Raised() override;

  bool raised() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  bool raised_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cutover::router
