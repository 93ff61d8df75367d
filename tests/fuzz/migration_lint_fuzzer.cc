// libFuzzer target: the migration linter (cutover::migrate::LintFiles) on
// arbitrary SQL text, as `cutoverctl lint-migrations` and the MIGRATING
// phase read it: PostgreSQL's lexer and grammar (libpg_query), the
// statement splitter and every rule over the typed parse tree. The input is
// one or more files separated by NUL bytes (a NUL cannot occur in a SQL
// file), so state carried from file to file is fuzzed too. LintFiles never
// fails: whatever the text, it must return a report whose counts match its
// findings. Corpus: corpus/migration_lint, dictionary: migration_lint.dict
// (docs/fuzzing.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "cutover/migrate/lint.h"
#include "fuzz_common.h"

namespace {

[[noreturn]] void Fail(const std::string& what) { cutover::fuzz::Fail("migration_lint", what); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<cutover::migrate::SqlFile> files;
  for (absl::string_view body : absl::StrSplit(input, absl::ByChar('\0'))) {
    files.push_back({absl::StrCat(files.size() + 1, "_fuzz.sql"), std::string(body)});
  }
  const cutover::v1::MigrationLintReport report = cutover::migrate::LintFiles(files);
  int errors = 0;
  int warnings = 0;
  for (const cutover::v1::MigrationLintFinding& f : report.findings()) {
    if (f.severity() == cutover::v1::LINT_SEVERITY_ERROR) ++errors;
    if (f.severity() == cutover::v1::LINT_SEVERITY_WARNING) ++warnings;
    if (f.rule().empty() || !cutover::migrate::IsKnownRule(f.rule()))
      Fail("finding with an unknown rule: " + f.rule());
    if (cutover::migrate::FormatFinding(f).empty()) Fail("empty formatted finding");
  }
  if (report.errors() != errors || report.warnings() != warnings) {
    Fail(absl::StrCat("report counts ", report.errors(), " errors, ", report.warnings(),
                      " warnings; findings say ", errors, " and ", warnings));
  }
  if (cutover::migrate::Summary(report).empty()) Fail("empty summary");
  return 0;
}
