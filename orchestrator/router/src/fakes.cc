#include "cutover/router/fakes.h"

#include "cutover/common/status.h"

namespace cutover::router {

void ErrorInjector::FailNext(const std::string& method, absl::Status status) {
  absl::MutexLock l(&mu_);
  next_[method].push_back(std::move(status));
}

void ErrorInjector::FailAlways(const std::string& method, absl::Status status) {
  absl::MutexLock l(&mu_);
  always_[method] = std::move(status);
}

void ErrorInjector::Clear(const std::string& method) {
  absl::MutexLock l(&mu_);
  next_.erase(method);
  always_.erase(method);
}

absl::Status ErrorInjector::Take(const std::string& method) {
  absl::MutexLock l(&mu_);
  auto it = next_.find(method);
  if (it != next_.end() && !it->second.empty()) {
    absl::Status st = std::move(it->second.front());
    it->second.pop_front();
    return st;
  }
  auto a = always_.find(method);
  return a == always_.end() ? absl::OkStatus() : a->second;
}

// ---- FakeCallLog ----

absl::Status FakeCallLog::Enter(const std::string& method, const std::string& log_entry) {
  Hook hook;
  {
    absl::MutexLock l(&log_mu_);
    calls_.push_back(log_entry);
    hook = hook_;
  }
  if (hook) RETURN_IF_ERROR(hook(method));
  return Take(method);
}

void FakeCallLog::SetHook(Hook hook) {
  absl::MutexLock l(&log_mu_);
  hook_ = std::move(hook);
}

std::vector<std::string> FakeCallLog::calls() const {
  absl::MutexLock l(&log_mu_);
  return calls_;
}

void FakeCallLog::ClearCalls() {
  absl::MutexLock l(&log_mu_);
  calls_.clear();
}

// ---- FakeRouter ----

std::vector<RouterCheck> FakeRouter::Check() {
  absl::Status st = Enter("check", "check");
  absl::MutexLock l(&mu_);
  if (!st.ok()) return {{"router.reachable", st, "injected"}};
  return checks_;
}

absl::Status FakeRouter::Pause(absl::Time) {
  RETURN_IF_ERROR(Enter("pause", "pause"));
  absl::MutexLock l(&mu_);
  paused_ = true;
  return absl::OkStatus();
}

absl::Status FakeRouter::Repoint(Target target, absl::Time) {
  RETURN_IF_ERROR(Enter("repoint", std::string("repoint:") + TargetName(target)));
  absl::MutexLock l(&mu_);
  target_ = target;
  return absl::OkStatus();
}

absl::Status FakeRouter::Resume(absl::Time) {
  RETURN_IF_ERROR(Enter("resume", "resume"));
  absl::MutexLock l(&mu_);
  paused_ = false;
  return absl::OkStatus();
}

absl::StatusOr<Target> FakeRouter::Current() {
  RETURN_IF_ERROR(Enter("current", "current"));
  absl::MutexLock l(&mu_);
  return target_;
}

void FakeRouter::SetCheckResults(std::vector<RouterCheck> checks) {
  absl::MutexLock l(&mu_);
  checks_ = std::move(checks);
}

Target FakeRouter::target() const {
  absl::MutexLock l(&mu_);
  return target_;
}

bool FakeRouter::paused() const {
  absl::MutexLock l(&mu_);
  return paused_;
}

// ---- FakeFence ----

absl::Status FakeFence::Check() { return Enter("check", "check"); }

absl::Status FakeFence::Raise(absl::Time) {
  RETURN_IF_ERROR(Enter("raise", "raise"));
  absl::MutexLock l(&mu_);
  raised_ = true;
  return absl::OkStatus();
}

absl::Status FakeFence::Lower(absl::Time) {
  RETURN_IF_ERROR(Enter("lower", "lower"));
  absl::MutexLock l(&mu_);
  raised_ = false;
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeFence::Raised() {
  RETURN_IF_ERROR(Enter("raised", "raised"));
  absl::MutexLock l(&mu_);
  return raised_;
}

bool FakeFence::raised() const {
  absl::MutexLock l(&mu_);
  return raised_;
}

}  // namespace cutover::router
