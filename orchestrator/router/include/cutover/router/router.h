// Routers move client traffic between blue and green during the flip; the
// fence closes a database to writes. Both are narrow interfaces over external
// systems (PgBouncer's admin console, operator commands, PostgreSQL) so the
// flip protocol can be tested with fakes and error injection.
//
// Contract shared by every Router:
//  - Pause() returns once new transactions wait and in-flight ones finished
//    (PgBouncer PAUSE semantics); Resume() lets them go, to whatever target is
//    current. Both are idempotent: resuming a running router is OK.
//  - Repoint(target) is idempotent and atomic from the clients' view: while
//    paused, nobody observes a half-repointed router.
//  - Every call honours its deadline (DeadlineExceeded) and says whether a
//    retry helps (Unavailable) or not (FailedPrecondition, InvalidArgument).
// Implementations are safe for calls from one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::router {

enum class Target { kBlue, kGreen };
const char* TargetName(Target t);

// A preflight finding ("router.reachable", "router.pool_mode", ...).
struct RouterCheck {
  std::string name;
  absl::Status status;
  std::string detail;
};

class Router {
 public:
  virtual ~Router() = default;
  virtual std::string kind() const = 0;  // "pgbouncer", "command"
  // Reachability, admin access, pool mode, config writable. Changes nothing.
  virtual std::vector<RouterCheck> Check() = 0;
  virtual absl::Status Pause(absl::Time deadline) = 0;
  virtual absl::Status Repoint(Target target, absl::Time deadline) = 0;
  virtual absl::Status Resume(absl::Time deadline) = 0;
  // Where traffic goes now, as far as the router can tell (Unimplemented if
  // it cannot).
  virtual absl::StatusOr<Target> Current() = 0;
};

// PgBouncer: persistent admin-console connection; PAUSE db / rewrite the
// [databases] entry atomically (temp file + rename) / RELOAD / RESUME db.
absl::StatusOr<std::unique_ptr<Router>> NewPgBouncerRouter(const cutover::v1::PgBouncerRouterOptions& options,
                                                           Clock* clock = Clock::Real());
// Operator commands (sh -c) with a timeout each.
absl::StatusOr<std::unique_ptr<Router>> NewCommandRouter(const cutover::v1::CommandRouterOptions& options,
                                                         Clock* clock = Clock::Real());
// From the plan's RouterOptions; InvalidArgument naming the field when unset.
absl::StatusOr<std::unique_ptr<Router>> NewRouter(const cutover::v1::RouterOptions& options,
                                                  Clock* clock = Clock::Real());

// The fence on one database (blue during the flip; green for a rollback).
//  - Raise(): the database becomes read-only for every session but the
//    orchestrator's (ALTER DATABASE ... SET default_transaction_read_only,
//    then every other client backend of that database is terminated and we
//    wait until none is left). Idempotent.
//  - Lower(): undoes Raise exactly (RESET), idempotent; also used on abort.
//  - Raised(): whether the fence setting is in place.
class Fence {
 public:
  virtual ~Fence() = default;
  // Privileges needed for Raise/Lower (database owner or superuser, and
  // pg_signal_backend). Changes nothing.
  virtual absl::Status Check() = 0;
  virtual absl::Status Raise(absl::Time deadline) = 0;
  virtual absl::Status Lower(absl::Time deadline) = 0;
  virtual absl::StatusOr<bool> Raised() = 0;
};

// `dsn` is the orchestrator's own connection to the fenced database.
std::unique_ptr<Fence> NewPgFence(const std::string& dsn, Clock* clock = Clock::Real());

}  // namespace cutover::router
