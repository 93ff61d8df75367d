#include "cutover/check/check.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "pg_side.h"

namespace cutover::check {
namespace {

constexpr absl::string_view kSourcePayload = "type.googleapis.com/cutover.check.ErrorSource";
constexpr size_t kLedgerBatch = 5000;

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// The ledger's blue entries, checked on green's snapshot in batches; green
// entries feed the revocations the comparisons take into account.
class LedgerCheck {
 public:
  // check_all: every entry is looked up on `green` (the serving side; blue
  // itself with --serving blue), not only those made on blue.
  LedgerCheck(PgSide* green, int max_examples, v1::LedgerCheckResult* result, bool check_all = false)
      : green_(green), max_examples_(max_examples), result_(result), check_all_(check_all) {}

  absl::Status Add(LedgerEntry e, GreenRevocations* revocations) {
    result_->set_entries(result_->entries() + 1);
    if (e.schema == LedgerSchema::kGreen) {
      result_->set_green_entries(result_->green_entries() + 1);
      revocations->Add(e);
      if (!check_all_) return absl::OkStatus();
    } else {
      result_->set_blue_entries(result_->blue_entries() + 1);
    }
    batch_.push_back(std::move(e));
    if (batch_.size() >= kLedgerBatch) return Flush();
    return absl::OkStatus();
  }

  absl::Status Flush() {
    std::map<LedgerKind, std::vector<const LedgerEntry*>> by_kind;
    for (const auto& e : batch_) by_kind[e.kind].push_back(&e);
    std::vector<v1::LedgerFinding> lost;
    for (const auto& [kind, entries] : by_kind) {
      std::vector<std::string> keys;
      std::vector<absl::Time> at;
      for (const LedgerEntry* e : entries) {
        keys.push_back(e->key);
        at.push_back(e->at);
      }
      auto found = green_->LedgerTargets(kind, keys, at);
      if (!found.ok()) return WithSource(found.status(), ErrorSource::kGreen);
      const std::vector<LedgerHit>& hits = *found;
      // Hits come ordered by entry, active ones first.
      std::vector<const LedgerHit*> first(entries.size(), nullptr);
      for (const auto& h : hits) {
        if (h.index >= 0 && h.index < static_cast<int64_t>(first.size()) && first[h.index] == nullptr) {
          first[h.index] = &h;
        }
      }
      for (size_t i = 0; i < entries.size(); ++i) {
        result_->set_checked(result_->checked() + 1);
        if (first[i] == nullptr) {
          result_->set_absent_on_green(result_->absent_on_green() + 1);
        } else if (first[i]->active) {
          v1::LedgerFinding f;
          f.set_line(entries[i]->line);
          f.set_at(entries[i]->at_text);
          f.set_kind(std::string(LedgerKindName(kind)));
          f.set_key(entries[i]->key);
          f.set_detail(absl::StrCat(
              first[i]->table, " ", first[i]->key,
              first[i]->table == "hydra_oauth2_access" || first[i]->table == "hydra_oauth2_refresh"
                  ? " still active"
                  : " still present"));
          lost.push_back(std::move(f));
        }
      }
    }
    std::sort(lost.begin(), lost.end(),
              [](const v1::LedgerFinding& a, const v1::LedgerFinding& b) { return a.line() < b.line(); });
    for (auto& f : lost) {
      result_->set_lost(result_->lost() + 1);
      if (result_->lost_entries_size() < max_examples_) *result_->add_lost_entries() = std::move(f);
    }
    batch_.clear();
    return absl::OkStatus();
  }

