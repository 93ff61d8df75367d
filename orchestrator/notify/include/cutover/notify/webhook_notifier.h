// WebhookNotifier: POSTs a signed JSON event (cutover.v1.WebhookEvent) to
// every configured endpoint on each phase change the orchestrator hands over
// (engine::PhaseObserver). One worker thread and one bounded FIFO per
// endpoint: events reach an endpoint in the order they were handed over.
// Retries connection errors, timeouts, 5xx, 408 and 429 (Retry-After
// honoured) with exponential backoff and full jitter; gives up after
// max_attempts; other 4xx are not retried. Format, headers, signature and
// guarantee: docs/webhooks.md.
// Thread-safety: every method may be called from any thread. Stop() blocks
// until the workers exit (at most until its deadline plus one attempt's
// timeout); the destructor calls Stop(now).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/engine/observer.h"
#include "cutover/notify/config.h"
#include "cutover/v1/webhook.pb.h"

namespace prometheus {
class Registry;
}

namespace cutover::notify {

struct NotifierOptions {
  // This daemon (WebhookEvent.daemon).
  std::string daemon_identity = "cutoverd";
  // User-Agent: cutoverd/<version>; empty = the build's version.
  std::string version;
  // Time for backoff and timestamps; waits poll it every few milliseconds,
  // so a SimulatedClock works.
  Clock* clock = Clock::Real();
  // Uniform in [0, 1): the jitter. Empty = a seeded std::mt19937_64.
  std::function<double()> random;
  // Retry-After is honoured up to this.
  absl::Duration max_retry_after = absl::Minutes(5);
  // Where cutover_webhook_deliveries_total / cutover_webhook_queue_depth are
  // registered; null = no metrics. Must outlive the notifier.
  prometheus::Registry* metrics = nullptr;
};

// Counts per endpoint (the same figures as the metrics).
struct EndpointStats {
  int64_t delivered = 0;
  int64_t retried = 0;      // attempts that failed and were retried
  int64_t failed = 0;       // events given up on (attempts exhausted, 4xx)
  int64_t dropped = 0;      // events dropped from a full queue
  int64_t queue_depth = 0;  // queued or in flight
};

// The event for one phase change (summary from `c`, no plan or secret).
cutover::v1::WebhookEvent BuildWebhookEvent(const cutover::v1::Cutover& c, const cutover::v1::Transition& t,
                                            absl::string_view daemon);
// Lower-case hex HMAC-SHA256(secret, "<timestamp>.<body>").
std::string SignWebhook(absl::string_view secret, int64_t timestamp, absl::string_view body);

class WebhookNotifier final : public engine::PhaseObserver {
 public:
  // Starts one worker per endpoint. InvalidArgument if two share a name.
  static absl::StatusOr<std::unique_ptr<WebhookNotifier>> Create(std::vector<EndpointSettings> endpoints,
                                                                 NotifierOptions options);
  ~WebhookNotifier() override;

  // engine::PhaseObserver. OnPhaseChange only queues (never blocks on I/O).
  void OnPhaseChange(const cutover::v1::Cutover& cutover, const cutover::v1::Transition& transition) override;
  int64_t SettledThrough(absl::string_view cutover_id, int64_t handed_through) override;

  // Queues one event for every endpoint whose phase filter takes event.to.
  void Enqueue(const cutover::v1::WebhookEvent& event);

  // No new events; keeps delivering (and retrying, waits cut short) until
  // `deadline`, then logs every event not delivered. Idempotent.
  void Stop(absl::Time deadline);

  EndpointStats Stats(absl::string_view endpoint);

 private:
  struct Endpoint;
  struct Item {
    std::string delivery_id;
    std::string cutover_id;
    int64_t seq = 0;
    std::string body;
  };
  enum class Outcome { kDelivered, kRetry, kPermanent };
  struct Attempt {
    Outcome outcome = Outcome::kRetry;
    std::string detail;  // "HTTP 503", "connection refused", ...
    absl::Duration retry_after = absl::ZeroDuration();
  };

  WebhookNotifier(std::vector<EndpointSettings> endpoints, NotifierOptions options);
  void Run(Endpoint* e);
  Attempt Post(const Endpoint& e, const Item& item, absl::Duration timeout);
  // Waits until `until` on the clock or until Stop(); false if stopping
  // passed its deadline.
  void WaitUntil(Endpoint* e, absl::Time until);
  absl::Duration Backoff(const EndpointSettings& s, int attempt);
  void Settle(const Item& item);

  const NotifierOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;

  absl::Mutex pending_mu_;
  // cutover id -> seqs queued or in flight (one entry per endpoint).
  std::map<std::string, std::multiset<int64_t>, std::less<>> pending_ ABSL_GUARDED_BY(pending_mu_);

  absl::Mutex random_mu_;
  std::function<double()> random_ ABSL_GUARDED_BY(random_mu_);
  std::atomic<bool> stopped_{false};
};

}  // namespace cutover::notify
