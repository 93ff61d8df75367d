// The webhook notifier against a real local HTTP receiver (civetweb in this
// process): signed payload and headers, in-order delivery, retries (5xx,
// receiver down, timeouts, 429 + Retry-After), giving up, no retry on 4xx,
// queue overflow, Stop, metrics; and the config checks naming the field.
#include "cutover/notify/webhook_notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cutover/common/proto_time.h"
#include "cutover/notify/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "webhook_receiver.h"

namespace cutover::notify {
namespace {

namespace v1 = cutover::v1;
using cutover::testing::ReservedPort;
using cutover::testing::WebhookReceiver;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecret[] = "whsec-test-0123456789";

EndpointSettings Endpoint(const std::string& url, const std::string& name = "ops") {
  EndpointSettings s;
  s.name = name;
  s.url = url;
  s.secret = kSecret;
  s.timeout = absl::Seconds(2);
  s.max_attempts = 5;
  s.initial_backoff = absl::Milliseconds(5);
  s.max_backoff = absl::Milliseconds(20);
  return s;
}

std::unique_ptr<WebhookNotifier> NewNotifier(std::vector<EndpointSettings> eps,
                                             prometheus::Registry* reg = nullptr) {
  NotifierOptions o;
  o.daemon_identity = "cutoverd@test";
  o.version = "9.9.9";
  o.random = [] { return 0.5; };
  o.metrics = reg;
  absl::StatusOr<std::unique_ptr<WebhookNotifier>> n = WebhookNotifier::Create(std::move(eps), o);
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? std::move(*n) : nullptr;
}

v1::Cutover TestCutover(const std::string& id = "hydra-1") {
  v1::Cutover c;
  c.set_id(id);
  c.mutable_plan()->set_name("hydra");
  c.mutable_plan()->mutable_blue()->set_dsn("host=blue password=blue-secret-pw");
  c.mutable_copy()->set_rows_copied(42);
  c.mutable_copy()->set_bytes_copied(4200);
  c.mutable_replay()->set_backlog(3);
  c.mutable_flip()->set_succeeded(true);
  c.mutable_flip()->mutable_write_gap()->set_nanos(250'000'000);
  auto* l = c.add_accepted_losses();
  l->set_table("public.t");
  l->set_inserts(2);
  l->set_deletes(1);
  return c;
}

v1::Transition Row(int64_t seq, v1::Phase from, v1::Phase to) {
  v1::Transition t;
  t.set_seq(seq);
  *t.mutable_at() = ToProtoTime(absl::FromUnixSeconds(1'800'000'000 + seq));
  t.set_from(from);
  t.set_to(to);
  t.set_actor("cutoverd@a");
  t.set_action("phase-complete");
  t.set_reason("because");
  return t;
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return pred();
}

// HMAC-SHA256 computed here, independently of SignWebhook.
std::string ExpectedSignature(const std::string& ts, const std::string& body) {
  const std::string msg = ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret, sizeof(kSecret) - 1, reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  std::string hex;
  char b[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(b, sizeof(b), "%02x", mac[i]);
    hex += b;
  }
  return "sha256=" + hex;
}

TEST(WebhookNotifier, DeliversASignedEventWithItsHeaders) {
  WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  EndpointSettings ep = Endpoint(rx.url());
  ep.headers.emplace_back("Authorization", "Bearer gateway-token");
  auto n = NewNotifier({ep});
  ASSERT_NE(n, nullptr);
  n->OnPhaseChange(TestCutover(), Row(7, v1::PHASE_FLIPPING, v1::PHASE_DRAINING));
  ASSERT_TRUE(rx.WaitForCount(1));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 1; }));
  const WebhookReceiver::Request r = rx.requests()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/hook");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("user-agent"), "cutoverd/9.9.9");
  EXPECT_EQ(r.headers.at("x-cutover-event"), "phase_change");
  EXPECT_EQ(r.headers.at("x-cutover-delivery"), "hydra-1:7");
  EXPECT_EQ(r.headers.at("authorization"), "Bearer gateway-token");
  const std::string ts = r.headers.at("x-cutover-timestamp");
  int64_t t = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ts, &t));
  EXPECT_NEAR(t, absl::ToUnixSeconds(absl::Now()), 60);
  EXPECT_EQ(r.headers.at("x-cutover-signature"), ExpectedSignature(ts, r.body));
  EXPECT_NE(r.headers.at("x-cutover-signature"), ExpectedSignature(ts, r.body + " "));

  v1::WebhookEvent ev;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &ev).ok()) << r.body;
  EXPECT_EQ(ev.delivery_id(), "hydra-1:7");
  EXPECT_EQ(ev.cutover_id(), "hydra-1");
  EXPECT_EQ(ev.seq(), 7);
  EXPECT_EQ(ev.from(), v1::PHASE_FLIPPING);
  EXPECT_EQ(ev.to(), v1::PHASE_DRAINING);
  EXPECT_EQ(ev.at().seconds(), 1'800'000'007);
  EXPECT_EQ(ev.actor(), "cutoverd@a");
  EXPECT_EQ(ev.action(), "phase-complete");
  EXPECT_EQ(ev.reason(), "because");
  EXPECT_EQ(ev.daemon(), "cutoverd@test");
  EXPECT_EQ(ev.summary().name(), "hydra");
  EXPECT_EQ(ev.summary().rows_copied(), 42);
  EXPECT_EQ(ev.summary().bytes_copied(), 4200);
  EXPECT_EQ(ev.summary().replay_backlog(), 3);
  EXPECT_EQ(ev.summary().flip_write_gap().nanos(), 250'000'000);
  EXPECT_EQ(ev.summary().accepted_loss_rows(), 3);
  // snake_case names and enum names; nothing of the plan.
  EXPECT_THAT(r.body, HasSubstr("\"delivery_id\":\"hydra-1:7\""));
  EXPECT_THAT(r.body, HasSubstr("\"to\":\"PHASE_DRAINING\""));
  EXPECT_THAT(r.body, HasSubstr("\"dead_letters\":\"0\"")) << "zero values are present, not omitted";
  EXPECT_THAT(r.body, Not(HasSubstr("blue-secret-pw")));
  EXPECT_THAT(r.body, Not(HasSubstr("dsn")));
  EXPECT_EQ(n->SettledThrough("hydra-1", 9), 9);
}

