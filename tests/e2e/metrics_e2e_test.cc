// cutoverd's HTTP listener end to end: a real cutoverd with
// --http-listen 127.0.0.1:0 runs a real cutover on the sandbox; /metrics is
// polled through it and must show the phase progression (state set), the
// lease held by the driving daemon, rows copied per table equal to the
// table's rows, the forward stream and relay gauges, and the flip's write
// gap after the flip; the JSON API agrees with cutoverctl.
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/status.pb.h"
#include "e2e_support.h"
#include "google/protobuf/util/json_util.h"
#include "http_client.h"

namespace cutover::e2e {
namespace {

using ::cutover::testing::Fetch;
using ::cutover::testing::MetricValue;
using MetricsE2eTest = E2eFixture;
namespace v1 = cutover::v1;

std::string Series(const std::string& name, const std::string& id, const std::string& more = "") {
  return absl::StrCat(name, "{cutover=\"", id, "\"", more, "}");
}

TEST_F(MetricsE2eTest, MetricsFollowARealCutover) {
  // ~1 MB at 300 kB/s: the copy lasts a few seconds, long enough to see COPYING.
  const std::string plan = WritePlan(/*auto_flip=*/true, 300'000);
  const std::string http_port_file = absl::StrCat(dir_, "/daemon-metrics.http-port");
  Daemon d(db_.control, "daemon-metrics", dir_, "",
           {"--insecure-local", "--http-listen", "127.0.0.1:0", "--http-port-file", http_port_file});
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  int port = 0;
  ASSERT_TRUE(ct::WaitFor([&] { return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadAll(http_port_file)), &port); },
                          absl::Seconds(20)))
      << d.log();
  ASSERT_GT(port, 0);
  EXPECT_EQ(Fetch(port, "/healthz").body, "ok\n");
  EXPECT_THAT(d.log(), HasSubstr(absl::StrCat("http://127.0.0.1:", port, "/metrics")));

  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());

  // Poll /metrics until COMPLETED; remember the phases seen and what the
  // driving daemon said about its lease while it ran.
  std::set<std::string> seen;
  bool held = false, relay_seen = false;
  std::string body;
  const char* kPhases[] = {"PLANNED",   "CAPTURING", "COPYING",   "INDEXING", "VERIFYING_COPY", "MIGRATING",
                           "CATCHING_UP", "READY",   "FLIPPING",  "DRAINING", "COMPLETED"};
  const absl::Time deadline = absl::Now() + absl::Seconds(150);
  while (absl::Now() < deadline) {
    cutover::testing::Reply r = Fetch(port, "/metrics");
    ASSERT_EQ(r.code, 200);
    body = r.body;
    int ones = 0;
    for (const char* p : kPhases) {
      if (MetricValue(body, Series("cutover_phase", id, absl::StrCat(",phase=\"", p, "\""))) == 1.0) {
        seen.insert(p);
        ++ones;
      }
    }
    EXPECT_LE(ones, 1) << "a state set has one phase at 1";
    held |= MetricValue(body, Series("cutover_lease_held", id)) == 1.0;
    relay_seen |= MetricValue(body, Series("cutover_relay_backlog_events", id, ",direction=\"forward\"")).has_value();
    if (seen.contains("COMPLETED")) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(seen.contains("COMPLETED")) << "phase: " << Phase(server, id) << "\n" << body << d.log();
  EXPECT_TRUE(seen.contains("COPYING")) << "copy at 300 kB/s lasts seconds; polled every 100 ms";
  EXPECT_TRUE(held) << "the driving daemon reports cutover_lease_held 1";
  EXPECT_TRUE(relay_seen);
  for (const char* p : kPhases) {
    EXPECT_TRUE(MetricValue(body, Series("cutover_phase", id, absl::StrCat(",phase=\"", p, "\""))).has_value()) << p;
  }

  // Rows copied per table = the table's rows (no workload: blue has 2000).
  const std::string rows = ct::QueryScalar(db_.green, "SELECT count(*) FROM public.tokens");
  EXPECT_EQ(rows, "2000");
  EXPECT_EQ(MetricValue(body, Series("cutover_copy_rows_total", id, ",table=\"public.tokens\"")), 2000.0) << body;
  EXPECT_GT(MetricValue(body, Series("cutover_copy_bytes_total", id, ",table=\"public.tokens\"")).value_or(0), 0);
  EXPECT_EQ(MetricValue(body, Series("cutover_copy_tables", id, ",state=\"DONE\"")), 1.0);
  // The flip happened: its write gap and success are exported.
  const std::optional<double> gap = MetricValue(body, Series("cutover_flip_write_gap_seconds", id, ",direction=\"forward\""));
  ASSERT_TRUE(gap.has_value()) << body;
  EXPECT_GT(*gap, 0);
  EXPECT_LT(*gap, 20);
  EXPECT_EQ(MetricValue(body, Series("cutover_flip_succeeded", id, ",direction=\"forward\"")), 1.0);
  EXPECT_GE(MetricValue(body, Series("cutover_flip_attempts_total", id, ",direction=\"forward\"")).value_or(0), 1);
  EXPECT_GT(MetricValue(body, Series("cutover_phase_duration_seconds", id, ",phase=\"COPYING\"")).value_or(0), 0);
  EXPECT_THAT(body, HasSubstr("cutover_daemon_info{identity=\"daemon-metrics\",version=\""));
  EXPECT_THAT(body, HasSubstr("cutover_http_requests_total{code=\"200\",handler=\"metrics\"}"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("password")));

  // The JSON API says what cutoverctl says.
  cutover::testing::Reply one = Fetch(port, absl::StrCat("/api/v1/cutovers/", id));
  ASSERT_EQ(one.code, 200);
  v1::Cutover c;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(one.body, &c).ok()) << one.body;
  EXPECT_EQ(v1::Phase_Name(c.phase()), Phase(server, id));
  EXPECT_EQ(v1::Phase_Name(c.phase()), "PHASE_COMPLETED");
  cutover::testing::Reply series = Fetch(port, absl::StrCat("/api/v1/cutovers/", id, "/series"));
  ASSERT_EQ(series.code, 200);
  v1::StatusSeries s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(series.body, &s).ok()) << series.body;
  EXPECT_GE(s.points_size(), 3) << "sampled once per second during the cutover";
  cutover::testing::Reply tl = Fetch(port, absl::StrCat("/api/v1/cutovers/", id, "/timeline"));
  EXPECT_EQ(tl.code, 200);
  EXPECT_THAT(tl.body, HasSubstr("PHASE_FLIPPING"));
  std::printf("phases seen on /metrics: %s; write gap %.3f s\n", absl::StrJoin(seen, " ").c_str(), *gap);
  LowerBlueFence();
}

}  // namespace
}  // namespace cutover::e2e
