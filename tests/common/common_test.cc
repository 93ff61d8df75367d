// Unit tests for common/: DSN handling, error classification, subprocess,
// simulated clock, status macros.
#include <thread>

#include "absl/strings/match.h"
#include <csignal>

#include "cutover/common/clock.h"
#include "cutover/common/failpoint.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Dsn, ParsesKeywordAndUriForms) {
  auto kv = pg::ParseDsn("host=127.0.0.1 port=5433 dbname=hydra user=u password=s3cret", "blue DSN");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->at("port"), "5433");
  auto uri = pg::ParseDsn("postgresql://u:s3cret@127.0.0.1:5433/hydra", "blue DSN");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(uri->at("dbname"), "hydra");
  EXPECT_EQ(uri->at("password"), "s3cret");
}

TEST(Dsn, MalformedNamesWhatAndExpectedForm) {
  auto bad = pg::ParseDsn("host=127.0.0.1 port", "green DSN");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("green DSN is malformed"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("expected a libpq connection string"));
  auto empty = pg::ParseDsn("", "blue DSN");
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("blue DSN is empty"));
  auto unknown = pg::ParseDsn("hots=127.0.0.1", "blue DSN");
  EXPECT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("hots"));
}

TEST(Dsn, RedactNeverShowsPassword) {
  const std::string r = pg::RedactDsn("host=h password=s3cret user=u");
  EXPECT_THAT(r, Not(HasSubstr("s3cret")));
  EXPECT_THAT(r, HasSubstr("***"));
  EXPECT_THAT(pg::RedactDsn("postgresql://u:s3cret@h/db"), Not(HasSubstr("s3cret")));
  EXPECT_EQ(pg::RedactDsn("nonsense ="), "<malformed DSN>");
  EXPECT_EQ(pg::DescribeDsn("host=10.0.0.1 port=6432 dbname=hydra password=x"), "10.0.0.1:6432/hydra");
}

