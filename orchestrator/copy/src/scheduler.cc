#include "cutover/copy/scheduler.h"

#include <algorithm>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cutover::copy {
namespace {

bool IsIndexBuild(StepKind k) { return k == StepKind::kIndex || k == StepKind::kExclusion; }

// Shared state of one schedule run. All fields under mu.
class ScheduleState {
 public:
  ScheduleState(const CopyPlan& plan, CopyControl* control) : plan_(plan), control_(control) {
    for (const auto& t : plan.tables) {
      TableStatus& ts = tables_[t.oid];
      ts.data_done = !t.copy_data;
      if (t.copy_data) data_queue_.push_back(&t);
    }
    step_state_.assign(plan.steps.size(), State::kBlocked);
    for (const auto& s : plan.steps) {
      TableStatus& ts = tables_[s.table_oid];
      if (IsIndexBuild(s.kind)) ++ts.builds_left;
      if (s.kind == StepKind::kAttachConstraint) ++ts.attaches_left;
      if (s.kind == StepKind::kForeignKey) ++ts.fks_left;
    }
    absl::MutexLock l(&mu_);
    UpdateReadyLocked();
  }

  // Next table for a data worker, or nullptr when none is left or we failed.
  const TableInfo* NextTable() {
    absl::MutexLock l(&mu_);
    if (!first_error_.ok() || next_table_ >= data_queue_.size()) return nullptr;
    return data_queue_[next_table_++];
  }

  void TableDone(const TableInfo& t) {
    absl::MutexLock l(&mu_);
    tables_[t.oid].data_done = true;
    UpdateReadyLocked();
  }

  // Blocks until a step is ready (returns its index), or there is nothing
  // more to do (returns -1).
  int NextStep() {
    absl::MutexLock l(&mu_);
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !first_error_.ok() || steps_done_ == plan_.steps.size() || !ready_.empty() ||
             (data_workers_left_ == 0 && running_ == 0 && ready_.empty());
    };
    mu_.Await(absl::Condition(&wake));
    if (!first_error_.ok() || ready_.empty()) return -1;
    // Largest first: ready_ is kept sorted by weight, descending.
    int idx = ready_.front();
    ready_.erase(ready_.begin());
    step_state_[idx] = State::kRunning;
    ++running_;
    return idx;
  }

  void StepDone(int idx) {
    absl::MutexLock l(&mu_);
    step_state_[idx] = State::kDone;
    --running_;
    ++steps_done_;
    const PostStep& s = plan_.steps[idx];
    TableStatus& ts = tables_[s.table_oid];
    if (IsIndexBuild(s.kind)) --ts.builds_left;
    if (s.kind == StepKind::kAttachConstraint) --ts.attaches_left;
    if (s.kind == StepKind::kForeignKey) --ts.fks_left;
    UpdateReadyLocked();
  }

  void StepFailed() {
    absl::MutexLock l(&mu_);
    --running_;
  }

  void DataWorkerExited() {
    absl::MutexLock l(&mu_);
    --data_workers_left_;
  }
  void SetDataWorkers(int n) {
    absl::MutexLock l(&mu_);
    data_workers_left_ = n;
  }

  void Fail(const absl::Status& st) {
    absl::MutexLock l(&mu_);
    if (first_error_.ok()) first_error_ = st;
  }

  bool Failed() {
    absl::MutexLock l(&mu_);
    return !first_error_.ok();
  }

  absl::Status Result() {
    absl::MutexLock l(&mu_);
    if (!first_error_.ok()) return first_error_;
    if (steps_done_ != plan_.steps.size()) {
      return absl::InternalError("copy schedule ended with post-data steps never ready (dependency cycle?)");
    }
    return absl::OkStatus();
  }

 private:
  enum class State { kBlocked, kReady, kRunning, kDone };
  struct TableStatus {
    bool data_done = false;
    int builds_left = 0;
    int attaches_left = 0;
    int fks_left = 0;
    bool KeysReady() const { return data_done && builds_left == 0 && attaches_left == 0; }
  };

