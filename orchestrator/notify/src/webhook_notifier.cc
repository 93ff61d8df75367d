#include "cutover/notify/webhook_notifier.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cutover/common/proto_time.h"
#include "google/protobuf/util/json_util.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "spdlog/spdlog.h"

#ifndef CUTOVER_VERSION
#define CUTOVER_VERSION "unknown"
#endif

namespace cutover::notify {

namespace v1 = cutover::v1;

namespace {

// RAII for libcurl handles: an easy handle and a header list per attempt
// (a few events per cutover: no connection reuse needed).
struct CurlEasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// curl_global_init is not thread-safe: once per process, before any thread uses curl.
void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Response {
  std::string body_head;  // first bytes of the body, for the log
  absl::Duration retry_after = absl::ZeroDuration();
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  const size_t len = size * n;
  if (r->body_head.size() < 200) r->body_head.append(data, std::min(len, 200 - r->body_head.size()));
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  const size_t len = size * n;
  absl::string_view line(data, len);
  if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
    absl::string_view v = absl::StripAsciiWhitespace(line.substr(12));
    int64_t secs = 0;
    // Seconds only; an HTTP-date is ignored (the normal backoff applies).
    if (absl::SimpleAtoi(v, &secs) && secs > 0) r->retry_after = absl::Seconds(secs);
  }
  return len;
}

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

v1::WebhookEvent BuildWebhookEvent(const v1::Cutover& c, const v1::Transition& t, absl::string_view daemon) {
  v1::WebhookEvent ev;
  ev.set_delivery_id(absl::StrCat(c.id(), ":", t.seq()));
  ev.set_cutover_id(c.id());
  ev.set_seq(t.seq());
  *ev.mutable_at() = t.at();
  ev.set_from(t.from());
  ev.set_to(t.to());
  ev.set_actor(t.actor());
  ev.set_action(t.action());
  ev.set_reason(t.reason());
  ev.set_daemon(std::string(daemon));
  v1::WebhookSummary* s = ev.mutable_summary();
  s->set_name(c.plan().name());
  s->set_rows_copied(c.copy().rows_copied());
  s->set_bytes_copied(c.copy().bytes_copied());
  s->set_replay_backlog(c.replay().backlog());
  s->set_dead_letters(c.replay().dead_letters());
  if (c.flip().succeeded()) *s->mutable_flip_write_gap() = c.flip().write_gap();
  int64_t losses = 0;
  for (const auto& l : c.accepted_losses()) losses += l.inserts() + l.updates() + l.deletes();
  s->set_accepted_loss_rows(losses);
  s->set_next_step(c.next_step());
  return ev;
}

std::string SignWebhook(absl::string_view secret, int64_t timestamp, absl::string_view body) {
  const std::string msg = absl::StrCat(timestamp, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  return Hex(mac, len);
}

// ---------------------------------------------------------------------------

struct WebhookNotifier::Endpoint {
  explicit Endpoint(EndpointSettings settings) : s(std::move(settings)) {}
  const EndpointSettings s;

  absl::Mutex mu;
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  std::string in_flight ABSL_GUARDED_BY(mu);  // delivery id being attempted
  bool stopping ABSL_GUARDED_BY(mu) = false;
  absl::Time deadline ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  std::thread thread;

  std::atomic<int64_t> delivered{0}, retried{0}, failed{0}, dropped{0}, depth{0};
  prometheus::Counter* m_delivered = nullptr;
  prometheus::Counter* m_retried = nullptr;
  prometheus::Counter* m_failed = nullptr;
  prometheus::Counter* m_dropped = nullptr;
  prometheus::Gauge* m_depth = nullptr;

  void Count(std::atomic<int64_t>& n, prometheus::Counter* m) {
    ++n;
    if (m) m->Increment();
  }
  // Called from Enqueue and the worker at once: the gauge moves by delta
  // (atomic), never Set() to a value another thread may have passed already.
  void Depth(int64_t delta) {
    depth += delta;
    if (m_depth) m_depth->Increment(static_cast<double>(delta));
  }
};

absl::StatusOr<std::unique_ptr<WebhookNotifier>> WebhookNotifier::Create(
    std::vector<EndpointSettings> endpoints, NotifierOptions options) {
  std::set<std::string> names;
  for (const auto& e : endpoints) {
    if (!names.insert(e.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("webhook endpoint name \"", e.name, "\" is used twice"));
    }
  }
  CurlGlobalInit();
  std::unique_ptr<WebhookNotifier> n(new WebhookNotifier(std::move(endpoints), std::move(options)));
  for (auto& e : n->endpoints_) {
    Endpoint* ep = e.get();
    ep->thread = std::thread([raw = n.get(), ep] { raw->Run(ep); });
  }
  return n;
}

WebhookNotifier::WebhookNotifier(std::vector<EndpointSettings> endpoints, NotifierOptions options)
    : options_(std::move(options)) {
  {
    absl::MutexLock l(&random_mu_);
    random_ = options_.random;
    if (!random_) {
      auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
      random_ = [gen] { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
    }
  }
  prometheus::Family<prometheus::Counter>* deliveries = nullptr;
  prometheus::Family<prometheus::Gauge>* depth = nullptr;
  if (options_.metrics) {
    deliveries =
        &prometheus::BuildCounter()
             .Name("cutover_webhook_deliveries_total")
             .Help(
                 "Webhook events per endpoint and result: delivered; retried (an attempt failed, another "
                 "follows); failed (given up: attempts exhausted or a 4xx); dropped (queue full).")
             .Register(*options_.metrics);
    depth = &prometheus::BuildGauge()
                 .Name("cutover_webhook_queue_depth")
                 .Help("Webhook events queued or in flight per endpoint.")
                 .Register(*options_.metrics);
  }
  for (auto& s : endpoints) {
    auto e = std::make_unique<Endpoint>(std::move(s));
    if (deliveries) {
      const std::string& name = e->s.name;
      e->m_delivered = &deliveries->Add({{"endpoint", name}, {"result", "delivered"}});
      e->m_retried = &deliveries->Add({{"endpoint", name}, {"result", "retried"}});
      e->m_failed = &deliveries->Add({{"endpoint", name}, {"result", "failed"}});
      e->m_dropped = &deliveries->Add({{"endpoint", name}, {"result", "dropped"}});
      e->m_depth = &depth->Add({{"endpoint", name}});
    }
    endpoints_.push_back(std::move(e));
  }
}

WebhookNotifier::~WebhookNotifier() { Stop(options_.clock->Now()); }

void WebhookNotifier::OnPhaseChange(const v1::Cutover& cutover, const v1::Transition& transition) {
  Enqueue(BuildWebhookEvent(cutover, transition, options_.daemon_identity));
}

void WebhookNotifier::Enqueue(const v1::WebhookEvent& event) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  // Every scalar present (0, "", PHASE_UNSPECIFIED): receivers need no defaults.
  opts.always_print_primitive_fields = true;
  Item item;
  item.delivery_id = event.delivery_id();
  item.cutover_id = event.cutover_id();
  item.seq = event.seq();
  (void)google::protobuf::util::MessageToJsonString(event, &item.body, opts);
  for (auto& e : endpoints_) {
    if (!e->s.phases.empty() && !e->s.phases.count(event.to())) continue;
    // Pending first: the worker may settle the item as soon as it is queued.
    // An event handed over after Stop() stays pending (never settled), so the
    // cursor does not pass it and the next daemon re-sends it.
    {
      absl::MutexLock l(&pending_mu_);
      pending_[item.cutover_id].insert(item.seq);
    }
    std::vector<Item> overflow;
    bool duplicate = false;
    {
      absl::MutexLock l(&e->mu);
      if (e->stopping) {
        spdlog::error("webhook {}: {} not sent: cutoverd is stopping", e->s.name, item.delivery_id);
        continue;
      }
      // Handed over twice (a takeover in this process re-hands what the
      // cursor had not passed): one delivery is enough.
      duplicate = e->in_flight == item.delivery_id ||
                  std::any_of(e->queue.begin(), e->queue.end(),
                              [&](const Item& q) { return q.delivery_id == item.delivery_id; });
      if (!duplicate) {
        e->queue.push_back(item);
        e->Depth(+1);
        while (static_cast<int>(e->queue.size()) > e->s.queue_size) {
          overflow.push_back(std::move(e->queue.front()));
          e->queue.pop_front();
          e->Depth(-1);
        }
      }
    }
    if (duplicate) Settle(item);
    for (const Item& d : overflow) {
      spdlog::error("webhook {}: queue full ({} events): dropped the oldest, {} (never sent)", e->s.name,
                    e->s.queue_size, d.delivery_id);
      e->Count(e->dropped, e->m_dropped);
      Settle(d);
    }
  }
}

void WebhookNotifier::Settle(const Item& item) {
  absl::MutexLock l(&pending_mu_);
  auto it = pending_.find(item.cutover_id);
  if (it == pending_.end()) return;
  auto s = it->second.find(item.seq);
  if (s != it->second.end()) it->second.erase(s);
  if (it->second.empty()) pending_.erase(it);
}

int64_t WebhookNotifier::SettledThrough(absl::string_view cutover_id, int64_t handed_through) {
  absl::MutexLock l(&pending_mu_);
  auto it = pending_.find(cutover_id);
  if (it == pending_.end() || it->second.empty()) return handed_through;
  return std::min(*it->second.begin() - 1, handed_through);
}

EndpointStats WebhookNotifier::Stats(absl::string_view endpoint) {
  EndpointStats out;
  for (auto& e : endpoints_) {
    if (e->s.name != endpoint) continue;
    out.delivered = e->delivered;
    out.retried = e->retried;
    out.failed = e->failed;
    out.dropped = e->dropped;
    out.queue_depth = e->depth;
  }
  return out;
}

void WebhookNotifier::Stop(absl::Time deadline) {
  if (stopped_.exchange(true)) return;
  for (auto& e : endpoints_) {
    absl::MutexLock l(&e->mu);
    e->stopping = true;
    e->deadline = deadline;
  }
  for (auto& e : endpoints_) {
    if (e->thread.joinable()) e->thread.join();
  }
}

absl::Duration WebhookNotifier::Backoff(const EndpointSettings& s, int attempt) {
  // Full jitter (uniform in [0, cap)), cap doubling from initial_backoff up
  // to max_backoff: retries of many daemons/events spread out.
  absl::Duration cap = s.initial_backoff;
  for (int i = 1; i < attempt && cap < s.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, s.max_backoff);
  double r;
  {
    absl::MutexLock l(&random_mu_);
    r = random_();
  }
  return cap * std::clamp(r, 0.0, 1.0);
}

void WebhookNotifier::WaitUntil(Endpoint* e, absl::Time until) {
  absl::MutexLock l(&e->mu);
  for (;;) {
    const absl::Time end = e->stopping ? std::min(until, e->deadline) : until;
    const absl::Time now = options_.clock->Now();
    if (now >= end) return;
    // Poll the (maybe simulated) clock; wake at once on Stop().
    const absl::Duration step = std::min(end - now, absl::Milliseconds(10));
    if (!e->stopping) {
      e->mu.AwaitWithTimeout(absl::Condition(&e->stopping), step);
    } else {
      e->mu.Unlock();
      absl::SleepFor(step);
      e->mu.Lock();
    }
  }
}

WebhookNotifier::Attempt WebhookNotifier::Post(const Endpoint& e, const Item& item, absl::Duration timeout) {
  Attempt a;
  CurlPtr curl(curl_easy_init());
  if (!curl) {
    a.detail = "curl_easy_init failed";
    return a;
  }
  const int64_t ts = absl::ToUnixSeconds(options_.clock->Now());
  const std::string version = options_.version.empty() ? CUTOVER_VERSION : options_.version;
  std::vector<std::string> lines = {
      "Content-Type: application/json",
      absl::StrCat("User-Agent: cutoverd/", version),
      "X-Cutover-Event: phase_change",
      absl::StrCat("X-Cutover-Delivery: ", item.delivery_id),
      absl::StrCat("X-Cutover-Timestamp: ", ts),
      absl::StrCat("X-Cutover-Signature: sha256=", SignWebhook(e.s.secret, ts, item.body)),
      "Expect:",  // no 100-continue round trip
  };
  for (const auto& [k, v] : e.s.headers) lines.push_back(absl::StrCat(k, ": ", v));
  SlistPtr headers;
  for (const std::string& line : lines) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) {
      a.detail = "out of memory building headers";
      return a;
    }
    (void)headers.release();
    headers.reset(next);
  }
  Response resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, e.s.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, item.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(item.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    a.outcome = Outcome::kRetry;
    a.detail = rc == CURLE_OPERATION_TIMEDOUT
                   ? absl::StrCat("timed out after ", absl::FormatDuration(timeout))
                   : std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return a;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  a.detail = absl::StrCat("HTTP ", code);
  if (!resp.body_head.empty()) absl::StrAppend(&a.detail, ": ", absl::StripAsciiWhitespace(resp.body_head));
  if (code >= 200 && code < 300) {
    a.outcome = Outcome::kDelivered;
  } else if (code == 408 || code == 429 || code >= 500) {
    a.outcome = Outcome::kRetry;
    a.retry_after = resp.retry_after;
  } else {
    a.outcome = Outcome::kPermanent;  // 3xx (redirects are not followed) and other 4xx
  }
  return a;
}

void WebhookNotifier::Run(Endpoint* e) {
  const EndpointSettings& s = e->s;
  for (;;) {
    Item item;
    {
      absl::MutexLock l(&e->mu);
      e->mu.Await(absl::Condition(
          +[](Endpoint* ep) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !ep->queue.empty() || ep->stopping; },
          e));
      if (e->queue.empty()) return;  // stopping, nothing left
      item = std::move(e->queue.front());
      e->queue.pop_front();
      e->in_flight = item.delivery_id;
    }
    bool settled = false;
    for (int attempt = 1;; ++attempt) {
      absl::Duration timeout = s.timeout;
      {
        absl::MutexLock l(&e->mu);
        if (e->stopping) {
          const absl::Duration left = e->deadline - options_.clock->Now();
          if (left <= absl::ZeroDuration()) break;
          timeout = std::min(timeout, left);
        }
      }
      const Attempt a = Post(*e, item, timeout);
      if (a.outcome == Outcome::kDelivered) {
        spdlog::info("webhook {}: delivered {} (attempt {})", s.name, item.delivery_id, attempt);
        e->Count(e->delivered, e->m_delivered);
        settled = true;
        break;
      }
      if (a.outcome == Outcome::kPermanent) {
        spdlog::error(
            "webhook {}: {} rejected ({}); not retried (only 408, 429, 5xx and connection errors are)",
            s.name, item.delivery_id, a.detail);
        e->Count(e->failed, e->m_failed);
        settled = true;
        break;
      }
      if (attempt >= s.max_attempts) {
        spdlog::error("webhook {}: GIVING UP on {} after {} attempts (last: {}); the receiver never got it",
                      s.name, item.delivery_id, attempt, a.detail);
        e->Count(e->failed, e->m_failed);
        settled = true;
        break;
      }
      absl::Duration wait = Backoff(s, attempt);
      if (a.retry_after > absl::ZeroDuration())
        wait = std::max(wait, std::min(a.retry_after, options_.max_retry_after));
      // The retry time is fixed before `retried` is counted: whoever sees the
      // count (a test driving a simulated clock) sees the deadline too.
      const absl::Time retry_at = options_.clock->Now() + wait;
      e->Count(e->retried, e->m_retried);
      spdlog::warn("webhook {}: {} attempt {}/{} failed ({}); retrying in {}", s.name, item.delivery_id,
                   attempt, s.max_attempts, a.detail,
                   absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))));
      WaitUntil(e, retry_at);
    }
    {
      absl::MutexLock l(&e->mu);
      e->in_flight.clear();
    }
    e->Depth(-1);
    if (settled) {
      Settle(item);
    } else {
      spdlog::error(
          "webhook {}: {} NOT delivered: cutoverd stopped before it went through (the daemon that drives "
          "the cutover next re-sends it; docs/webhooks.md)",
          s.name, item.delivery_id);
    }
  }
}

}  // namespace cutover::notify
