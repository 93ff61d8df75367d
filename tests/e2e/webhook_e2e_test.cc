// Webhooks end to end on the sandbox: a real cutoverd with --webhook-config
// drives a real cutover and a receiver in this process (civetweb) gets every
// phase change PLANNED -> ... -> COMPLETED in order, signed (checked here
// and with the `openssl dgst` command of docs/webhooks.md), and the metrics
// count them; then a kill -9 of the daemon while its receiver is failing,
// with a second daemon taking over, loses no phase-change delivery.
#include <set>

#include "absl/strings/numbers.h"
#include "cutover/notify/webhook_notifier.h"
#include "cutover/v1/webhook.pb.h"
#include "e2e_support.h"
#include "google/protobuf/util/json_util.h"
#include "webhook_receiver.h"

namespace cutover::e2e {
namespace {

namespace v1 = cutover::v1;
using cutover::testing::WebhookReceiver;
using ::testing::ElementsAreArray;

constexpr char kSecret[] = "e2e-webhook-secret";

const std::vector<std::string> kAllPhases = {"PHASE_PLANNED",     "PHASE_CAPTURING",      "PHASE_COPYING",
                                             "PHASE_INDEXING",    "PHASE_VERIFYING_COPY", "PHASE_MIGRATING",
                                             "PHASE_CATCHING_UP", "PHASE_READY",          "PHASE_FLIPPING",
                                             "PHASE_DRAINING",    "PHASE_COMPLETED"};

class WebhookE2eTest : public E2eFixture {
 protected:
  // A receiver that records the requests it acknowledged (2xx), in order.
  struct Accepted {
    std::string delivery_id, timestamp, signature, body;
    v1::WebhookEvent event;
  };

  std::string WriteWebhookConfig(const std::string& url) {
    const std::string secret_path = absl::StrCat(dir_, "/webhook.secret");
    std::ofstream(secret_path) << kSecret << "\n";
    const std::string path = absl::StrCat(dir_, "/webhooks.json");
    std::ofstream(path) << R"({"endpoints": [{"name": "e2e", "url": ")" << url << R"(", "secret_file": ")"
                        << secret_path
                        << R"(", "initial_backoff": "0.2s", "max_backoff": "1s", "max_attempts": 1000}]})";
    return path;
  }

  // Installs a handler answering `status(event)`; 2xx answers are recorded.
  void Serve(WebhookReceiver& rx, std::function<int(const v1::WebhookEvent&)> status) {
    rx.SetHandler([this, status](const WebhookReceiver::Request& r, int) {
      Accepted a;
      if (!google::protobuf::util::JsonStringToMessage(r.body, &a.event).ok())
        return WebhookReceiver::Status(400);
      const int code = status(a.event);
      if (code / 100 == 2) {
        a.delivery_id = r.headers.count("x-cutover-delivery") ? r.headers.at("x-cutover-delivery") : "";
        a.timestamp = r.headers.count("x-cutover-timestamp") ? r.headers.at("x-cutover-timestamp") : "";
        a.signature = r.headers.count("x-cutover-signature") ? r.headers.at("x-cutover-signature") : "";
        a.body = r.body;
        std::lock_guard<std::mutex> l(mu_);
        accepted_.push_back(std::move(a));
      }
      return WebhookReceiver::Status(code);
    });
  }
  std::vector<Accepted> accepted() {
    std::lock_guard<std::mutex> l(mu_);
    return accepted_;
  }
  // Distinct acknowledged deliveries, first acknowledgement of each, in order.
  std::vector<Accepted> Distinct() {
    std::vector<Accepted> out;
    std::set<std::string> seen;
    for (auto& a : accepted()) {
      if (seen.insert(a.delivery_id).second) out.push_back(a);
    }
    return out;
  }
  static std::vector<std::string> Phases(const std::vector<Accepted>& as) {
    std::vector<std::string> out;
    for (const auto& a : as) out.push_back(v1::Phase_Name(a.event.to()));
    return out;
  }
  bool WaitForPhase(const std::string& phase, absl::Duration timeout) {
    return ct::WaitFor(
        [&] {
          for (const auto& a : accepted()) {
            if (v1::Phase_Name(a.event.to()) == phase) return true;
          }
          return false;
        },
        timeout);
  }

  std::mutex mu_;
  std::vector<Accepted> accepted_;
};

