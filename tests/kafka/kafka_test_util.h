// Helpers for the Kafka queue tests: message generation, reading a queue to
// its end with per-partition continuity checks, a background appender that
// re-sends failed batches like the relay does, and a no-loss verifier.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/replay/queue.h"

namespace cutover::replay::testing {

// Messages "<prefix>-<i>" for i in [first, first+n), keys among `keys`
// distinct row keys, payloads padded to `payload_bytes`.
std::vector<QueueMessage> MakeMessages(const std::string& prefix, int first, int n, int keys = 64,
                                       int payload_bytes = 200);
std::string KeyFor(int i, int keys);
// The id a MakeMessages payload starts with.
std::string IdOf(const std::string& payload);

// Polls `pred` every few milliseconds until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout);

// Reads from `start` until every partition reaches `end`, checking that each
// partition's offsets are contiguous from its start (nothing skipped,
// nothing delivered twice). Fails the current test on any violation.
std::vector<QueuedMessage> ReadRange(RevocationQueue* queue, const Positions& start, const Positions& end,
                                     absl::Duration timeout = absl::Seconds(60));
// ReadRange from the beginning to the current EndPositions().
std::vector<QueuedMessage> ReadAll(RevocationQueue* queue);

// The current leader of `topic` [partition], from a metadata request.
absl::StatusOr<int32_t> LeaderOf(const std::string& bootstrap, const std::string& topic, int32_t partition);

// Java's murmur2 partitioner: toPositive(murmur2(key)) % partitions.
int32_t JavaMurmur2Partition(const std::string& key, int32_t partitions);

// Appends batches from a background thread until stopped or `max_batches`
// are acknowledged. A failed Append is re-sent (same ids) until it succeeds,
// as the relay does; acknowledged ids and their positions are recorded.
class Appender {
 public:
  Appender(RevocationQueue* queue, std::string prefix, int batch_size, int max_batches);
  ~Appender();
  void Start();
  // Stops after the Append in progress and joins.
  void Stop();
  int64_t acked() const { return acked_.load(); }
  int64_t failures() const { return failures_.load(); }
  bool done() const { return done_.load(); }
  // How long the Append in progress has been running (zero when idle).
  absl::Duration InFlightFor() const;
  // id -> position of every acknowledged message.
  std::map<std::string, cutover::v1::QueuePosition> acked_positions() const;
  std::vector<std::string> errors() const;
  // Every id handed to Append (acknowledged or not).
  std::set<std::string> attempted() const;

 private:
  void Run();
  RevocationQueue* queue_;
  const std::string prefix_;
  const int batch_size_;
  const int max_batches_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int64_t> acked_{0};
  std::atomic<int64_t> failures_{0};
  mutable absl::Mutex mu_;
  absl::Time in_flight_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::map<std::string, cutover::v1::QueuePosition> positions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> attempted_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Every acknowledged id must be read at its acknowledged position; returns
// the number of duplicate deliveries (ids read more than once). Fails the
// current test on a lost message or on an id nobody appended (not in
// `attempted`, or not in `acked` when `attempted` is null).
int64_t ExpectNoLoss(const std::map<std::string, cutover::v1::QueuePosition>& acked,
                     const std::vector<QueuedMessage>& read,
                     const std::set<std::string>* attempted = nullptr);

}  // namespace cutover::replay::testing