TEST(WebhookNotifier, DeliversInTheOrderHandedOver) {
  WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  auto n = NewNotifier({Endpoint(rx.url())});
  for (int i = 1; i <= 30; ++i)
    n->OnPhaseChange(TestCutover(), Row(i, v1::PHASE_COPYING, v1::PHASE_INDEXING));
  ASSERT_TRUE(rx.WaitForCount(30));
  std::vector<std::string> ids;
  for (const auto& r : rx.requests()) ids.push_back(r.headers.at("x-cutover-delivery"));
  for (int i = 1; i <= 30; ++i) EXPECT_EQ(ids[i - 1], absl::StrCat("hydra-1:", i));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").queue_depth == 0; }));
  EXPECT_EQ(n->Stats("ops").delivered, 30);
}

TEST(WebhookNotifier, AServerErrorIsRetriedThenDelivered) {
  WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  rx.SetHandler(
      [](const WebhookReceiver::Request&, int i) { return WebhookReceiver::Status(i == 0 ? 500 : 200); });
  prometheus::Registry reg;
  auto n = NewNotifier({Endpoint(rx.url())}, &reg);
  n->OnPhaseChange(TestCutover(), Row(3, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 1; }));
  EXPECT_EQ(n->Stats("ops").retried, 1);
  EXPECT_EQ(n->Stats("ops").failed, 0);
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers.at("x-cutover-delivery"), reqs[1].headers.at("x-cutover-delivery"))
      << "a retry is the same delivery (receivers dedupe on it)";
  EXPECT_EQ(reqs[0].body, reqs[1].body);
  // The metrics, as a scrape sees them.
  std::map<std::string, double> values;
  for (const auto& fam : reg.Collect()) {
    for (const auto& m : fam.metric) {
      std::string key = fam.name;
      for (const auto& l : m.label) key += absl::StrCat(",", l.name, "=", l.value);
      values[key] = fam.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  EXPECT_EQ(values["cutover_webhook_deliveries_total,endpoint=ops,result=delivered"], 1);
  EXPECT_EQ(values["cutover_webhook_deliveries_total,endpoint=ops,result=retried"], 1);
  EXPECT_EQ(values["cutover_webhook_deliveries_total,endpoint=ops,result=failed"], 0);
  EXPECT_EQ(values["cutover_webhook_deliveries_total,endpoint=ops,result=dropped"], 0);
  EXPECT_EQ(values["cutover_webhook_queue_depth,endpoint=ops"], 0);
}

TEST(WebhookNotifier, BackoffFollowsTheInjectedClockAndJitter) {
  WebhookReceiver rx;
  rx.SetHandler(
      [](const WebhookReceiver::Request&, int i) { return WebhookReceiver::Status(i < 2 ? 503 : 200); });
  SimulatedClock clock;
  EndpointSettings ep = Endpoint(rx.url());
  ep.initial_backoff = absl::Hours(1);
  ep.max_backoff = absl::Hours(3);
  NotifierOptions o;
  o.clock = &clock;
  o.random = [] { return 0.5; };  // full jitter: half of the cap
  auto n = WebhookNotifier::Create({ep}, o);
  ASSERT_TRUE(n.ok()) << n.status();
  (*n)->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  // The notifier has fixed its retry time once it counts the retry (not
  // when the receiver saw the request: advancing the clock before that moved
  // the deadline with it, under ASan's slowness).
  ASSERT_TRUE(WaitFor([&] { return (*n)->Stats("ops").retried == 1; }));
  EXPECT_EQ(rx.count(), 1u);
  // First wait: 0.5 x 1h. Nothing happens until the clock gets there.
  clock.Advance(absl::Minutes(29));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(rx.count(), 1u);
  clock.Advance(absl::Minutes(2));
  ASSERT_TRUE(rx.WaitForCount(2));
  ASSERT_TRUE(WaitFor([&] { return (*n)->Stats("ops").retried == 2; }));
  // Second wait: 0.5 x 2h (the cap doubles).
  clock.Advance(absl::Minutes(59));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(rx.count(), 2u);
  clock.Advance(absl::Minutes(2));
  ASSERT_TRUE(WaitFor([&] { return (*n)->Stats("ops").delivered == 1; }));
  EXPECT_EQ((*n)->Stats("ops").retried, 2);
  EXPECT_EQ(rx.requests()[2].headers.at("x-cutover-timestamp"),
            absl::StrCat(absl::ToUnixSeconds(clock.Now())))
      << "the signed timestamp is the clock's";
}

TEST(WebhookNotifier, AReceiverThatIsDownGetsTheEventOnceItIsUp) {
  ReservedPort port;  // bound, not listening: connection refused
  ASSERT_GT(port.port(), 0);
  EndpointSettings ep = Endpoint(absl::StrCat("http://127.0.0.1:", port.port(), "/hook"));
  ep.max_attempts = 1000;
  auto n = NewNotifier({ep});
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").retried >= 3; }));
  EXPECT_EQ(n->SettledThrough("hydra-1", 2), 1) << "not settled while undelivered";
  port.Release();
  WebhookReceiver rx(port.port());
  ASSERT_TRUE(rx.ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 1; }));
  EXPECT_EQ(rx.count(), 1u);
  EXPECT_EQ(n->SettledThrough("hydra-1", 2), 2);
}

