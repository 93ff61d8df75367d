// cutover::loadgen without a database: the mix, the ledger format (read back
// by cutover-check's parser), the
// latency histogram, the write-gap tracker, the pacer (on a clock that
// advances when slept on), the summary forms, and cutover-loadgen's
// command-line errors (exit 2, naming the flag).
#include "cutover/loadgen/loadgen.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/check/ledger.h"
#include "cutover/common/subprocess.h"
#include "cutover/loadgen/ledger.h"
#include "cutover/loadgen/stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::loadgen {
namespace {

using ::testing::HasSubstr;

TEST(MixTest, ParsesNamedWeightsAndLeavesOthersAtZero) {
  auto mix = ParseMix(" issue=3, revoke_consent=1 ");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_EQ(mix->Total(), 4);
  EXPECT_EQ(FormatMix(*mix),
            "issue=3,rotate=0,revoke_token=0,revoke_consent=1,revoke_login=0,delete_client=0");
  EXPECT_EQ(mix->Pick(0.0), OpKind::kIssue);
  EXPECT_EQ(mix->Pick(0.74), OpKind::kIssue);
  EXPECT_EQ(mix->Pick(0.76), OpKind::kRevokeConsent);
  EXPECT_EQ(mix->Pick(0.999999), OpKind::kRevokeConsent);
}

TEST(MixTest, DefaultRoundTripsAndDrawsInProportion) {
  Mix mix;
  auto parsed = ParseMix(FormatMix(mix));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->weights, mix.weights);
  std::array<int, kNumOpKinds> counts{};
  for (int i = 0; i < 10000; ++i) ++counts[static_cast<int>(mix.Pick((i + 0.5) / 10000.0))];
  for (int k = 0; k < kNumOpKinds; ++k)
    EXPECT_EQ(counts[k], mix.weights[k] * 100) << OpName(static_cast<OpKind>(k));
}

TEST(MixTest, RejectsWhatItCannotRead) {
  for (const char* bad :
       {"", "issue", "issue=-1", "issue=x", "bogus=1", "issue=1,issue=2", "issue=0,rotate=0"}) {
    auto mix = ParseMix(bad);
    EXPECT_FALSE(mix.ok()) << bad;
    EXPECT_EQ(mix.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseMix("bogus=1").status().message(), HasSubstr("unknown kind 'bogus'"));
  EXPECT_THAT(ParseMix("issue=x").status().message(), HasSubstr("weight of 'issue'"));
}

TEST(LedgerTest, LineFormatIsTheDocumentedOne) {
  LedgerEntry e;
  e.at = absl::FromUnixMicros(1714564800123456);  // 2024-05-01T12:00:00.123456Z
  e.schema = Schema::k2x;
  e.kind = RevocationKind::kLoginSession;
  e.key = "abc";
  EXPECT_EQ(FormatLedgerLine(e),
            R"({"at":"2024-05-01T12:00:00.123456Z","schema":"2.x","kind":"login_session","key":"abc"})");
  e.at = absl::FromUnixSeconds(1714564800);
  e.schema = Schema::k1x;
  e.kind = RevocationKind::kToken;
  EXPECT_EQ(FormatLedgerLine(e),
            R"({"at":"2024-05-01T12:00:00.000000Z","schema":"1.x","kind":"token","key":"abc"})");
}

// What the loadgen writes is what cutover-check (the ledger's reader) reads.
TEST(LedgerTest, CutoverCheckReadsEveryKindBack) {
  for (Schema schema : {Schema::k1x, Schema::k2x}) {
    for (RevocationKind k : {RevocationKind::kToken, RevocationKind::kRefresh, RevocationKind::kConsent,
                             RevocationKind::kLoginSession, RevocationKind::kClient}) {
      LedgerEntry e{absl::FromUnixMicros(1700000000000001), schema, k, "q\"uo\\te\n\x01 \xc3\xa9"};
      auto back = check::ParseLedgerLine(FormatLedgerLine(e), "ledger", 1);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->at, e.at);
      EXPECT_EQ(back->schema,
                schema == Schema::k1x ? check::LedgerSchema::kBlue : check::LedgerSchema::kGreen);
      EXPECT_EQ(check::LedgerKindName(back->kind), RevocationKindName(k));
      EXPECT_EQ(back->key, e.key);
    }
  }
}

TEST(LedgerTest, AppendsWholeFlushedLines) {
  const std::string path = ::testing::TempDir() + "/loadgen_ledger_test.jsonl";
  auto ledger = Ledger::Open(path);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  LedgerEntry e{absl::FromUnixSeconds(1700000000), Schema::k1x, RevocationKind::kConsent, "c1"};
  ASSERT_TRUE((*ledger)->Append(e).ok());
  e.key = "c2";
  ASSERT_TRUE((*ledger)->Append(e).ok());
  EXPECT_EQ((*ledger)->lines(), 2);
  // Flushed: readable before the Ledger is closed.
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(check::ParseLedgerLine(lines[1], path, 2)->key, "c2");
  EXPECT_FALSE(Ledger::Open("/nonexistent-dir/ledger").ok());
}