TEST(Dsn, FormatRoundTripsQuoting) {
  pg::DsnOptions o = {{"host", "h"}, {"password", "it's a \\ test"}, {"dbname", "my db"}};
  auto back = pg::ParseDsn(pg::FormatDsn(o), "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->at("password"), "it's a \\ test");
  EXPECT_EQ(back->at("dbname"), "my db");
}

TEST(Dsn, PrepareAddsTimeoutAndApplicationName) {
  auto p = pg::PrepareDsn("host=h dbname=d", "blue DSN", "cutover-test");
  ASSERT_TRUE(p.ok());
  auto o = pg::ParseDsn(*p, "x");
  EXPECT_EQ(o->at("connect_timeout"), "10");
  EXPECT_EQ(o->at("application_name"), "cutover-test");
  auto keep = pg::PrepareDsn("host=h connect_timeout=3 application_name=app", "blue DSN", "other");
  o = pg::ParseDsn(*keep, "x");
  EXPECT_EQ(o->at("connect_timeout"), "3");
  EXPECT_EQ(o->at("application_name"), "app");
}

TEST(Classify, SqlStates) {
  EXPECT_EQ(pg::StatusFromSqlState("08006", "conn").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::StatusFromSqlState("57P01", "admin shutdown").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::StatusFromSqlState("40001", "serialization").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(pg::StatusFromSqlState("55P03", "lock timeout").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(pg::StatusFromSqlState("28P01", "auth").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(pg::StatusFromSqlState("42501", "denied").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(pg::StatusFromSqlState("42P01", "no table").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pg::StatusFromSqlState("57014", "cancel").code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(pg::StatusFromSqlState("XX000", "internal").code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(pg::StatusFromSqlState("42P01", "relation x\n").message()), HasSubstr("SQLSTATE 42P01"));
}

TEST(Classify, ConnectErrors) {
  const std::string dsn = "host=127.0.0.1 port=1 dbname=hydra password=pw";
  auto auth = pg::ConnectError("blue", dsn, "FATAL:  password authentication failed for user \"x\"");
  EXPECT_EQ(auth.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(auth.message()), HasSubstr("blue at 127.0.0.1:1/hydra"));
  EXPECT_THAT(std::string(auth.message()), Not(HasSubstr("pw")));
  EXPECT_EQ(pg::ConnectError("blue", dsn, "Connection refused").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::ConnectError("blue", dsn, "FATAL: database \"x\" does not exist").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("x")));
  EXPECT_FALSE(IsRetryable(absl::InvalidArgumentError("x")));
}

TEST(Quote, IdentifiersAndLiterals) {
  EXPECT_EQ(pg::QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(pg::QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(pg::QualifiedName("s", "t"), "\"s\".\"t\"");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::Status UseMacros(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  RETURN_IF_ERROR(h > 100 ? absl::OutOfRangeError("big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateAndAssign) {
  int out = 0;
  EXPECT_TRUE(UseMacros(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(UseMacros(3, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(400, &out).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Annotate(absl::UnavailableError("down"), "blue").message(), "blue: down");
}

TEST(Subprocess, CapturesOutputAndExitCode) {
  auto r = RunCommand({{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, {}, "", absl::Seconds(10), ""});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  auto e = RunCommandOk({{"/bin/sh", "-c", "echo boom >&2; exit 1"}, {}, "", absl::Seconds(10), ""});
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("boom"));
}

TEST(Subprocess, StdinEnvAndTimeout) {
  auto r = RunCommand({{"/bin/sh", "-c", "cat; echo $CUTOVER_X"}, {{"CUTOVER_X", "y"}}, "hello\n", absl::Seconds(10), ""});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "hello\ny\n");
  const absl::Time t0 = absl::Now();
  auto slow = RunCommand({{"/bin/sh", "-c", "sleep 30"}, {}, "", absl::Milliseconds(300), ""});
  ASSERT_TRUE(slow.ok());
  EXPECT_TRUE(slow->timed_out);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(20));
  EXPECT_EQ(RunCommandOk({{"/bin/sh", "-c", "sleep 30"}, {}, "", absl::Milliseconds(200), ""}).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(RunCommand({{"/nonexistent/program"}, {}, "", absl::Seconds(5), ""}).ok() &&
               RunCommand({{"/nonexistent/program"}, {}, "", absl::Seconds(5), ""})->exit_code == 0);
}

TEST(SimulatedClock, SleepWakesOnAdvance) {
  SimulatedClock clock;
  const absl::Time t0 = clock.Now();
  std::thread sleeper([&] { clock.SleepFor(absl::Seconds(10)); });
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.Advance(absl::Seconds(4));
  EXPECT_EQ(clock.sleepers(), 1);
  clock.Advance(absl::Seconds(6));
  sleeper.join();
  EXPECT_EQ(clock.Now() - t0, absl::Seconds(10));
}

TEST(Human, Formats) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(HumanDuration(absl::Seconds(4.25)), "4.2s");
  EXPECT_EQ(HumanDuration(absl::Seconds(3723)), "1h02m03s");
  EXPECT_EQ(HumanBytes(1.6e9), "1.6 GB");
  EXPECT_EQ(HumanCount(1234567), "1.2M");
  EXPECT_EQ(FromProto(ToProto(absl::Milliseconds(1500))), absl::Milliseconds(1500));
}

}  // namespace
}  // namespace cutover

// ---- failpoints ----
TEST(Failpoint, UnconfiguredNamesNeverFire) {
  cutover::SetFailpointsForTest("");
  EXPECT_TRUE(cutover::Failpoint("flip.fence").ok());
  cutover::SetFailpointsForTest("flip.seal=error");
  EXPECT_TRUE(cutover::Failpoint("flip.fence").ok());
  cutover::SetFailpointsForTest("");
}

TEST(Failpoint, ErrorFiresEveryTimeAndErrorOnceOnlyOnce) {
  cutover::SetFailpointsForTest("a=error, b=error-once");
  for (int i = 0; i < 3; ++i) {
    absl::Status st = cutover::Failpoint("a");
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("failpoint a"));
  }
  EXPECT_EQ(cutover::Failpoint("b").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cutover::Failpoint("b").ok());
  cutover::SetFailpointsForTest("");
  EXPECT_TRUE(cutover::Failpoint("a").ok());
}

TEST(Failpoint, MalformedEntriesAreIgnoredOthersKept) {
  cutover::SetFailpointsForTest("x=explode,y,z=sleep:abc,w=sleep:1,v=error");
  EXPECT_TRUE(cutover::Failpoint("x").ok());
  EXPECT_TRUE(cutover::Failpoint("y").ok());
  EXPECT_TRUE(cutover::Failpoint("z").ok());
  EXPECT_TRUE(cutover::Failpoint("w").ok());
  EXPECT_FALSE(cutover::Failpoint("v").ok());
  cutover::SetFailpointsForTest("");
}

TEST(FailpointDeathTest, KillEndsTheProcessWithSigkill) {
  EXPECT_EXIT(
      {
        cutover::SetFailpointsForTest("k=kill");
        (void)cutover::Failpoint("k");
      },
      ::testing::KilledBySignal(SIGKILL), "");
}
