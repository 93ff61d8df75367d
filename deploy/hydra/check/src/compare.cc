#include "cutover/check/compare.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"

namespace cutover::check {
namespace {

constexpr int64_t kProgressRows = 1000000;

}  // namespace

const std::vector<Entity>& AllEntities() {
  static const std::vector<Entity> kAll = {Entity::kRefresh,      Entity::kAccess, Entity::kCode,
                                           Entity::kOidc,         Entity::kPkce,   Entity::kConsent,
                                           Entity::kLoginSession, Entity::kClient};
  return kAll;
}

absl::string_view EntityName(Entity entity) {
  switch (entity) {
    case Entity::kAccess:
      return "access";
    case Entity::kRefresh:
      return "refresh";
    case Entity::kCode:
      return "code";
    case Entity::kOidc:
      return "oidc";
    case Entity::kPkce:
      return "pkce";
    case Entity::kConsent:
      return "consent";
    case Entity::kLoginSession:
      return "login_session";
    case Entity::kClient:
      return "client";
  }
  return "?";
}

bool IsToken(Entity entity) {
  return entity == Entity::kAccess || entity == Entity::kRefresh || entity == Entity::kCode ||
         entity == Entity::kOidc || entity == Entity::kPkce;
}

EntityComparison::EntityComparison(Entity entity, std::string blue_table, std::string green_table)
    : entity_(entity), blue_table_(std::move(blue_table)), green_table_(std::move(green_table)) {}

// Whether a revocation made on green (per the ledger) accounts for `row`
// being gone or inactive there. Token revocations by request id and
// rotations touch access and refresh rows only, as Hydra's statements do.
bool EntityComparison::Explained(const Row& row, const GreenRevocations& r) const {
  if (!row.client_id.empty() && r.HasClient(row.client_id)) return true;
  switch (entity_) {
    case Entity::kAccess:
    case Entity::kRefresh:
      if (r.HasRequestId(row.request_id)) return true;
      if (entity_ == Entity::kRefresh && r.HasRefresh(row.key)) return true;
      [[fallthrough]];
    case Entity::kCode:
    case Entity::kOidc:
    case Entity::kPkce:
      return !row.challenge_id.empty() && r.HasConsent(row.challenge_id);
    case Entity::kConsent:
      return r.HasConsent(row.key);
    case Entity::kLoginSession:
      return r.HasLoginSession(row.key);
    case Entity::kClient:
      return r.HasClient(row.key);
  }
  return false;
}

void EntityComparison::Offend(const Row& row, Finding finding) {
  if (static_cast<int64_t>(pending_.size()) < kMaxPendingPerEntity) {
    pending_.push_back(Pending{row, finding});
    return;
  }
  // Past the cap the verdict is FAIL anyway; count without keeping rows.
  if (finding == Finding::kLost) {
    ++overflow_lost_count_;
    if (overflow_lost_.size() < 100) overflow_lost_.push_back(row.key);
  } else {
    ++overflow_false_count_;
    if (overflow_false_.size() < 100) overflow_false_.push_back(row.key);
  }
}

absl::Status EntityComparison::Run(RowSource& blue, RowSource& green, const GreenRevocations& revocations,
                                   const ProgressFn& progress) {
  Row b, g;
  ASSIGN_OR_RETURN(bool has_b, blue.Next(&b));
  ASSIGN_OR_RETURN(bool has_g, green.Next(&g));
  int64_t next_progress = kProgressRows;
  auto& c = counts_;
  while (has_b || has_g) {
    const int cmp = !has_b ? 1 : !has_g ? -1 : absl::string_view(b.key).compare(g.key);
    if (cmp > 0) {
      // Only on green.
      c.set_green_rows(c.green_rows() + 1);
      if (g.created_at_or_after_cutoff) {
        c.set_created_on_green(c.created_on_green() + 1);
      } else if (g.active) {
        // Copied from blue's snapshot, since deleted on blue: a revocation
        // green lacks, unless green revoked it too.
        if (Explained(g, revocations)) {
          c.set_superseded_on_green(c.superseded_on_green() + 1);
        } else {
          Offend(g, Finding::kLost);
        }
      }
      ASSIGN_OR_RETURN(has_g, green.Next(&g));
    } else if (cmp < 0) {
      // Only on blue.
      c.set_blue_rows(c.blue_rows() + 1);
      if (b.active && Explained(b, revocations)) {
        c.set_revoked_on_green(c.revoked_on_green() + 1);
      } else if (!b.created_before_snapshot) {
        c.set_accepted_losses(c.accepted_losses() + 1);
      } else if (b.active) {
        Offend(b, Finding::kFalse);
      }
      // Inactive on blue, in the snapshot, gone on green: nothing to revoke.
      ASSIGN_OR_RETURN(has_b, blue.Next(&b));
    } else {
      c.set_blue_rows(c.blue_rows() + 1);
      c.set_green_rows(c.green_rows() + 1);
      c.set_matched(c.matched() + 1);
      if (b.active && !g.active) {
        if (Explained(b, revocations)) {
          c.set_revoked_on_green(c.revoked_on_green() + 1);
        } else {
          Offend(b, Finding::kFalse);
        }
      } else if (!b.active && g.active) {
        if (Explained(g, revocations)) {
          c.set_superseded_on_green(c.superseded_on_green() + 1);
        } else {
          Offend(g, Finding::kLost);
        }
      }
      ASSIGN_OR_RETURN(has_b, blue.Next(&b));
      ASSIGN_OR_RETURN(has_g, green.Next(&g));
    }
    if (progress && c.blue_rows() + c.green_rows() >= next_progress) {
      next_progress += kProgressRows;
      progress(absl::StrCat(EntityName(entity_), ": ", c.blue_rows(), " blue / ", c.green_rows(),
                            " green rows so far"));
    }
  }
  return absl::OkStatus();
}

void EntityComparison::Resolve(const GreenRevocations& revocations) {
  std::vector<Pending> keep;
  keep.reserve(pending_.size());
  for (auto& p : pending_) {
    if (!Explained(p.row, revocations)) {
      keep.push_back(std::move(p));
    } else if (p.finding == Finding::kLost) {
      counts_.set_superseded_on_green(counts_.superseded_on_green() + 1);
    } else {
      counts_.set_revoked_on_green(counts_.revoked_on_green() + 1);
    }
  }
  pending_ = std::move(keep);
}

v1::CheckEntityResult EntityComparison::Result(int max_examples) const {
  v1::CheckEntityResult r = counts_;
  r.set_entity(std::string(EntityName(entity_)));
  r.set_blue_table(blue_table_);
  r.set_green_table(green_table_);
  int64_t lost = overflow_lost_count_, false_revocations = overflow_false_count_;
  for (const auto& p : pending_) {
    if (p.finding == Finding::kLost) {
      ++lost;
      if (r.lost_keys_size() < max_examples) r.add_lost_keys(p.row.key);
    } else {
      ++false_revocations;
      if (r.false_revocation_keys_size() < max_examples) r.add_false_revocation_keys(p.row.key);
    }
  }
  for (const auto& k : overflow_lost_) {
    if (r.lost_keys_size() < max_examples) r.add_lost_keys(k);
  }
  for (const auto& k : overflow_false_) {
    if (r.false_revocation_keys_size() < max_examples) r.add_false_revocation_keys(k);
  }
  r.set_lost(lost);
  r.set_false_revocations(false_revocations);
  *r.mutable_duration() = ToProto(duration_);
  return r;
}

}  // namespace cutover::check
