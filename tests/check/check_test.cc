// cutover::check without a database: the ledger format (every malformed
// line names file:line), a ledger still being written, the merge-join's
// classification over in-memory row sources, the cutover report's times
// and the text summary.
#include "cutover/check/check.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/check/compare.h"
#include "cutover/check/ledger.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::check {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/check_test_", getpid(), "_", name);
}

void WriteFile(const std::string& path, const std::string& body, const char* mode = "w") {
  std::FILE* f = std::fopen(path.c_str(), mode);
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
}

// ---- ledger lines ----

TEST(LedgerLineTest, ParsesEveryKind) {
  auto e = ParseLedgerLine(
      R"({"at":"2024-05-01T12:00:00.123456Z","schema":"1.x","kind":"token","key":"rid-1"})", "l", 1);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->schema, LedgerSchema::kBlue);
  EXPECT_EQ(e->kind, LedgerKind::kToken);
  EXPECT_EQ(e->key, "rid-1");
  EXPECT_EQ(e->at_text, "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(absl::ToUnixMicros(e->at) % 1000000, 123456);
  for (const char* kind : {"refresh", "consent", "login_session", "client"}) {
    auto k = ParseLedgerLine(
        absl::StrCat(R"( { "kind" : ")", kind,
                     R"(", "key":"k\u00e9\"x", "schema":"2.x", "at":"2024-05-01T12:00:00Z" } )"),
        "l", 2);
    ASSERT_TRUE(k.ok()) << kind << ": " << k.status();
    EXPECT_EQ(LedgerKindName(k->kind), kind);
    EXPECT_EQ(k->schema, LedgerSchema::kGreen);
    EXPECT_EQ(k->key, "k\xc3\xa9\"x");
  }
}

TEST(LedgerLineTest, MalformedLinesNameFileLineAndWhatWasExpected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty line"},
      {"not json", "Unexpected token"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token"})", "missing \"key\""},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"3.x","kind":"token","key":"a"})", "\"schema\" is \"3.x\""},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"grant","key":"a"})",
       "unknown \"kind\" \"grant\""},
      {R"({"at":"yesterday","schema":"1.x","kind":"token","key":"a"})", "not an RFC 3339 time"},
      // proto3 JSON: an empty string is the same as no member at all.
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":""})", "missing \"key\""},
      {R"({"at":"","schema":"","kind":"token","key":"a"})", "missing \"at\", \"schema\""},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":7})", "(key): invalid value 7"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":"a"} x)",
       "Parsing terminated before end of input"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":"a")", "Expected , or }"},
  };
  for (const auto& [line, why] : cases) {
    auto e = ParseLedgerLine(line, "ledger.jsonl", 42);
    ASSERT_FALSE(e.ok()) << line;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr("ledger.jsonl:42: expected a JSON object")) << line;
    EXPECT_THAT(e.status().message(), HasSubstr(why)) << line;
  }
}

// json_util with ignore_unknown_fields = false: a member the format does not
// have, or a value of another JSON type, is refused with file:line and the
// member's name (json_util does not take a number for a string field).
TEST(LedgerLineTest, UnknownMembersAndWrongTypesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":"a","extra":"x"})",
       "extra: Cannot find field"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":5})", "(key): invalid value 5"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":true})",
       "(key): invalid value true"},
      {R"({"at":1714564800,"schema":"1.x","kind":"token","key":"a"})", "(at): invalid value 1714564800"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":["token"],"key":"a"})", "kind"},
      {R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":{"v":"a"}})", "key"},
  };
  for (const auto& [line, why] : cases) {
    auto e = ParseLedgerLine(line, "ledger.jsonl", 7);
    ASSERT_FALSE(e.ok()) << line;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr("ledger.jsonl:7: expected a JSON object")) << line;
    EXPECT_THAT(e.status().message(), HasSubstr(why)) << e.status().message();
  }
}

