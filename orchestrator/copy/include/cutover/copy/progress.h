// Tracks copy progress (rows, bytes per table, rate, ETA) for the control API,
// the CLI and metrics. Fed by scheduler callbacks and by the streaming
// workers; read with Snapshot(). Thread-safe: any thread may call anything.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/copy/scheduler.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::copy {

class CopyProgressTracker : public ScheduleObserver {
 public:
  explicit CopyProgressTracker(Clock* clock = Clock::Real()) : clock_(clock) {}

  // Registers the tables and how many indexes/constraints each will get.
  void SetPlan(const CopyPlan& plan, const std::string& snapshot_id);
  // Adds streamed rows/bytes for a table (called often, from data workers).
  void AddStreamed(uint32_t table_oid, int64_t rows, int64_t bytes);
  // Sets the exact row count once a table's COPY has committed, and forgets
  // partial counts of a failed attempt (`reset_stream`).
  void SetCopied(uint32_t table_oid, int64_t rows, int64_t bytes);
  void ResetTable(uint32_t table_oid);
  void MarkFailed(uint32_t table_oid);

  cutover::v1::CopyProgress Snapshot() const;

  // ScheduleObserver
  void OnTableDataStarted(const TableInfo& table) override;
  void OnTableDataDone(const TableInfo& table) override;
  void OnStepStarted(const PostStep& step) override;
  void OnStepDone(const PostStep& step) override;

 private:
  struct Entry {
    cutover::v1::TableProgress proto;
    absl::Time copy_started = absl::InfinitePast();
    absl::Time index_started = absl::InfinitePast();
    int steps_total = 0;
    int steps_done = 0;
  };
  Clock* const clock_;
  mutable absl::Mutex mu_;
  std::map<uint32_t, Entry> tables_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> order_ ABSL_GUARDED_BY(mu_);
  std::string snapshot_id_ ABSL_GUARDED_BY(mu_);
  absl::Time started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time data_started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace cutover::copy
