// Runs a CopyPlan with two worker pools: `table_jobs` data workers stream
// tables largest first, and `index_jobs` post-data workers build each table's
// indexes and constraints as soon as its data is in (order rules in
// copy_plan.h). The executor does the I/O; the scheduler only orders and
// parallelizes, so it is tested with a fake executor.
//
// On the first error (or cancellation) no new work starts, running work
// finishes, and that first error is returned. RunCopySchedule blocks until
// every worker thread has exited.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "cutover/copy/control.h"
#include "cutover/copy/copy_plan.h"

namespace cutover::copy {

// Does the real work of each unit. Called concurrently from several worker
// threads: implementations keep per-worker state indexed by `worker`.
class CopyExecutor {
 public:
  virtual ~CopyExecutor() = default;
  // Streams one table's data into green; `worker` is in [0, table_jobs).
  virtual absl::Status CopyTable(const TableInfo& table, int worker) = 0;
  // Runs one post-data step on green; `worker` is in [0, index_jobs).
  virtual absl::Status RunStep(const PostStep& step, int worker) = 0;
};

// Callbacks from worker threads (must be thread-safe and quick).
class ScheduleObserver {
 public:
  virtual ~ScheduleObserver() = default;
  virtual void OnTableDataStarted(const TableInfo& table) {}
  virtual void OnTableDataDone(const TableInfo& table) {}
  virtual void OnStepStarted(const PostStep& step) {}
  virtual void OnStepDone(const PostStep& step) {}
  // Every table's data is in; only post-data work remains.
  virtual void OnDataComplete() {}
};

struct ScheduleOptions {
  int table_jobs = 2;
  int index_jobs = 2;
};

absl::Status RunCopySchedule(const CopyPlan& plan, const ScheduleOptions& options, CopyExecutor& executor,
                             ScheduleObserver* observer, CopyControl* control);

// Runs fn(i, worker) for i in [0, n) on `workers` threads, in index order;
// stops handing out items at the first error (returned) or cancellation.
absl::Status ParallelFor(size_t n, int workers, const std::function<absl::Status(size_t, int)>& fn,
                         CopyControl* control);

}  // namespace cutover::copy