// What json_util lets through, for the record: a member given twice (the
// last one counts) and null (the same as a missing member).
TEST(LedgerLineTest, DuplicateMembersAndNullFollowJsonUtil) {
  auto dup = ParseLedgerLine(
      R"({"at":"2024-05-01T12:00:00Z","key":"b","schema":"1.x","kind":"token","key":"a"})", "l", 1);
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(dup->key, "a");
  auto null =
      ParseLedgerLine(R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":null})", "l", 2);
  EXPECT_THAT(null.status().message(), HasSubstr("l:2: expected a JSON object"));
  EXPECT_THAT(null.status().message(), HasSubstr("missing \"key\""));
}

TEST(LedgerReaderTest, LeavesAnUnfinishedLastLineForLater) {
  const std::string path = TempPath("growing.jsonl");
  const std::string l1 = R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":"a"})";
  const std::string l2 = R"({"at":"2024-05-01T12:00:01Z","schema":"2.x","kind":"client","key":"b"})";
  WriteFile(path, l1 + "\n" + l2.substr(0, 20));
  auto reader = LedgerReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<std::string> keys;
  auto sink = [&](LedgerEntry e) {
    keys.push_back(absl::StrCat(e.line, ":", e.key));
    return absl::OkStatus();
  };
  ASSERT_TRUE((*reader)->Read(false, sink).ok());
  EXPECT_THAT(keys, ElementsAre("1:a"));
  WriteFile(path, l2.substr(20), "a");  // the writer finishes the line, without a newline yet
  ASSERT_TRUE((*reader)->Read(false, sink).ok());
  EXPECT_THAT(keys, ElementsAre("1:a"));
  ASSERT_TRUE((*reader)->Read(true, sink).ok());  // final: an unterminated last line counts
  EXPECT_THAT(keys, ElementsAre("1:a", "2:b"));
  std::remove(path.c_str());
}

TEST(LedgerReaderTest, MalformedLineStopsTheRead) {
  const std::string path = TempPath("bad.jsonl");
  WriteFile(path, R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"token","key":"a"})"
                  "\n\n");
  auto reader = LedgerReader::Open(path);
  ASSERT_TRUE(reader.ok());
  int n = 0;
  absl::Status st = (*reader)->Read(true, [&](LedgerEntry) {
    ++n;
    return absl::OkStatus();
  });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr(path + ":2: expected"));
  std::remove(path.c_str());
  EXPECT_EQ(LedgerReader::Open(path).status().code(), absl::StatusCode::kNotFound);
}

// ---- the merge ----

class VectorSource : public RowSource {
 public:
  explicit VectorSource(std::vector<Row> rows) : rows_(std::move(rows)) {}
  absl::StatusOr<bool> Next(Row* row) override {
    if (i_ == rows_.size()) return false;
    *row = rows_[i_++];
    return true;
  }

 private:
  std::vector<Row> rows_;
  size_t i_ = 0;
};

Row R(std::string key, bool active, bool before_snapshot = true, bool after_cutoff = false,
      std::string request_id = "", std::string challenge = "", std::string client = "") {
  Row r;
  r.key = std::move(key);
  r.active = active;
  r.created_before_snapshot = before_snapshot;
  r.created_at_or_after_cutoff = after_cutoff;
  r.request_id = std::move(request_id);
  r.challenge_id = std::move(challenge);
  r.client_id = std::move(client);
  return r;
}

LedgerEntry Green(LedgerKind kind, std::string key) {
  LedgerEntry e;
  e.schema = LedgerSchema::kGreen;
  e.kind = kind;
  e.key = std::move(key);
  return e;
}

