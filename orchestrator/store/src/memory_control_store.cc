// In-memory ControlStore: the same contract as the PostgreSQL store (the
// shared rules are in store_rules.h), lease times from an injected Clock.
//
// Thread-safety: every method takes one absl::Mutex for its whole duration;
// WaitForChange waits on a CondVar signalled by every write. With the real
// clock it sleeps until the deadline; with any other clock (SimulatedClock)
// it re-checks the clock every few milliseconds of real time, because
// simulated time moves without signalling us. The destructor does not block;
// destroy the store only after every call has returned.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/store/control_store.h"
#include "store_rules.h"

namespace cutover::store {
namespace {

using cutover::v1::Cutover;
using internal::CheckLease;

// How often a waiter on a simulated clock looks at the clock again.
constexpr absl::Duration kSimulatedClockPoll = absl::Milliseconds(2);

class MemoryControlStore final : public ControlStore {
 public:
  explicit MemoryControlStore(Clock* clock)
      : clock_(clock), real_clock_(dynamic_cast<RealClock*>(clock) != nullptr) {}

  absl::Status Init() override { return absl::OkStatus(); }

  absl::StatusOr<StoredCutover> Create(const Cutover& cutover, const TransitionRecord& first) override {
    RETURN_IF_ERROR(internal::CheckCreate(cutover, first));
    absl::MutexLock l(&mu_);
    if (entries_.count(cutover.id())) return internal::AlreadyExists(cutover.id());
    const absl::Time now = clock_->Now();
    Entry& e = entries_[cutover.id()];
    e.state = internal::StrippedForStorage(cutover);
    *e.state.mutable_created_at() = ToProtoTime(now);
    *e.state.mutable_updated_at() = ToProtoTime(now);
    e.created_seq = next_created_seq_++;
    TransitionRecord row = first;
    if (row.to == cutover::v1::PHASE_UNSPECIFIED) row.to = cutover.phase();
    AppendRow(&e, row, now);
    e.version = 1;
    changed_.SignalAll();
    return View(e);
  }

  absl::StatusOr<StoredCutover> Get(absl::string_view id) override {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    return View(*e);
  }

  absl::StatusOr<std::vector<StoredCutover>> List(const std::vector<cutover::v1::Phase>& phases) override {
    absl::MutexLock l(&mu_);
    std::vector<const Entry*> picked;
    for (const auto& [id, e] : entries_) {
      if (phases.empty() || std::find(phases.begin(), phases.end(), e.state.phase()) != phases.end()) {
        picked.push_back(&e);
      }
    }
    std::sort(picked.begin(), picked.end(), [](const Entry* a, const Entry* b) {
      const absl::Time ta = FromProtoTime(a->state.created_at()), tb = FromProtoTime(b->state.created_at());
      if (ta != tb) return ta > tb;
      return a->created_seq > b->created_seq;
    });
    std::vector<StoredCutover> out;
    out.reserve(picked.size());
    for (const Entry* e : picked) out.push_back(View(*e));
    return out;
  }

  absl::StatusOr<StoredCutover> Transition(const Cutover& updated, const TransitionRecord& record,
                                           absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckTransitionArgs(updated, record));
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(updated.id()));
    const absl::Time now = clock_->Now();
    RETURN_IF_ERROR(CheckLease(updated.id(), e->lease, now, holder));
    RETURN_IF_ERROR(internal::CheckPhase(updated.id(), e->state.phase(), record.from));
    Replace(e, updated, now);
    AppendRow(e, record, now);
    ++e->version;
    changed_.SignalAll();
    return View(*e);
  }

