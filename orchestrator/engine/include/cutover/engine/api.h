// The control operations of cutoverd, as the gRPC service (a thin adapter)
// sees them. Implemented by engine::Orchestrator; faked in service tests.
//
// Every mutating call takes the caller's identity, which lands in the audit
// timeline. Errors are absl::Status with the usual meaning:
//  InvalidArgument (bad plan: the message names the field), NotFound (id),
//  FailedPrecondition (wrong phase for this command: the message says which
//  phase it is in and which it needs), PermissionDenied (role).
// Implementations are safe for concurrent calls from any thread.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::engine {

enum class Role { kViewer = 0, kOperator = 1, kApprover = 2 };
const char* RoleName(Role role);

struct Caller {
  std::string identity = "anonymous";  // "token:ops-1", "cert:CN=alice", "local"
  Role role = Role::kViewer;
};

// A cutover with its store version (grows on every change).
struct CutoverView {
  cutover::v1::Cutover cutover;
  int64_t version = 0;
};

class CutoverApi {
 public:
  virtual ~CutoverApi() = default;
  // Preflight only; stores and changes nothing.
  virtual absl::StatusOr<cutover::v1::ValidationResult> ValidatePlan(const cutover::v1::Plan& plan) = 0;
  // Validates (refuses when a check fails, with the failed checks in the
  // message) and stores the plan as a PLANNED cutover.
  virtual absl::StatusOr<cutover::v1::Cutover> CreatePlan(const cutover::v1::Plan& plan, const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Start(absl::string_view id, const Caller& caller) = 0;
  virtual absl::StatusOr<CutoverView> Get(absl::string_view id) = 0;
  virtual absl::StatusOr<std::vector<cutover::v1::Cutover>> List(const std::vector<cutover::v1::Phase>& phases) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Pause(absl::string_view id, absl::string_view reason,
                                                     const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Resume(absl::string_view id, absl::string_view reason,
                                                      const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Approve(absl::string_view id, absl::string_view reason,
                                                       const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Abort(absl::string_view id, absl::string_view reason,
                                                     const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Cutover> Rollback(absl::string_view id, absl::string_view reason,
                                                        const Caller& caller) = 0;
  virtual absl::StatusOr<cutover::v1::Report> GetReport(absl::string_view id) = 0;
  virtual absl::StatusOr<std::vector<cutover::v1::Transition>> ListTransitions(absl::string_view id,
                                                                              int64_t after_seq = 0) = 0;
  // Blocks until the cutover changed past `version` or `deadline`; returns
  // the current version. Used by Watch.
  virtual absl::StatusOr<int64_t> WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) = 0;
};

}  // namespace cutover::engine