TEST(EntityComparisonTest, ClassifiesEveryCase) {
  // Key order is byte order; each key is one case.
  VectorSource blue({
      R("a-same", true),
      R("b-both-inactive", false),
      R("c-lost-inactive-on-blue", false),
      R("e-false-inactive-on-green", true),
      R("f-false-gone-on-green", true),
      R("g-accepted-loss", true, /*before_snapshot=*/false),
      R("h-gone-inactive-both", false),
      R("i-revoked-on-green", true, true, false, "rid-revoked"),
      R("j-consent-revoked-on-green", true, true, false, "rid-x", "consent-1"),
      R("k-client-deleted-on-green", true, true, false, "rid-y", "", "client-9"),
  });
  VectorSource green({
      R("a-same", true),
      R("b-both-inactive", false),
      R("c-lost-inactive-on-blue", true),
      R("d-lost-deleted-on-blue", true),
      R("e-false-inactive-on-green", false),
      R("i-revoked-on-green", false, true, false, "rid-revoked"),
      R("m-created-on-green", true, false, /*after_cutoff=*/true),
      R("n-green-only-inactive", false),
  });
  GreenRevocations rev;
  rev.Add(Green(LedgerKind::kToken, "rid-revoked"));
  rev.Add(Green(LedgerKind::kConsent, "consent-1"));
  rev.Add(Green(LedgerKind::kClient, "client-9"));
  EntityComparison cmp(Entity::kAccess, "hydra_oauth2_access", "hydra_oauth2_access");
  ASSERT_TRUE(cmp.Run(blue, green, rev).ok());
  v1::CheckEntityResult r = cmp.Result(10);
  EXPECT_EQ(r.entity(), "access");
  EXPECT_EQ(r.blue_rows(), 10);
  EXPECT_EQ(r.green_rows(), 8);
  EXPECT_EQ(r.matched(), 5);
  EXPECT_EQ(r.lost(), 2);
  EXPECT_THAT(r.lost_keys(), ElementsAre("c-lost-inactive-on-blue", "d-lost-deleted-on-blue"));
  EXPECT_EQ(r.false_revocations(), 2);
  EXPECT_THAT(r.false_revocation_keys(), ElementsAre("e-false-inactive-on-green", "f-false-gone-on-green"));
  EXPECT_EQ(r.accepted_losses(), 1);
  EXPECT_EQ(r.created_on_green(), 1);
  EXPECT_EQ(r.revoked_on_green(), 3);
  EXPECT_EQ(r.superseded_on_green(), 0);
}

TEST(EntityComparisonTest, LateLedgerLinesAndRotationsClearFindings) {
  VectorSource blue({R("s1", true, true, false, "rid-rotated"), R("s2", true, true, false, "rid-late")});
  VectorSource green({R("s1", false, true, false, "rid-rotated")});
  GreenRevocations rev;
  EntityComparison cmp(Entity::kRefresh, "hydra_oauth2_refresh", "hydra_oauth2_refresh");
  ASSERT_TRUE(cmp.Run(blue, green, rev).ok());
  EXPECT_EQ(cmp.Result(10).false_revocations(), 2);
  // Read after the merge: a rotation of another signature of the chain (its
  // request id resolved separately) and a token revocation.
  rev.Add(Green(LedgerKind::kRefresh, "s0-older"));
  EXPECT_THAT(rev.TakeUnresolvedRefreshSignatures(), ElementsAre("s0-older"));
  EXPECT_TRUE(rev.TakeUnresolvedRefreshSignatures().empty());
  rev.AddRotatedRequestId("rid-rotated");
  rev.Add(Green(LedgerKind::kToken, "rid-late"));
  cmp.Resolve(rev);
  v1::CheckEntityResult r = cmp.Result(10);
  EXPECT_EQ(r.false_revocations(), 0);
  EXPECT_EQ(r.revoked_on_green(), 2);
}

TEST(EntityComparisonTest, BlueLedgerEntriesExplainNothingAndExamplesAreCapped) {
  std::vector<Row> b, g;
  for (int i = 0; i < 25; ++i) {
    b.push_back(R(absl::StrCat("k", 100 + i), false));
    g.push_back(R(absl::StrCat("k", 100 + i), true));
  }
  VectorSource blue(b), green(g);
  GreenRevocations rev;
  LedgerEntry e = Green(LedgerKind::kLoginSession, "k100");
  e.schema = LedgerSchema::kBlue;
  rev.Add(e);
  EXPECT_EQ(rev.entries(), 0);
  EntityComparison cmp(Entity::kLoginSession, "s", "s");
  ASSERT_TRUE(cmp.Run(blue, green, rev).ok());
  v1::CheckEntityResult r = cmp.Result(3);
  EXPECT_EQ(r.lost(), 25);
  EXPECT_THAT(r.lost_keys(), ElementsAre("k100", "k101", "k102"));
}