// json_util would print a non-UTF-8 key as "" and say OK: Append refuses it
// instead, and writes nothing. A newline in a key stays escaped on one line.
TEST(LedgerTest, RefusesAKeyThatIsNotUtf8) {
  const std::string path = ::testing::TempDir() + "/loadgen_ledger_utf8_test.jsonl";
  auto ledger = Ledger::Open(path);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  LedgerEntry e{absl::FromUnixSeconds(1700000000), Schema::k2x, RevocationKind::kClient, "bad\xff"};
  absl::Status st = (*ledger)->Append(e);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("not UTF-8"));
  EXPECT_EQ(FormatLedgerLine(e), "");
  e.key = "two\nlines";
  ASSERT_TRUE((*ledger)->Append(e).ok());
  EXPECT_EQ((*ledger)->lines(), 1);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(check::ParseLedgerLine(lines[0], path, 1)->key, "two\nlines");
}

TEST(LatencyHistogramTest, PercentilesWithinBucketPrecision) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), absl::ZeroDuration());
  for (int i = 1; i <= 1000; ++i) h.Record(absl::Microseconds(i * 100));  // 0.1 ms .. 100 ms
  EXPECT_EQ(h.count(), 1000);
  auto near = [](absl::Duration got, double want_ms) {
    const double g = absl::ToDoubleMilliseconds(got);
    return g >= want_ms && g <= want_ms * 1.016;
  };
  EXPECT_TRUE(near(h.Percentile(0.5), 50)) << h.Percentile(0.5);
  EXPECT_TRUE(near(h.Percentile(0.99), 99)) << h.Percentile(0.99);
  EXPECT_EQ(h.Max(), absl::Milliseconds(100));
  EXPECT_EQ(h.Percentile(1.0), absl::Milliseconds(100));
  EXPECT_NEAR(absl::ToDoubleMilliseconds(h.Mean()), 50.05, 1e-6);
  LatencyHistogram small;
  small.Record(absl::Microseconds(7));
  small.Record(absl::Seconds(3));
  h.Merge(small);
  EXPECT_EQ(h.count(), 1002);
  EXPECT_EQ(h.Max(), absl::Seconds(3));
  EXPECT_EQ(small.Percentile(0.5), absl::Microseconds(7));  // exact below 128 us
}

TEST(WriteGapTrackerTest, LongestIntervalBetweenCommitsIncludingTheOpenOne) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  WriteGapTracker g;
  g.OnCommit(t0);  // before Start: ignored
  g.Start(t0);
  g.OnCommit(t0 + absl::Milliseconds(10));
  g.OnCommit(t0 + absl::Milliseconds(20));
  g.OnCommit(t0 + absl::Milliseconds(320));  // 300 ms gap
  g.OnCommit(t0 + absl::Milliseconds(310));  // out of order: no gap
  g.OnCommit(t0 + absl::Milliseconds(330));
  WriteGapTracker::Gap gap = g.Longest(t0 + absl::Milliseconds(400));
  EXPECT_EQ(gap.length, absl::Milliseconds(300));
  EXPECT_EQ(gap.start, t0 + absl::Milliseconds(20));
  EXPECT_EQ(gap.end, t0 + absl::Milliseconds(320));
  // Nothing committed for a second at the end: that open interval is the longest.
  gap = g.Longest(t0 + absl::Milliseconds(1330));
  EXPECT_EQ(gap.length, absl::Seconds(1));
  EXPECT_EQ(gap.start, t0 + absl::Milliseconds(330));
}

TEST(WriteGapTrackerTest, SuspendedPeriodsAreLeftOutAndTotalled) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  WriteGapTracker g;
  g.Start(t0);
  g.OnCommit(t0 + absl::Milliseconds(10));
  g.Suspend(t0 + absl::Milliseconds(60));                                      // 50 ms counted up to here
  g.OnCommit(t0 + absl::Milliseconds(70));                                     // an in-flight commit: no gap
  EXPECT_EQ(g.Longest(t0 + absl::Seconds(5)).length, absl::Milliseconds(50));  // not growing meanwhile
  g.Resume(t0 + absl::Milliseconds(560));                                      // 500 ms held back
  g.OnCommit(t0 + absl::Milliseconds(600));                                    // 40 ms after Resume
  EXPECT_EQ(g.Longest(t0 + absl::Milliseconds(600)).length, absl::Milliseconds(50));
  EXPECT_EQ(g.Suspended(), absl::Milliseconds(500));
  g.OnCommit(t0 + absl::Milliseconds(700));
  EXPECT_EQ(g.Longest(t0 + absl::Milliseconds(700)).length, absl::Milliseconds(100));
}