TEST(WebhookNotifier, AReceiverDownForGoodIsGivenUpOnAfterMaxAttempts) {
  ReservedPort port;
  prometheus::Registry reg;
  EndpointSettings ep = Endpoint(absl::StrCat("http://127.0.0.1:", port.port(), "/hook"));
  ep.max_attempts = 4;
  auto n = NewNotifier({ep}, &reg);
  n->OnPhaseChange(TestCutover(), Row(5, v1::PHASE_READY, v1::PHASE_FLIPPING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").failed == 1; }));
  EXPECT_EQ(n->Stats("ops").retried, 3);
  EXPECT_EQ(n->Stats("ops").delivered, 0);
  EXPECT_EQ(n->SettledThrough("hydra-1", 5), 5) << "given up = settled: the cursor moves on";
}

TEST(WebhookNotifier, AClientErrorIsNotRetried) {
  WebhookReceiver rx;
  rx.SetHandler([](const WebhookReceiver::Request&, int) { return WebhookReceiver::Status(400); });
  auto n = NewNotifier({Endpoint(rx.url())});
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  n->OnPhaseChange(TestCutover(), Row(3, v1::PHASE_CAPTURING, v1::PHASE_COPYING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").failed == 2; }));
  EXPECT_EQ(n->Stats("ops").retried, 0);
  EXPECT_EQ(rx.count(), 2u);
}

TEST(WebhookNotifier, TooManyRequestsWaitsForRetryAfter) {
  WebhookReceiver rx;
  rx.SetHandler([](const WebhookReceiver::Request&, int i) {
    return i == 0 ? WebhookReceiver::Status(429, "Retry-After: 1\r\n") : WebhookReceiver::Status(200);
  });
  auto n = NewNotifier({Endpoint(rx.url())});  // backoff alone would be <= 20 ms
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 1; }));
  const auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].at - reqs[0].at, absl::Milliseconds(950));
  EXPECT_EQ(n->Stats("ops").retried, 1);
}