  absl::StatusOr<StoredCutover> Save(const Cutover& updated, absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckId(updated.id()));
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(updated.id()));
    const absl::Time now = clock_->Now();
    RETURN_IF_ERROR(CheckLease(updated.id(), e->lease, now, holder));
    RETURN_IF_ERROR(internal::CheckPhase(updated.id(), e->state.phase(), updated.phase()));
    Replace(e, updated, now);
    ++e->version;
    changed_.SignalAll();
    return View(*e);
  }

  absl::Status Record(absl::string_view id, const TransitionRecord& record,
                      absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckId(id));
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    const absl::Time now = clock_->Now();
    RETURN_IF_ERROR(CheckLease(id, e->lease, now, holder));
    RETURN_IF_ERROR(internal::CheckRecordPhases(id, e->state.phase(), record));
    TransitionRecord row = record;
    row.from = row.to = e->state.phase();
    AppendRow(e, row, now);
    *e->state.mutable_updated_at() = ToProtoTime(now);
    ++e->version;
    changed_.SignalAll();
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<cutover::v1::Transition>> Transitions(absl::string_view id,
                                                                   int64_t after_seq) override {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    std::vector<cutover::v1::Transition> out;
    for (const auto& t : e->timeline) {
      if (t.seq() > after_seq) out.push_back(t);
    }
    return out;
  }

  absl::StatusOr<LeaseInfo> AcquireLease(absl::string_view id, absl::string_view holder,
                                         absl::Duration ttl) override {
    RETURN_IF_ERROR(internal::CheckLeaseArgs(id, holder, ttl));
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    e->lease = internal::NextLease(e->lease, holder, clock_->Now(), ttl);
    return e->lease;
  }

  absl::Status ReleaseLease(absl::string_view id, absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckId(id));
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    if (!holder.empty() && e->lease.holder == holder) {
      e->lease.holder.clear();
      e->lease.expires_at = clock_->Now();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<LeaseInfo> GetLease(absl::string_view id) override {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(Entry * e, Find(id));
    return e->lease;
  }

  absl::StatusOr<int64_t> WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) override {
    absl::MutexLock l(&mu_);
    while (true) {
      ASSIGN_OR_RETURN(Entry * e, Find(id));
      if (e->version > version || clock_->Now() >= deadline) return e->version;
      if (real_clock_) {
        changed_.WaitWithDeadline(&mu_, deadline);
      } else {
        changed_.WaitWithTimeout(&mu_, kSimulatedClockPoll);
      }
    }
  }

 private:
  struct Entry {
    Cutover state;  // without the lease fields
    int64_t version = 0;
    int64_t created_seq = 0;  // ties of created_at: newer first
    std::vector<cutover::v1::Transition> timeline;
    LeaseInfo lease;
  };

  absl::StatusOr<Entry*> Find(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = entries_.find(std::string(id));
    if (it == entries_.end()) return internal::NotFound(id);
    return &it->second;
  }

  static StoredCutover View(const Entry& e) {
    StoredCutover out;
    out.cutover = e.state;
    internal::FillLease(e.lease, &out.cutover);
    out.version = e.version;
    return out;
  }

  static void Replace(Entry* e, const Cutover& updated, absl::Time now) {
    const auto created_at = e->state.created_at();
    e->state = internal::StrippedForStorage(updated);
    *e->state.mutable_created_at() = created_at;
    *e->state.mutable_updated_at() = ToProtoTime(now);
  }

  static void AppendRow(Entry* e, const TransitionRecord& record, absl::Time now) {
    cutover::v1::Transition& t = e->timeline.emplace_back();
    t.set_seq(static_cast<int64_t>(e->timeline.size()));
    *t.mutable_at() = ToProtoTime(now);
    t.set_from(record.from);
    t.set_to(record.to);
    t.set_actor(record.actor);
    t.set_action(record.action);
    t.set_reason(record.reason);
  }

  Clock* const clock_;
  const bool real_clock_;
  absl::Mutex mu_;
  absl::CondVar changed_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t next_created_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<ControlStore> NewMemoryControlStore(Clock* clock) {
  return std::make_unique<MemoryControlStore>(clock != nullptr ? clock : Clock::Real());
}

}  // namespace cutover::store
