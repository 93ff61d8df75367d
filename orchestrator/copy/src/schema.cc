#include "cutover/copy/schema.h"

#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"

namespace cutover::copy {

std::pair<std::string, std::string> SplitPassword(const std::string& dsn) {
  auto parsed = pg::ParseDsn(dsn, "DSN");
  if (!parsed.ok()) return {dsn, ""};
  std::string password;
  if (auto it = parsed->find("password"); it != parsed->end()) {
    password = it->second;
    parsed->erase(it);
  }
  return {pg::FormatDsn(*parsed), password};
}

namespace {

CommandSpec WithDsnPassword(CommandSpec spec, const std::string& password) {
  if (!password.empty()) spec.env["PGPASSWORD"] = password;
  spec.env["PGAPPNAME"] = "cutover-copy";
  return spec;
}

// pg_dump / pg_restore failures: lost connections are transient; anything
// else (missing role, bad object) needs an operator.
absl::Status RunPgTool(const CommandSpec& spec, absl::string_view context) {
  auto res = RunCommand(spec);
  if (!res.ok()) return Annotate(res.status(), context);
  if (res->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(context, ": did not finish within ", absl::FormatDuration(spec.timeout)));
  }
  if (res->exit_code == 0) return absl::OkStatus();
  std::string err = res->err.size() > 3000 ? "..." + res->err.substr(res->err.size() - 3000) : res->err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  const bool transient = err.find("could not connect") != std::string::npos ||
                         err.find("connection to server") != std::string::npos ||
                         err.find("server closed the connection") != std::string::npos ||
                         err.find("terminating connection") != std::string::npos;
  std::string msg = absl::StrCat(context, ": exit code ", res->exit_code, ": ", err);
  return transient ? absl::UnavailableError(msg) : absl::FailedPreconditionError(msg);
}

}  // namespace

absl::Status DumpSchema(const DumpOptions& options) {
  auto [dsn, password] = SplitPassword(options.blue_dsn);
  CommandSpec spec;
  spec.argv = {PgProgram("pg_dump"), "--schema-only", "--format=custom", "--no-subscriptions",
               absl::StrCat("--snapshot=", options.snapshot_id), absl::StrCat("--file=", options.output_path),
               "--exclude-schema=cutover_capture", "--exclude-schema=cutover_replay"};
  for (const auto& s : options.exclude_schemas) spec.argv.push_back(absl::StrCat("--exclude-schema=", s));
  spec.argv.push_back(absl::StrCat("--dbname=", dsn));
  spec.timeout = options.timeout;
  return RunPgTool(WithDsnPassword(std::move(spec), password), "dumping blue's schema (pg_dump)");
}

absl::StatusOr<std::string> ListToc(const std::string& dump_path, const std::string& section) {
  CommandSpec spec;
  spec.argv = {PgProgram("pg_restore"), "--list", absl::StrCat("--section=", section), dump_path};
  spec.timeout = absl::Minutes(5);
  return Annotate(RunCommandOk(spec), "listing the schema dump (pg_restore --list)");
}

TocFilterResult FilterToc(const std::string& toc, const std::set<uint32_t>& skip_oids) {
  // Entry lines: "<dumpId>; <catalog oid> <object oid> <desc> <schema> <name> <owner>".
  static constexpr uint32_t kPgClass = 1259, kPgConstraint = 2606, kPgTrigger = 2620;
  TocFilterResult result;
  for (absl::string_view line : absl::StrSplit(toc, '\n')) {
    if (line.empty()) continue;
    if (line[0] == ';') {
      absl::StrAppend(&result.list, line, "\n");
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint32_t catalog = 0, oid = 0;
    bool skip = f.size() > 3 && absl::SimpleAtoi(f[1], &catalog) && absl::SimpleAtoi(f[2], &oid) &&
                (catalog == kPgClass || catalog == kPgConstraint || catalog == kPgTrigger) && skip_oids.count(oid);
    if (skip) {
      absl::StrAppend(&result.list, "; cutover builds this itself: ", line, "\n");
      ++result.skipped;
    } else {
      absl::StrAppend(&result.list, line, "\n");
      ++result.kept;
    }
  }
  return result;
}

absl::Status Restore(const RestoreOptions& options) {
  auto [dsn, password] = SplitPassword(options.green_dsn);
  CommandSpec spec;
  spec.argv = {PgProgram("pg_restore"), absl::StrCat("--section=", options.section), "--exit-on-error",
               absl::StrCat("--dbname=", dsn)};
  if (options.no_owner) {
    spec.argv.push_back("--no-owner");
    spec.argv.push_back("--no-privileges");
  }
  if (!options.list_path.empty()) spec.argv.push_back(absl::StrCat("--use-list=", options.list_path));
  if (options.jobs > 1 && !options.single_transaction) {
    spec.argv.push_back(absl::StrCat("--jobs=", options.jobs));
  } else if (options.single_transaction) {
    spec.argv.push_back("--single-transaction");
  }
  spec.argv.push_back(options.dump_path);
  spec.timeout = options.timeout;
  return RunPgTool(WithDsnPassword(std::move(spec), password),
                   absl::StrCat("restoring ", options.section, " on green (pg_restore)"));
}

}  // namespace cutover::copy