 private:
  PgSide* green_;
  int max_examples_;
  v1::LedgerCheckResult* result_;
  const bool check_all_;
  std::vector<LedgerEntry> batch_;
};

// Request ids of refresh signatures rotated or revoked on green, from
// whichever side still has the row.
absl::Status ResolveRotations(GreenRevocations* revocations, PgSide& blue, PgSide& green) {
  std::vector<std::string> sigs = revocations->TakeUnresolvedRefreshSignatures();
  if (sigs.empty()) return absl::OkStatus();
  for (PgSide* side : {&blue, &green}) {
    auto ids = side->RefreshRequestIds(sigs);
    if (!ids.ok()) {
      return WithSource(ids.status(), side == &blue ? ErrorSource::kBlue : ErrorSource::kGreen);
    }
    for (const auto& id : *ids) revocations->AddRotatedRequestId(id);
  }
  return absl::OkStatus();
}

std::string Describe(const v1::CheckEntityResult& r) {
  return absl::StrCat(r.entity(), ": ", r.blue_rows(), " blue / ", r.green_rows(), " green rows, ",
                      r.matched(), " matched, ", r.lost(), " lost, ", r.false_revocations(), " false, ",
                      r.accepted_losses(), " accepted losses (", HumanDuration(FromProto(r.duration())), ")");
}

}  // namespace

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

ErrorSource SourceOf(const absl::Status& status) {
  auto p = status.GetPayload(kSourcePayload);
  if (!p) return ErrorSource::kInput;
  if (*p == "blue") return ErrorSource::kBlue;
  if (*p == "green") return ErrorSource::kGreen;
  return ErrorSource::kInput;
}

absl::Status WithSource(absl::Status status, ErrorSource source) {
  if (status.ok()) return status;
  status.SetPayload(kSourcePayload, absl::Cord(source == ErrorSource::kBlue    ? "blue"
                                               : source == ErrorSource::kGreen ? "green"
                                                                               : "input"));
  return status;
}

namespace {

// --serving blue: the cutover was aborted or rolled back. Only the ledger is
// checked, every entry on blue (revocations made on green before a rollback
// must have been carried back).
absl::StatusOr<v1::CheckReport> RunServingBlueCheck(const CheckOptions& options) {
  const absl::Time start = absl::Now();
  v1::CheckReport report;
  report.set_blue(pg::DescribeDsn(options.blue_dsn));
  report.add_notes(
      "blue serves (--serving blue: aborted or rolled back): entities are not compared, every ledger entry "
      "(made on blue or on green) is checked on blue; ledger.checked/absent_on_green/lost refer to blue");
  if (options.ledger_path.empty()) {
    return WithSource(
        absl::InvalidArgumentError("--serving blue needs --ledger (only the ledger is checked)"),
        ErrorSource::kInput);
  }
  auto blue_or = PgSide::Open(options.blue_dsn, "blue");
  if (!blue_or.ok()) return WithSource(blue_or.status(), ErrorSource::kBlue);
  std::unique_ptr<PgSide> blue = std::move(*blue_or);
  report.set_blue_shape(hydra::ShapeName(blue->shape()));
  GreenRevocations unused;
  v1::LedgerCheckResult* ledger_result = report.mutable_ledger();
  ledger_result->set_path(options.ledger_path);
  LedgerCheck ledger_check(blue.get(), options.max_examples, ledger_result, /*check_all=*/true);
  auto opened = LedgerReader::Open(options.ledger_path);
  if (!opened.ok()) return WithSource(opened.status(), ErrorSource::kInput);
  auto sink = [&](LedgerEntry e) { return ledger_check.Add(std::move(e), &unused); };
  RETURN_IF_ERROR((*opened)->Read(/*final=*/false, sink));
  RETURN_IF_ERROR((*opened)->Read(/*final=*/true, sink));
  RETURN_IF_ERROR(ledger_check.Flush());
  blue->Close();
  if (options.progress) {
    options.progress(absl::StrCat("ledger ", options.ledger_path, ": ", ledger_result->entries(),
                                  " entries checked on blue, ", ledger_result->lost(), " not in effect"));
  }
  report.set_ledger_lost(ledger_result->lost());
  report.set_ok(report.ledger_lost() == 0);
  report.set_verdict(absl::StrCat(report.ok() ? "OK: " : "FAIL: ",
                                  Plural(report.ledger_lost(), "ledger revocation", "ledger revocations"),
                                  " not in effect on blue (blue serves)"));
  *report.mutable_duration() = ToProto(absl::Now() - start);
  return report;
}

}  // namespace

absl::StatusOr<v1::CheckReport> RunCheck(const CheckOptions& options) {
  if (options.serving_blue) return RunServingBlueCheck(options);
  const absl::Time start = absl::Now();
  auto say = [&](absl::string_view line) {
    if (options.progress) options.progress(line);
  };
  v1::CheckReport report;
  report.set_blue(pg::DescribeDsn(options.blue_dsn));
  report.set_green(pg::DescribeDsn(options.green_dsn));
  if (options.created_after) {
    *report.mutable_created_after() = ToProtoTime(*options.created_after);
    report.set_created_after_source(options.created_after_source);
  } else {
    report.add_notes(
        "no cutoff (--since-flip or --report): every row only on green is compared, so rows the workload "
        "created on green after the flip count as lost when active");
  }
  if (options.snapshot_at) {
    *report.mutable_snapshot_at() = ToProtoTime(*options.snapshot_at);
    report.set_snapshot_source(options.snapshot_source);
  } else {
    report.add_notes(
        "no snapshot time (--snapshot-at, or a report whose timeline has COPYING): every row only on blue "
        "counts as an accepted loss, so rows of the snapshot deleted on green are not reported as false "
        "revocations");
  }

  auto blue_or = PgSide::Open(options.blue_dsn, "blue");
  if (!blue_or.ok()) return WithSource(blue_or.status(), ErrorSource::kBlue);
  std::unique_ptr<PgSide> blue = std::move(*blue_or);
  auto green_or = PgSide::Open(options.green_dsn, "green");
  if (!green_or.ok()) return WithSource(green_or.status(), ErrorSource::kGreen);
  std::unique_ptr<PgSide> green = std::move(*green_or);
  report.set_blue_shape(hydra::ShapeName(blue->shape()));
  report.set_green_shape(hydra::ShapeName(green->shape()));
  say(absl::StrCat("blue ", report.blue(), " is Hydra ", report.blue_shape(), ", green ", report.green(),
                   " is Hydra ", report.green_shape()));

  // The ledger is read after green's snapshot was taken (PgSide::Open), so
  // every revocation green's snapshot shows was committed before this read;
  // the few acknowledged only while the check ran are picked up by the
  // final read below, before anything is reported.
  GreenRevocations revocations;
  std::unique_ptr<LedgerReader> ledger;
  v1::LedgerCheckResult* ledger_result = report.mutable_ledger();
  LedgerCheck ledger_check(green.get(), options.max_examples, ledger_result);
  auto sink = [&](LedgerEntry e) { return ledger_check.Add(std::move(e), &revocations); };
  if (!options.ledger_path.empty()) {
    ledger_result->set_path(options.ledger_path);
    auto opened = LedgerReader::Open(options.ledger_path);
    if (!opened.ok()) return WithSource(opened.status(), ErrorSource::kInput);
    ledger = std::move(*opened);
    RETURN_IF_ERROR(ledger->Read(/*final=*/false, sink));
    RETURN_IF_ERROR(ResolveRotations(&revocations, *blue, *green));
    say(absl::StrCat("ledger ", options.ledger_path, ": ", ledger_result->entries(), " entries so far (",
                     ledger_result->blue_entries(), " made on blue, ", ledger_result->green_entries(),
                     " on green)"));
  } else {
    report.add_notes(
        "no ledger (--ledger): revocations made on green are unknown, so each shows as a false revocation, "
        "and no acknowledged revocation was checked");
  }

  std::vector<EntityComparison> comparisons;
  for (Entity entity : AllEntities()) {
    comparisons.emplace_back(entity, QueryFor(entity, blue->shape()).table,
                             QueryFor(entity, green->shape()).table);
    EntityComparison& cmp = comparisons.back();
    const absl::Time entity_start = absl::Now();
    auto bs = blue->Stream(entity, options.snapshot_at, options.created_after);
    if (!bs.ok()) return WithSource(bs.status(), ErrorSource::kBlue);
    auto gs = green->Stream(entity, options.snapshot_at, options.created_after);
    if (!gs.ok()) return WithSource(gs.status(), ErrorSource::kGreen);
    // The row sources tag their errors with their side.
    RETURN_IF_ERROR(cmp.Run(**bs, **gs, revocations, options.progress));
    cmp.AddDuration(absl::Now() - entity_start);
    say(Describe(cmp.Result(0)));
  }

  if (ledger) {
    RETURN_IF_ERROR(ledger->Read(/*final=*/true, sink));
    RETURN_IF_ERROR(ResolveRotations(&revocations, *blue, *green));
    RETURN_IF_ERROR(ledger_check.Flush());
    say(absl::StrCat("ledger ", options.ledger_path, ": ", ledger_result->entries(), " entries, ",
                     ledger_result->checked(), " checked on green, ", ledger_result->lost(),
                     " not in effect"));
  }
  blue->Close();
  green->Close();

  for (auto& cmp : comparisons) {
    cmp.Resolve(revocations);
    v1::CheckEntityResult r = cmp.Result(options.max_examples);
    report.set_lost(report.lost() + r.lost());
    report.set_false_revocations(report.false_revocations() + r.false_revocations());
    report.set_accepted_losses(report.accepted_losses() + r.accepted_losses());
    *report.add_entities() = std::move(r);
  }
  report.set_ledger_lost(ledger_result->lost());
  report.set_ok(report.lost() == 0 && report.false_revocations() == 0 && report.ledger_lost() == 0);
  std::string verdict =
      absl::StrCat(report.ok() ? "OK: " : "FAIL: ", report.lost(), " lost, ",
                   Plural(report.false_revocations(), "false revocation", "false revocations"));
  if (report.ledger_lost() > 0) {
    absl::StrAppend(&verdict, ", ", Plural(report.ledger_lost(), "ledger revocation", "ledger revocations"),
                    " not in effect on green");
  }
  report.set_verdict(verdict);
  *report.mutable_duration() = ToProto(absl::Now() - start);
  return report;
}

absl::StatusOr<ReportTimes> ReadReportTimes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--report ", path, ": cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  v1::Report report;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &report, o);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--report ", path,
                     ": expected the JSON of `cutoverctl --output json report ID` "
                     "(a cutover.v1.Report): ",
                     st.ToString()));
  }
  ReportTimes t;
  if (report.flip().has_paused_at()) {
    t.cutoff = FromProtoTime(report.flip().paused_at());
    t.cutoff_source = "report flip.paused_at";
  } else if (report.flip().has_flipped_at()) {
    t.cutoff = FromProtoTime(report.flip().flipped_at());
    t.cutoff_source = "report flip.flipped_at";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--report ", path,
                     ": expected flip.paused_at or flip.flipped_at (a cutover that has flipped); "
                     "the report has neither"));
  }
  for (const auto& tr : report.timeline()) {
    if (tr.to() == v1::PHASE_COPYING && tr.has_at()) t.snapshot_at = FromProtoTime(tr.at());
  }
  return t;
}

