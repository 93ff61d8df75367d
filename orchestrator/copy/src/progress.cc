#include "cutover/copy/progress.h"

#include "cutover/common/proto_time.h"

namespace cutover::copy {

void CopyProgressTracker::SetPlan(const CopyPlan& plan, const std::string& snapshot_id) {
  absl::MutexLock l(&mu_);
  tables_.clear();
  order_.clear();
  snapshot_id_ = snapshot_id;
  started_ = clock_->Now();
  for (const auto& t : plan.tables) {
    Entry& e = tables_[t.oid];
    e.proto.set_table(t.DisplayName());
    e.proto.set_state(cutover::v1::TABLE_STATE_PENDING);
    e.proto.set_rows_estimated(t.copy_data ? t.rows_estimated : 0);
    e.proto.set_bytes_estimated(t.copy_data ? t.bytes_estimated : 0);
    order_.push_back(t.oid);
  }
  // Tables without data of their own (partitioned parents, excluded data)
  // start "copied": only their post-data steps, if any, remain.
  for (const auto& s : plan.steps) {
    auto it = tables_.find(s.table_oid);
    if (it == tables_.end()) continue;
    ++it->second.steps_total;
    if (s.kind == StepKind::kIndex || s.kind == StepKind::kExclusion) {
      it->second.proto.set_indexes_total(it->second.proto.indexes_total() + 1);
    }
  }
  for (const auto& t : plan.tables) {
    if (t.copy_data) continue;
    Entry& e = tables_[t.oid];
    e.proto.set_state(e.steps_total == 0 ? cutover::v1::TABLE_STATE_DONE : cutover::v1::TABLE_STATE_COPIED);
  }
}

void CopyProgressTracker::AddStreamed(uint32_t table_oid, int64_t rows, int64_t bytes) {
  absl::MutexLock l(&mu_);
  auto it = tables_.find(table_oid);
  if (it == tables_.end()) return;
  it->second.proto.set_rows_copied(it->second.proto.rows_copied() + rows);
  it->second.proto.set_bytes_copied(it->second.proto.bytes_copied() + bytes);
}

void CopyProgressTracker::SetCopied(uint32_t table_oid, int64_t rows, int64_t bytes) {
  absl::MutexLock l(&mu_);
  auto it = tables_.find(table_oid);
  if (it == tables_.end()) return;
  it->second.proto.set_rows_copied(rows);
  it->second.proto.set_bytes_copied(bytes);
}

void CopyProgressTracker::ResetTable(uint32_t table_oid) { SetCopied(table_oid, 0, 0); }

void CopyProgressTracker::MarkFailed(uint32_t table_oid) {
  absl::MutexLock l(&mu_);
  auto it = tables_.find(table_oid);
  if (it != tables_.end()) it->second.proto.set_state(cutover::v1::TABLE_STATE_FAILED);
}

void CopyProgressTracker::OnTableDataStarted(const TableInfo& table) {
  absl::MutexLock l(&mu_);
  const absl::Time now = clock_->Now();
  if (data_started_ == absl::InfinitePast()) data_started_ = now;
  Entry& e = tables_[table.oid];
  e.copy_started = now;
  e.proto.set_state(cutover::v1::TABLE_STATE_COPYING);
}

void CopyProgressTracker::OnTableDataDone(const TableInfo& table) {
  absl::MutexLock l(&mu_);
  Entry& e = tables_[table.oid];
  *e.proto.mutable_copy_duration() = ToProto(clock_->Now() - e.copy_started);
  e.proto.set_state(e.steps_total == 0 ? cutover::v1::TABLE_STATE_DONE : cutover::v1::TABLE_STATE_COPIED);
}

void CopyProgressTracker::OnStepStarted(const PostStep& step) {
  absl::MutexLock l(&mu_);
  auto it = tables_.find(step.table_oid);
  if (it == tables_.end()) return;
  Entry& e = it->second;
  if (e.index_started == absl::InfinitePast()) e.index_started = clock_->Now();
  e.proto.set_state(cutover::v1::TABLE_STATE_INDEXING);
}

void CopyProgressTracker::OnStepDone(const PostStep& step) {
  absl::MutexLock l(&mu_);
  auto it = tables_.find(step.table_oid);
  if (it == tables_.end()) return;
  Entry& e = it->second;
  ++e.steps_done;
  if (step.kind == StepKind::kIndex || step.kind == StepKind::kExclusion) {
    e.proto.set_indexes_done(e.proto.indexes_done() + 1);
  }
  if (e.steps_done == e.steps_total) {
    e.proto.set_state(cutover::v1::TABLE_STATE_DONE);
    *e.proto.mutable_index_duration() = ToProto(clock_->Now() - e.index_started);
  }
}

cutover::v1::CopyProgress CopyProgressTracker::Snapshot() const {
  absl::MutexLock l(&mu_);
  cutover::v1::CopyProgress out;
  out.set_snapshot_id(snapshot_id_);
  int64_t rows = 0, bytes = 0, est = 0, est_left = 0;
  for (uint32_t oid : order_) {
    const Entry& e = tables_.at(oid);
    *out.add_tables() = e.proto;
    rows += e.proto.rows_copied();
    bytes += e.proto.bytes_copied();
    est += e.proto.bytes_estimated();
    const auto state = e.proto.state();
    const bool data_in = state == cutover::v1::TABLE_STATE_COPIED || state == cutover::v1::TABLE_STATE_INDEXING ||
                         state == cutover::v1::TABLE_STATE_DONE;
    if (!data_in) est_left += std::max<int64_t>(0, e.proto.bytes_estimated() - e.proto.bytes_copied());
  }
  out.set_rows_copied(rows);
  out.set_bytes_copied(bytes);
  out.set_bytes_estimated(est);
  const absl::Time now = clock_->Now();
  if (started_ != absl::InfinitePast()) *out.mutable_elapsed() = ToProto(now - started_);
  if (data_started_ != absl::InfinitePast()) {
    const double secs = absl::ToDoubleSeconds(now - data_started_);
    if (secs > 0) {
      out.set_bytes_per_second(static_cast<double>(bytes) / secs);
      out.set_rows_per_second(static_cast<double>(rows) / secs);
    }
    if (out.bytes_per_second() > 0) {
      *out.mutable_eta() = ToProto(absl::Seconds(static_cast<double>(est_left) / out.bytes_per_second()));
    }
  }
  return out;
}

}  // namespace cutover::copy