  bool IsReadyLocked(const PostStep& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const TableStatus& ts = tables_[s.table_oid];
    switch (s.kind) {
      case StepKind::kIndex:
      case StepKind::kExclusion:
        return ts.data_done;
      case StepKind::kAttachConstraint:
        return ts.data_done && ts.builds_left == 0;
      case StepKind::kForeignKey:
        return ts.KeysReady() && tables_[s.referenced_table_oid].KeysReady();
      case StepKind::kAnalyze:
        return ts.KeysReady() && ts.fks_left == 0;
    }
    return false;
  }

  void UpdateReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    bool added = false;
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      if (step_state_[i] == State::kBlocked && IsReadyLocked(plan_.steps[i])) {
        step_state_[i] = State::kReady;
        ready_.push_back(static_cast<int>(i));
        added = true;
      }
    }
    if (added) {
      std::stable_sort(ready_.begin(), ready_.end(),
                       [this](int a, int b) { return plan_.steps[a].weight > plan_.steps[b].weight; });
    }
  }

  const CopyPlan& plan_;
  [[maybe_unused]] CopyControl* control_;
  std::vector<const TableInfo*> data_queue_;  // immutable after construction
  absl::Mutex mu_;
  size_t next_table_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint32_t, TableStatus> tables_ ABSL_GUARDED_BY(mu_);
  std::vector<State> step_state_ ABSL_GUARDED_BY(mu_);
  std::vector<int> ready_ ABSL_GUARDED_BY(mu_);
  size_t steps_done_ ABSL_GUARDED_BY(mu_) = 0;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int data_workers_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status RunCopySchedule(const CopyPlan& plan, const ScheduleOptions& options, CopyExecutor& executor,
                             ScheduleObserver* observer, CopyControl* control) {
  ScheduleObserver no_observer;
  if (observer == nullptr) observer = &no_observer;
  ScheduleState state(plan, control);
  const int table_jobs = std::max(1, options.table_jobs);
  const int index_jobs = std::max(1, options.index_jobs);
  state.SetDataWorkers(table_jobs);

  std::vector<std::thread> threads;
  absl::Mutex data_mu;
  int data_left = table_jobs;
  for (int w = 0; w < table_jobs; ++w) {
    threads.emplace_back([&, w] {
      while (const TableInfo* t = state.NextTable()) {
        absl::Status st = control ? control->Checkpoint() : absl::OkStatus();
        if (st.ok()) {
          observer->OnTableDataStarted(*t);
          st = executor.CopyTable(*t, w);
        }
        if (!st.ok()) {
          state.Fail(st);
          break;
        }
        observer->OnTableDataDone(*t);
        state.TableDone(*t);
      }
      bool last = false;
      {
        absl::MutexLock l(&data_mu);
        last = --data_left == 0;
      }
      // Reported once, by the last data worker, and only on success.
      if (last && !state.Failed()) observer->OnDataComplete();
      state.DataWorkerExited();
    });
  }
  for (int w = 0; w < index_jobs; ++w) {
    threads.emplace_back([&, w] {
      for (int idx = state.NextStep(); idx >= 0; idx = state.NextStep()) {
        const PostStep& step = plan.steps[idx];
        absl::Status st = control ? control->Checkpoint() : absl::OkStatus();
        if (st.ok()) {
          observer->OnStepStarted(step);
          st = executor.RunStep(step, w);
        }
        if (!st.ok()) {
          state.Fail(st);
          state.StepFailed();
          break;
        }
        observer->OnStepDone(step);
        state.StepDone(idx);
      }
    });
  }
  for (auto& t : threads) t.join();
  return state.Result();
}

absl::Status ParallelFor(size_t n, int workers, const std::function<absl::Status(size_t, int)>& fn,
                         CopyControl* control) {
  absl::Mutex mu;
  size_t next = 0;
  absl::Status first;
  std::vector<std::thread> threads;
  workers = std::max(1, std::min<int>(workers, static_cast<int>(std::max<size_t>(n, 1))));
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      while (true) {
        size_t i;
        {
          absl::MutexLock l(&mu);
          if (!first.ok() || next >= n) return;
          i = next++;
        }
        absl::Status st = control ? control->Checkpoint() : absl::OkStatus();
        if (st.ok()) st = fn(i, w);
        if (!st.ok()) {
          absl::MutexLock l(&mu);
          if (first.ok()) first = st;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return first;
}

}  // namespace cutover::copy