std::string FormatReport(const v1::CheckReport& r) {
  std::string out;
  absl::StrAppend(&out, "blue  ", r.blue(), " (Hydra ", r.blue_shape(), ")\n");
  absl::StrAppend(&out, "green ", r.green(), " (Hydra ", r.green_shape(), ")\n");
  if (r.has_created_after()) {
    absl::StrAppend(&out, "cutoff: rows only on green created from ",
                    FormatRfc3339(FromProtoTime(r.created_after())), " on are ignored (",
                    r.created_after_source(), ")\n");
  }
  if (r.has_snapshot_at()) {
    absl::StrAppend(&out, "snapshot: rows only on blue created before ",
                    FormatRfc3339(FromProtoTime(r.snapshot_at())), " were copied (", r.snapshot_source(),
                    ")\n");
  }
  absl::StrAppend(
      &out, "\n",
      absl::StrFormat("%-14s %10s %10s %10s %6s %6s %9s %9s %9s %10s\n", "entity", "blue rows", "green rows",
                      "matched", "lost", "false", "accepted", "green-new", "green-rev", "superseded"));
  for (const auto& e : r.entities()) {
    absl::StrAppend(&out, absl::StrFormat("%-14s %10d %10d %10d %6d %6d %9d %9d %9d %10d\n", e.entity(),
                                          e.blue_rows(), e.green_rows(), e.matched(), e.lost(),
                                          e.false_revocations(), e.accepted_losses(), e.created_on_green(),
                                          e.revoked_on_green(), e.superseded_on_green()));
  }
  const auto& l = r.ledger();
  if (!l.path().empty()) {
    absl::StrAppend(&out, "\nledger ", l.path(), ": ", Plural(l.entries(), "entry", "entries"), " (",
                    l.blue_entries(), " made on blue, ", l.green_entries(), " on green); ", l.checked(),
                    " checked on green: ", l.absent_on_green(), " absent there, ", l.lost(),
                    " not in effect\n");
  }
  auto list = [&](absl::string_view title, bool lost) {
    bool any = false;
    for (const auto& e : r.entities()) {
      const auto& keys = lost ? e.lost_keys() : e.false_revocation_keys();
      const int64_t n = lost ? e.lost() : e.false_revocations();
      if (n == 0) continue;
      if (!any) absl::StrAppend(&out, "\n", title, ":\n");
      any = true;
      for (const auto& k : keys) absl::StrAppend(&out, "  ", e.entity(), "  ", k, "\n");
      if (n > keys.size()) absl::StrAppend(&out, "  ", e.entity(), "  ... ", n - keys.size(), " more\n");
    }
  };
  list("lost revocations (active on green, deleted or inactive on blue)", true);
  list("false revocations (active on blue, gone or inactive on green, no green revocation explains it)",
       false);
  if (l.lost() > 0) {
    absl::StrAppend(&out, "\nledger revocations not in effect on green:\n");
    for (const auto& f : l.lost_entries()) {
      absl::StrAppend(&out, "  ", l.path(), ":", f.line(), "  ", f.kind(), " ", f.key(), " (", f.at(),
                      "): ", f.detail(), "\n");
    }
    if (l.lost() > l.lost_entries_size()) {
      absl::StrAppend(&out, "  ... ", l.lost() - l.lost_entries_size(), " more\n");
    }
  }
  if (!r.notes().empty()) {
    absl::StrAppend(&out, "\nnotes:\n");
    for (const auto& n : r.notes()) absl::StrAppend(&out, "  - ", n, "\n");
  }
  absl::StrAppend(&out, "\n", r.verdict(), "\n");
  return out;
}

}  // namespace cutover::check