TEST(WebhookNotifier, ASlowReceiverTimesOutAndIsRetried) {
  WebhookReceiver rx;
  rx.SetHandler([](const WebhookReceiver::Request&, int i) {
    WebhookReceiver::Reply r;
    if (i == 0) r.delay = absl::Milliseconds(800);
    return r;
  });
  EndpointSettings ep = Endpoint(rx.url());
  ep.timeout = absl::Milliseconds(150);
  auto n = NewNotifier({ep});
  const absl::Time start = absl::Now();
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 1; }));
  EXPECT_EQ(n->Stats("ops").retried, 1);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(780)) << "the first attempt was cut at its timeout";
  EXPECT_EQ(rx.count(), 2u);
}

TEST(WebhookNotifier, AFullQueueDropsTheOldest) {
  WebhookReceiver rx;
  absl::Notification release;
  rx.SetHandler([&](const WebhookReceiver::Request&, int i) {
    if (i == 0) release.WaitForNotificationWithTimeout(absl::Seconds(10));
    return WebhookReceiver::Status(200);
  });
  EndpointSettings ep = Endpoint(rx.url());
  ep.queue_size = 2;
  ep.timeout = absl::Seconds(20);
  auto n = NewNotifier({ep});
  n->OnPhaseChange(TestCutover(), Row(1, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED));
  ASSERT_TRUE(rx.WaitForCount(1));  // #1 in flight, held by the receiver
  for (int i = 2; i <= 5; ++i)
    n->OnPhaseChange(TestCutover(), Row(i, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  EXPECT_EQ(n->Stats("ops").dropped, 2);
  EXPECT_EQ(n->Stats("ops").queue_depth, 3);
  release.Notify();
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").delivered == 3; }));
  std::vector<std::string> ids;
  for (const auto& r : rx.requests()) ids.push_back(r.headers.at("x-cutover-delivery"));
  EXPECT_THAT(ids, ::testing::ElementsAre("hydra-1:1", "hydra-1:4", "hydra-1:5"));
  EXPECT_EQ(n->SettledThrough("hydra-1", 5), 5);
}

TEST(WebhookNotifier, PhaseFiltersAndOneQueuePerEndpoint) {
  WebhookReceiver all, done;
  EndpointSettings a = Endpoint(all.url(), "all");
  EndpointSettings d = Endpoint(done.url(), "done-only");
  d.phases = {v1::PHASE_COMPLETED, v1::PHASE_FAILED};
  auto n = NewNotifier({a, d});
  n->OnPhaseChange(TestCutover(), Row(9, v1::PHASE_FLIPPING, v1::PHASE_DRAINING));
  n->OnPhaseChange(TestCutover(), Row(10, v1::PHASE_DRAINING, v1::PHASE_COMPLETED));
  ASSERT_TRUE(all.WaitForCount(2));
  ASSERT_TRUE(done.WaitForCount(1));
  ASSERT_TRUE(
      WaitFor([&] { return n->Stats("done-only").delivered == 1 && n->Stats("all").delivered == 2; }));
  EXPECT_EQ(done.requests()[0].headers.at("x-cutover-delivery"), "hydra-1:10");
}

TEST(WebhookNotifier, AnEventHandedOverTwiceWhileQueuedIsSentOnce) {
  WebhookReceiver rx;
  absl::Notification release;
  rx.SetHandler([&](const WebhookReceiver::Request&, int i) {
    if (i == 0) release.WaitForNotificationWithTimeout(absl::Seconds(10));
    return WebhookReceiver::Status(200);
  });
  auto n = NewNotifier({Endpoint(rx.url())});
  n->OnPhaseChange(TestCutover(), Row(1, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED));
  ASSERT_TRUE(rx.WaitForCount(1));
  n->OnPhaseChange(TestCutover(), Row(1, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED));  // in flight
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));
  n->OnPhaseChange(TestCutover(), Row(2, v1::PHASE_PLANNED, v1::PHASE_CAPTURING));  // queued
  release.Notify();
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").queue_depth == 0; }));
  EXPECT_EQ(n->Stats("ops").delivered, 2);
  EXPECT_EQ(rx.count(), 2u);
  EXPECT_EQ(n->SettledThrough("hydra-1", 2), 2);
}