// Time moves only when someone sleeps on it.
class SteppingClock : public Clock {
 public:
  absl::Time Now() override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration d) override {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

TEST(PacerTest, SpreadsCallsAtTheRate) {
  SteppingClock clock;
  const absl::Time start = clock.Now();
  Pacer pacer(&clock, 200);
  for (int i = 0; i < 101; ++i) ASSERT_TRUE(pacer.Acquire());
  // The first slot is now; 100 more are 5 ms apart.
  EXPECT_EQ(clock.Now() - start, absl::Milliseconds(500));
  pacer.Cancel();
  EXPECT_FALSE(pacer.Acquire());
  Pacer unpaced(&clock, 0);
  const absl::Time before = clock.Now();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(unpaced.Acquire());
  EXPECT_EQ(clock.Now(), before);
}

TEST(SummaryTest, TextAndJsonShowTheHeadlineNumbers) {
  v1::LoadgenSummary s;
  s.set_target("127.0.0.1:6432/hydra");
  s.set_clients(4);
  s.set_target_rate(200);
  s.set_committed(1234);
  s.set_failed(0);
  s.set_elapsed_seconds(6.2);
  s.set_stop_reason("duration");
  v1::LoadgenOpStats* o = s.add_ops();
  o->set_kind("revoke_token");
  o->set_ok(10);
  o->set_noop(2);
  (*o->mutable_committed_by_schema())["2.x"] = 12;
  o->add_errors("client 1: connection lost");
  s.mutable_longest_write_gap()->set_seconds(0.125);
  s.mutable_longest_write_gap()->mutable_start()->set_seconds(1714564800);
  s.set_ledger_path("/tmp/ledger.jsonl");
  s.set_ledger_lines(12);
  const std::string text = FormatSummaryText(s);
  EXPECT_THAT(text, HasSubstr("1234 committed, 0 failed"));
  EXPECT_THAT(text, HasSubstr("revoke_token"));
  EXPECT_THAT(text, HasSubstr("longest write gap: 0.125 s, from 2024-05-01T12:00:00.000000Z"));
  EXPECT_THAT(text, HasSubstr("revoke_token: client 1: connection lost"));
  const std::string json = FormatSummaryJson(s, false);
  EXPECT_THAT(json, HasSubstr(R"("failed":"0")"));
  EXPECT_THAT(json, HasSubstr(R"("committed_by_schema":{"2.x":"12"})"));
  EXPECT_THAT(json, HasSubstr(R"("longest_write_gap":{"seconds":0.125,"start":"2024-05-01T12:00:00Z")"));
}

std::string Binary() {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  return absl::StrCat(dir ? dir : ".", "/deploy/hydra/loadgen/cutover-loadgen");
}

TEST(LoadgenCliTest, BadFlagsExitTwoNamingTheFlag) {
  const std::string dsn = "host=127.0.0.1 port=1 dbname=none";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "--dsn"},
      {{"--dsn", "host='unterminated"}, "--dsn"},
      {{"--dsn", dsn, "--clients", "0"}, "--clients"},
      {{"--dsn", dsn, "--clients", "many"}, "--clients"},
      {{"--dsn", dsn, "--rate", "fast"}, "--rate"},
      {{"--dsn", dsn, "--rate", "-5"}, "--rate"},
      {{"--dsn", dsn, "--duration", "forever"}, "--duration"},
      {{"--dsn", dsn, "--mix", "issue=50,teleport=1"}, "--mix"},
      {{"--dsn", dsn, "--mix", "issue=0"}, "--mix"},
      {{"--dsn", dsn, "--output", "xml"}, "--output"},
      {{"--dsn", dsn, "--max-ops", "-1"}, "--max-ops"},
      {{"--dsn", dsn, "--pool-refresh", "1ms"}, "--pool-refresh"},
      {{"--dsn", dsn, "--client-deletion-interval", "often"}, "--client-deletion-interval"},
      {{"--dsn", dsn, "--no-such-flag"}, "--no-such-flag"},
  };
  for (const auto& [args, flag] : cases) {
    CommandSpec spec;
    spec.argv = {Binary()};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = absl::Seconds(30);
    auto r = RunCommand(spec);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2) << flag << ": " << r->err;
    EXPECT_THAT(r->err, HasSubstr(flag));
    EXPECT_TRUE(r->out.empty()) << r->out;
  }
}

TEST(LoadgenCliTest, UnreachableDatabaseExitsOne) {
  CommandSpec spec;
  spec.argv = {Binary(), "--dsn", "host=127.0.0.1 port=1 dbname=none connect_timeout=2", "--max-ops", "1"};
  spec.timeout = absl::Seconds(30);
  auto r = RunCommand(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->err;
  EXPECT_THAT(r->err, HasSubstr("client 1"));
}

}  // namespace
}  // namespace cutover::loadgen