TEST_F(WebhookE2eTest, EveryPhaseChangeArrivesSignedAndInOrder) {
  WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  // The first request fails: the daemon retries it.
  std::atomic<int> calls{0};
  Serve(rx, [&](const v1::WebhookEvent&) { return calls++ == 0 ? 503 : 200; });
  const std::string config = WriteWebhookConfig(rx.url());
  const std::string http_port_file = absl::StrCat(dir_, "/webhook-d.http-port");
  Daemon d(db_.control, "webhook-d", dir_, "",
           {"--insecure-local", "--webhook-config", config, "--http-listen", "127.0.0.1:0",
            "--http-port-file", http_port_file});
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string id = PlanAndStart(server, WritePlan(/*auto_flip=*/true, 0));
  ASSERT_FALSE(id.empty());
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << d.log();
  ASSERT_TRUE(WaitForPhase("PHASE_COMPLETED", absl::Seconds(30))) << d.log();

  const std::vector<Accepted> got = Distinct();
  EXPECT_THAT(Phases(got), ElementsAreArray(kAllPhases)) << d.log();
  EXPECT_EQ(got.size(), accepted().size())
      << "no duplicate deliveries in a run without failures of the daemon";
  // Delivery ids are <id>:<timeline seq>, seqs increasing; the timeline agrees.
  int64_t last_seq = 0;
  for (const Accepted& a : got) {
    EXPECT_EQ(a.delivery_id, absl::StrCat(id, ":", a.event.seq()));
    EXPECT_EQ(a.event.cutover_id(), id);
    EXPECT_GT(a.event.seq(), last_seq);
    last_seq = a.event.seq();
    int64_t ts = 0;
    ASSERT_TRUE(absl::SimpleAtoi(a.timestamp, &ts));
    EXPECT_EQ(a.signature, "sha256=" + notify::SignWebhook(kSecret, ts, a.body));
    EXPECT_EQ(a.body.find(db_.blue), std::string::npos) << "no DSN in the payload";
  }
  EXPECT_EQ(got.back().event.daemon(), "webhook-d");
  EXPECT_GT(got.back().event.summary().rows_copied(), 0);
  EXPECT_TRUE(got.back().event.summary().has_flip_write_gap());

  // The verification recipe of docs/webhooks.md, with the real openssl.
  const Accepted& last = got.back();
  const std::string body_path = absl::StrCat(dir_, "/last-body.json");
  std::ofstream(body_path) << last.body;
  CommandSpec spec;
  spec.argv = {"bash", "-c",
               absl::StrCat("printf '%s.' '", last.timestamp, "' | cat - '", body_path,
                            "' | openssl dgst -sha256 -hmac '", kSecret, "' | sed 's/^.*= /sha256=/'")};
  absl::StatusOr<std::string> openssl = RunCommandOk(spec);
  ASSERT_TRUE(openssl.ok()) << openssl.status();
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*openssl)), last.signature);
  // ... and the Python one.
  CommandSpec py;
  py.argv = {"/usr/bin/python3", "-c", R"PY(
import hashlib, hmac, sys, time

def verify(secret: bytes, headers, body: bytes, tolerance_s: int = 300) -> bool:
    ts = headers["X-Cutover-Timestamp"]
    if abs(time.time() - int(ts)) > tolerance_s:
        return False  # too old (or a clock far off): possible replay
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Cutover-Signature"])

body = open(sys.argv[1], "rb").read()
h = {"X-Cutover-Timestamp": sys.argv[2], "X-Cutover-Signature": sys.argv[3]}
print(verify(sys.argv[4].encode(), h, body), verify(b"wrong", h, body))
)PY", body_path, last.timestamp, last.signature, kSecret};
  absl::StatusOr<std::string> python = RunCommandOk(py);
  ASSERT_TRUE(python.ok()) << python.status();
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*python)), "True False");

  // The metrics on the daemon's /metrics.
  CommandSpec scrape;
  scrape.argv = {
      "curl", "-sf",
      absl::StrCat("http://127.0.0.1:", absl::StripAsciiWhitespace(ReadAll(http_port_file)), "/metrics")};
  absl::StatusOr<std::string> metrics = RunCommandOk(scrape);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics,
              HasSubstr("cutover_webhook_deliveries_total{endpoint=\"e2e\",result=\"delivered\"} 11"));
  EXPECT_THAT(*metrics, HasSubstr("cutover_webhook_deliveries_total{endpoint=\"e2e\",result=\"retried\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("cutover_webhook_queue_depth{endpoint=\"e2e\"} 0"));
  EXPECT_EQ(d.log().find(kSecret), std::string::npos) << "the secret never reaches the log";
  LowerBlueFence();
}