TEST(WebhookNotifier, StopGivesUpAtItsDeadlineAndKeepsTheCursorBack) {
  ReservedPort port;
  EndpointSettings ep = Endpoint(absl::StrCat("http://127.0.0.1:", port.port(), "/hook"));
  ep.max_attempts = 1000;
  ep.initial_backoff = absl::Seconds(30);  // a long wait Stop must cut short
  ep.max_backoff = absl::Seconds(30);
  auto n = NewNotifier({ep});
  n->OnPhaseChange(TestCutover(), Row(4, v1::PHASE_READY, v1::PHASE_FLIPPING));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("ops").retried >= 1; }));
  const absl::Time start = absl::Now();
  n->Stop(absl::Now() + absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(n->SettledThrough("hydra-1", 4), 3) << "undelivered: the next lease holder re-sends it";
  EXPECT_EQ(n->Stats("ops").delivered, 0);
}

// ---------------------------------------------------------------------------
// Configuration.

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(WebhookConfig, AGoodFileResolvesDefaultsAndSecrets) {
  const std::string secret = WriteFile("secret1", "file-secret\n");
  ::setenv("CUTOVER_TEST_WEBHOOK_SECRET", "env-secret", 1);
  const std::string path = WriteFile("good.json", absl::StrCat(R"({"endpoints": [
    {"name": "ops", "url": "https://hooks.example.com/cutover", "secret_file": ")",
                                                               secret, R"("},
    {"name": "chat", "url": "http://127.0.0.1:9/x", "secret_env": "CUTOVER_TEST_WEBHOOK_SECRET",
     "phases": ["PHASE_COMPLETED", "PHASE_FAILED"], "timeout": "2s", "max_attempts": 3,
     "initial_backoff": "0.5s", "max_backoff": "10s", "headers": {"Authorization": "Bearer x"}, "queue_size": 10}]})"));
  absl::StatusOr<std::vector<EndpointSettings>> eps = LoadWebhookConfig(path);
  ASSERT_TRUE(eps.ok()) << eps.status();
  ASSERT_EQ(eps->size(), 2u);
  const EndpointSettings& a = (*eps)[0];
  EXPECT_EQ(a.secret, "file-secret") << "trailing newline stripped";
  EXPECT_EQ(a.timeout, absl::Seconds(5));
  EXPECT_EQ(a.max_attempts, 10);
  EXPECT_EQ(a.initial_backoff, absl::Seconds(1));
  EXPECT_EQ(a.max_backoff, absl::Seconds(60));
  EXPECT_EQ(a.queue_size, 1000);
  EXPECT_TRUE(a.phases.empty());
  const EndpointSettings& b = (*eps)[1];
  EXPECT_EQ(b.secret, "env-secret");
  EXPECT_EQ(b.phases.size(), 2u);
  EXPECT_EQ(b.timeout, absl::Seconds(2));
  EXPECT_EQ(b.max_attempts, 3);
  EXPECT_EQ(b.initial_backoff, absl::Milliseconds(500));
  EXPECT_EQ(b.max_backoff, absl::Seconds(10));
  EXPECT_EQ(b.queue_size, 10);
  ASSERT_EQ(b.headers.size(), 1u);
  EXPECT_EQ(b.headers[0].first, "Authorization");
}

TEST(WebhookConfig, TheExampleFileParses) {
  const char* src = std::getenv("CUTOVER_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "run through ctest";
  const std::string path = absl::StrCat(src, "/deploy/webhooks.example.json");
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<v1::WebhookConfig> config = ParseWebhookConfig(ss.str(), path);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->endpoints_size(), 2);
  // Only the secrets (a file and a variable this test does not have) are missing.
  ::unsetenv("CUTOVER_PAGER_WEBHOOK_SECRET");
  absl::StatusOr<std::vector<EndpointSettings>> eps = ResolveWebhookConfig(*config);
  ASSERT_FALSE(eps.ok());
  EXPECT_EQ(
      std::string(eps.status().message()),
      "endpoints[0].secret_file: cannot read /etc/cutover/webhook-ops-chat.secret; endpoints[1].secret_env: "
      "environment variable CUTOVER_PAGER_WEBHOOK_SECRET is unset or empty");
}

