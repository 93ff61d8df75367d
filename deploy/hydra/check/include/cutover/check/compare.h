// The comparison at the heart of cutover-check: one entity (a token table,
// consents, login sessions or clients) read from blue and from green as two
// streams sorted by key, merge-joined row by row, each key classified as
// matched, lost revocation, false revocation, accepted loss, created on
// green, revoked on green or superseded. Rules: docs/cutover-check.md.
//
// Memory stays flat however big the tables are: rows are consumed as they
// stream; only offending keys are kept (up to kMaxPendingPerEntity, so that
// a revocation the ledger reports late can still clear them, see Resolve).
//
// Thread-safety: an EntityComparison belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/check/ledger.h"
#include "cutover/v1/check.pb.h"

namespace cutover::check {

enum class Entity { kAccess, kRefresh, kCode, kOidc, kPkce, kConsent, kLoginSession, kClient };

// Every entity in comparison order (refresh before access, so that rotated
// request ids are known when access tokens are classified).
const std::vector<Entity>& AllEntities();
// "access", "refresh", "code", "oidc", "pkce", "consent", "login_session", "client".
absl::string_view EntityName(Entity entity);
bool IsToken(Entity entity);

// One row of an entity as the checker sees it. Tokens have `active` and the
// ids their revocations cascade by; the other entities are active while
// present. The two creation flags are computed by the row source against the
// snapshot time and the cutoff (both false when that time is unknown or the
// row's creation time is NULL).
struct Row {
  std::string key;
  bool active = true;
  std::string request_id;    // tokens
  std::string challenge_id;  // tokens; "" when NULL
  std::string client_id;     // tokens, consents; a client's own id
  bool created_before_snapshot = false;
  bool created_at_or_after_cutoff = false;
};

// Rows of one side in strictly increasing byte order of `key` (PostgreSQL's
// "C" collation). An implementation reports an out-of-order key as an error
// rather than letting the merge misclassify.
class RowSource {
 public:
  virtual ~RowSource() = default;
  // Fills `row` with the next row and returns true, or returns false at the
  // end. Errors name the side.
  virtual absl::StatusOr<bool> Next(Row* row) = 0;
};

// Called every kProgressRows rows and at the end of an entity.
using ProgressFn = std::function<void(absl::string_view line)>;

inline constexpr int64_t kMaxPendingPerEntity = 100000;

class EntityComparison {
 public:
  EntityComparison(Entity entity, std::string blue_table, std::string green_table);

  // Merges the two sources to their ends. `revocations` is what the ledger
  // says green revoked, as known now.
  absl::Status Run(RowSource& blue, RowSource& green, const GreenRevocations& revocations,
                   const ProgressFn& progress = nullptr);

  // Re-examines the offending keys kept so far against `revocations` (after
  // more ledger lines were read): those now explained move to
  // revoked_on_green / superseded_on_green.
  void Resolve(const GreenRevocations& revocations);

  // Counts and the first `max_examples` offending keys of each category.
  v1::CheckEntityResult Result(int max_examples) const;
  Entity entity() const { return entity_; }
  // Wall time spent on this entity (reported as `duration`), measured by
  // the caller: opening the streams includes the servers' sorts.
  void AddDuration(absl::Duration d) { duration_ += d; }

 private:
  enum class Finding { kLost, kFalse };
  struct Pending {
    Row row;
    Finding finding;
  };
  void Offend(const Row& row, Finding finding);
  bool Explained(const Row& row, const GreenRevocations& revocations) const;

  Entity entity_;
  std::string blue_table_;
  std::string green_table_;
  v1::CheckEntityResult counts_;
  std::vector<Pending> pending_;  // key order
  // Offending keys beyond kMaxPendingPerEntity: counted as final.
  std::vector<std::string> overflow_lost_;
  std::vector<std::string> overflow_false_;
  int64_t overflow_lost_count_ = 0;
  int64_t overflow_false_count_ = 0;
  absl::Duration duration_;
};

}  // namespace cutover::check
