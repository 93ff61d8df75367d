// Status helpers shared by every module: the RETURN_IF_ERROR / ASSIGN_OR_RETURN
// macros Debian's Abseil (20220623) lacks, and the retry classification the
// state machine uses.
//
// Error-code contract across module boundaries:
//   kUnavailable, kDeadlineExceeded, kAborted  -> transient: retry with backoff.
//   kInvalidArgument, kFailedPrecondition,
//   kNotFound, kAlreadyExists, kPermissionDenied,
//   kUnauthenticated                           -> the plan or environment is wrong:
//                                                 an operator must act; never retried.
//   kInternal, kUnknown, kDataLoss             -> a bug or corruption: stop, FAILED.
//   kCancelled                                 -> the caller asked us to stop.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define CUTOVER_STATUS_CONCAT_INNER_(a, b) a##b
#define CUTOVER_STATUS_CONCAT_(a, b) CUTOVER_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define RETURN_IF_ERROR(expr)                                         \
  do {                                                                \
    ::absl::Status cutover_status_ = (expr);                          \
    if (!cutover_status_.ok()) return cutover_status_;                \
  } while (0)

// ASSIGN_OR_RETURN(lhs, rexpr): evaluates `rexpr` (an absl::StatusOr<T>);
// on error returns the status, else moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing variable.
#define ASSIGN_OR_RETURN(lhs, rexpr)                                               \
  CUTOVER_ASSIGN_OR_RETURN_IMPL_(CUTOVER_STATUS_CONCAT_(cutover_statusor_, __LINE__), \
                                 lhs, rexpr)
#define CUTOVER_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

namespace cutover {

// True when retrying the same operation later may succeed (connection loss,
// timeout, serialization failure). The state machine retries only these.
bool IsRetryable(const absl::Status& status);

// Returns `status` with `context` prepended to its message ("copy table x: ...").
// OK stays OK; the code is preserved.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

template <typename T>
absl::StatusOr<T> Annotate(absl::StatusOr<T> value, absl::string_view context) {
  if (value.ok()) return value;
  return Annotate(value.status(), context);
}

}  // namespace cutover