TEST(WebhookConfig, ErrorsNameTheField) {
  const std::string secret = WriteFile("secret2", "top-secret-value");
  const std::string empty = WriteFile("secret-empty", "\n");
  ::unsetenv("CUTOVER_TEST_WEBHOOK_UNSET");
  struct Case {
    std::string json;
    std::string error;
  };
  const std::string ok_ep =
      absl::StrCat(R"({"name": "a", "url": "http://h/x", "secret_file": ")", secret, R"("})");
  const std::vector<Case> cases = {
      {R"({"endpoints": [{"name": "a", "url": "http://h/x", "secret_fil": "x"}]})", "secret_fil"},
      {R"({"endpoint": []})", "endpoint"},
      {R"({"endpoints": []})", "endpoints: empty"},
      {absl::StrCat(R"({"endpoints": [)", ok_ep, R"(, {"name": "b", "url": "ftp://h/x", "secret_file": ")",
                    secret, R"("}]})"),
       "endpoints[1].url: expected an http:// or https:// URL"},
      {absl::StrCat(R"({"endpoints": [)", ok_ep, ",", ok_ep, "]}"), "endpoints[1].name: duplicate \"a\""},
      {R"({"endpoints": [{"name": "a", "url": "http://h/x"}]})",
       "endpoints[0].secret_file: no signing secret"},
      {absl::StrCat(R"({"endpoints": [{"name": "a", "url": "http://h/x", "secret_file": ")", empty,
                    R"("}]})"),
       "endpoints[0].secret_file: " + empty + " is empty"},
      {R"({"endpoints": [{"name": "a", "url": "http://h/x", "secret_file": "/nonexistent/secret"}]})",
       "endpoints[0].secret_file: cannot read /nonexistent/secret"},
      {R"({"endpoints": [{"name": "a", "url": "http://h/x", "secret_env": "CUTOVER_TEST_WEBHOOK_UNSET"}]})",
       "endpoints[0].secret_env: environment variable CUTOVER_TEST_WEBHOOK_UNSET is unset or empty"},
      {absl::StrCat(R"({"endpoints": [{"name": "", "url": "http://h/x", "secret_file": ")", secret,
                    R"("}]})"),
       "endpoints[0].name: empty"},
      {absl::StrCat(R"({"endpoints": [{"name": "a b", "url": "http://h/x", "secret_file": ")", secret,
                    R"("}]})"),
       "endpoints[0].name: expected 1-64 characters"},
      {absl::StrCat(
           R"({"endpoints": [{"name": "a", "url": "http://h/x", "max_attempts": -1, "secret_file": ")",
           secret, R"("}]})"),
       "endpoints[0].max_attempts: negative"},
      {absl::StrCat(
           R"({"endpoints": [{"name": "a", "url": "http://h/x", "initial_backoff": "10s", "max_backoff": "1s",
                    "secret_file": ")",
           secret, R"("}]})"),
       "endpoints[0].max_backoff: 1s is below initial_backoff 10s"},
      {absl::StrCat(
           R"({"endpoints": [{"name": "a", "url": "http://h/x", "headers": {"X-Cutover-Signature": "x"},
                    "secret_file": ")",
           secret, R"("}]})"),
       "endpoints[0].headers[\"X-Cutover-Signature\"]: set by cutoverd itself"},
      {absl::StrCat(R"({"endpoints": [{"name": "a", "url": "http://h/x", "phases": ["PHASE_UNSPECIFIED"],
                    "secret_file": ")",
                    secret, R"("}]})"),
       "endpoints[0].phases[0]"},
      {absl::StrCat(R"({"endpoints": [{"name": "a", "url": "http://h/x", "timeout": "-1s", "secret_file": ")",
                    secret, R"("}]})"),
       "endpoints[0].timeout: negative"},
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string path = WriteFile(absl::StrCat("bad", i++, ".json"), c.json);
    absl::StatusOr<std::vector<EndpointSettings>> eps = LoadWebhookConfig(path);
    ASSERT_FALSE(eps.ok()) << c.json;
    EXPECT_EQ(eps.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(eps.status().message()), HasSubstr(c.error)) << c.json;
    EXPECT_THAT(std::string(eps.status().message()), StartsWith(path));
    EXPECT_THAT(std::string(eps.status().message()), Not(HasSubstr("top-secret-value")));
  }
  EXPECT_EQ(LoadWebhookConfig("/nonexistent/webhooks.json").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cutover::notify