TEST_F(WebhookE2eTest, KillNineWhileTheReceiverFailsLosesNoPhaseChange) {
  WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  // The receiver fails everything but the creation until `up`.
  std::atomic<bool> up{false};
  Serve(rx, [&](const v1::WebhookEvent& e) { return up || e.to() == v1::PHASE_PLANNED ? 200 : 503; });
  const std::string config = WriteWebhookConfig(rx.url());
  // ~1 MB at 300 kB/s: the copy lasts a few seconds, long enough to kill in.
  const std::string plan = WritePlan(/*auto_flip=*/true, 300'000);
  auto a = std::make_unique<Daemon>(db_.control, "webhook-a", dir_, "",
                                    std::vector<std::string>{"--insecure-local", "--webhook-config", config});
  const std::string server_a = a->Address();
  ASSERT_FALSE(server_a.empty()) << a->log();
  const std::string id = PlanAndStart(server_a, plan);
  ASSERT_FALSE(id.empty());
  CtlResult copying = Ctl(server_a, {"wait", id, "--phase", "copying", "--timeout", "60s"});
  ASSERT_EQ(copying.code, 0) << copying.out << copying.err;
  // a has tried CAPTURING and COPYING at least once, never successfully.
  ASSERT_TRUE(ct::WaitFor([&] { return rx.count() >= 3; }, absl::Seconds(20))) << a->log();
  ASSERT_THAT(Phases(Distinct()), ElementsAreArray({"PHASE_PLANNED"}));
  const std::string a_log = a->log();
  a->KillNine();
  up = true;

  Daemon b(db_.control, "webhook-b", dir_, "", {"--insecure-local", "--webhook-config", config});
  const std::string server_b = b.Address();
  ASSERT_FALSE(server_b.empty()) << b.log();
  CtlResult done = Ctl(server_b, {"wait", id, "--phase", "completed", "--timeout", "150s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << "\n" << b.log();
  ASSERT_TRUE(WaitForPhase("PHASE_COMPLETED", absl::Seconds(30))) << b.log();

  const std::vector<Accepted> got = Distinct();
  EXPECT_THAT(Phases(got), ElementsAreArray(kAllPhases)) << "a:\n" << a_log << "\nb:\n" << b.log();
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].event.daemon(), "webhook-b")
        << "re-sent by the daemon that took over: " << got[i].delivery_id;
    EXPECT_GT(got[i].event.seq(), got[i - 1].event.seq());
    int64_t ts = 0;
    ASSERT_TRUE(absl::SimpleAtoi(got[i].timestamp, &ts));
    EXPECT_EQ(got[i].signature, "sha256=" + notify::SignWebhook(kSecret, ts, got[i].body));
  }
  LowerBlueFence();
}

}  // namespace
}  // namespace cutover::e2e