TEST(EntityComparisonTest, SourceErrorsPropagate) {
  class Broken : public RowSource {
   public:
    absl::StatusOr<bool> Next(Row*) override { return absl::UnavailableError("green: connection lost"); }
  };
  VectorSource blue({R("a", true)});
  Broken green;
  EntityComparison cmp(Entity::kClient, "hydra_client", "hydra_client");
  absl::Status st = cmp.Run(blue, green, GreenRevocations());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
}

// ---- report file and summary ----

TEST(ReportTimesTest, TakesThePauseAndTheLastCopyingTransition) {
  const std::string path = TempPath("report.json");
  WriteFile(path, R"({
    "cutover_id": "c1", "phase": "PHASE_COMPLETED",
    "flip": {"succeeded": true, "paused_at": "2024-05-01T12:00:00.250Z", "flipped_at": "2024-05-01T12:00:01Z"},
    "timeline": [
      {"seq": "1", "at": "2024-05-01T10:00:00Z", "to": "PHASE_CAPTURING"},
      {"seq": "2", "at": "2024-05-01T10:00:05Z", "to": "PHASE_COPYING"},
      {"seq": "3", "at": "2024-05-01T10:30:00Z", "to": "PHASE_COPYING"},
      {"seq": "4", "at": "2024-05-01T11:00:00Z", "to": "PHASE_INDEXING"}
    ],
    "some_future_field": 1
  })");
  auto t = ReadReportTimes(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(FormatRfc3339(t->cutoff), "2024-05-01T12:00:00.250000Z");
  EXPECT_EQ(t->cutoff_source, "report flip.paused_at");
  ASSERT_TRUE(t->snapshot_at.has_value());
  EXPECT_EQ(FormatRfc3339(*t->snapshot_at), "2024-05-01T10:30:00.000000Z");

  // lowerCamel names (proto3 JSON default) work too; flippedAt is the fallback.
  WriteFile(path, R"({"flip": {"flippedAt": "2024-05-01T12:00:01Z"}})");
  t = ReadReportTimes(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->cutoff_source, "report flip.flipped_at");
  EXPECT_FALSE(t->snapshot_at.has_value());

  WriteFile(path, R"({"cutover_id": "c1", "phase": "PHASE_READY"})");
  EXPECT_THAT(ReadReportTimes(path).status().message(),
              HasSubstr("expected flip.paused_at or flip.flipped_at"));
  WriteFile(path, "[1,2]");
  EXPECT_THAT(ReadReportTimes(path).status().message(), HasSubstr("expected the JSON of `cutoverctl"));
  std::remove(path.c_str());
}

TEST(FormatReportTest, ListsOffendersAndEndsWithTheVerdict) {
  v1::CheckReport r;
  r.set_blue("127.0.0.1:1/b");
  r.set_green("127.0.0.1:2/g");
  r.set_blue_shape("1.11");
  r.set_green_shape("2.x");
  auto* e = r.add_entities();
  e->set_entity("access");
  e->set_lost(12);
  e->add_lost_keys("sig-1");
  r.mutable_ledger()->set_path("l.jsonl");
  r.mutable_ledger()->set_lost(1);
  auto* f = r.mutable_ledger()->add_lost_entries();
  f->set_line(3);
  f->set_kind("refresh");
  f->set_key("sig-9");
  f->set_detail("hydra_oauth2_refresh sig-9 still active");
  r.set_verdict("FAIL: 12 lost, 0 false revocations, 1 ledger revocation not in effect on green");
  const std::string text = FormatReport(r);
  EXPECT_THAT(text, HasSubstr("  access  sig-1\n  access  ... 11 more\n"));
  EXPECT_THAT(text, HasSubstr("l.jsonl:3  refresh sig-9"));
  EXPECT_THAT(text,
              testing::EndsWith(
                  "\nFAIL: 12 lost, 0 false revocations, 1 ledger revocation not in effect on green\n"));
}

}  // namespace
}  // namespace cutover::check
