#include "cutover/copy/copy_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cutover::copy {

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kIndex: return "index";
    case StepKind::kExclusion: return "exclusion constraint";
    case StepKind::kAttachConstraint: return "constraint";
    case StepKind::kForeignKey: return "foreign key";
    case StepKind::kAnalyze: return "analyze";
  }
  return "step";
}

CopyPlan BuildCopyPlan(const Catalog& catalog, const PlanOptions& options) {
  CopyPlan plan;
  plan.tables = catalog.tables;
  std::stable_sort(plan.tables.begin(), plan.tables.end(),
                   [](const TableInfo& a, const TableInfo& b) { return a.bytes_estimated > b.bytes_estimated; });

  for (const auto& ix : catalog.indexes) {
    const TableInfo* table = catalog.FindTable(ix.table_oid);
    if (table == nullptr) continue;
    const std::string qtable = table->QualifiedName();
    plan.handled_oids.insert(ix.oid);
    ++plan.index_count;
    if (ix.constraint_type == 'x') {
      // EXCLUDE constraints cannot adopt an index: the constraint builds it.
      plan.handled_oids.insert(ix.constraint_oid);
      ++plan.constraint_count;
      plan.steps.push_back({StepKind::kExclusion, ix.table_oid, 0, ix.constraint_name,
                            {absl::StrCat("ALTER TABLE ONLY ", qtable, " ADD CONSTRAINT ",
                                          pg::QuoteIdent(ix.constraint_name), " ", ix.constraint_definition)},
                            ix.bytes});
    } else {
      plan.steps.push_back({StepKind::kIndex, ix.table_oid, 0, ix.name, {ix.definition}, ix.bytes});
    }
    std::vector<std::string> attach;
    if (ix.constraint_type == 'p' || ix.constraint_type == 'u') {
      plan.handled_oids.insert(ix.constraint_oid);
      ++plan.constraint_count;
      std::string sql = absl::StrCat("ALTER TABLE ONLY ", qtable, " ADD CONSTRAINT ",
                                     pg::QuoteIdent(ix.constraint_name),
                                     ix.constraint_type == 'p' ? " PRIMARY KEY" : " UNIQUE", " USING INDEX ",
                                     pg::QuoteIdent(ix.name));
      if (ix.deferrable) absl::StrAppend(&sql, " DEFERRABLE");
      if (ix.initially_deferred) absl::StrAppend(&sql, " INITIALLY DEFERRED");
      attach.push_back(std::move(sql));
    }
    const std::string qindex = pg::QuoteIdent(ix.constraint_type == 'x' ? ix.constraint_name : ix.name);
    if (ix.is_clustered) attach.push_back(absl::StrCat("ALTER TABLE ONLY ", qtable, " CLUSTER ON ", qindex));
    if (ix.is_replica_identity) {
      attach.push_back(absl::StrCat("ALTER TABLE ONLY ", qtable, " REPLICA IDENTITY USING INDEX ", qindex));
    }
    if (!attach.empty()) {
      plan.steps.push_back({StepKind::kAttachConstraint, ix.table_oid, 0,
                            ix.constraint_name.empty() ? ix.name : ix.constraint_name, std::move(attach), 0});
    }
  }

  for (const auto& fk : catalog.foreign_keys) {
    const TableInfo* table = catalog.FindTable(fk.table_oid);
    if (table == nullptr) continue;
    plan.handled_oids.insert(fk.oid);
    ++plan.constraint_count;
    // Adding NOT VALID then validating takes weaker locks than a plain ADD,
    // so validations of different tables and index builds run side by side.
    const bool has_not_valid = fk.definition.find(" NOT VALID") != std::string::npos;
    std::vector<std::string> sql = {absl::StrCat("ALTER TABLE ONLY ", table->QualifiedName(), " ADD CONSTRAINT ",
                                                 pg::QuoteIdent(fk.name), " ", fk.definition,
                                                 has_not_valid ? "" : " NOT VALID")};
    if (fk.validated) {
      sql.push_back(absl::StrCat("ALTER TABLE ", table->QualifiedName(), " VALIDATE CONSTRAINT ",
                                 pg::QuoteIdent(fk.name)));
    }
    plan.steps.push_back(
        {StepKind::kForeignKey, fk.table_oid, fk.referenced_table_oid, fk.name, std::move(sql), table->bytes_estimated});
  }

  plan.handled_oids.insert(catalog.capture_trigger_oids.begin(), catalog.capture_trigger_oids.end());

  if (options.analyze) {
    for (const auto& t : plan.tables) {
      if (!t.copy_data) continue;
      plan.steps.push_back({StepKind::kAnalyze, t.oid, 0, t.DisplayName(),
                            {absl::StrCat("ANALYZE ", t.QualifiedName())}, t.bytes_estimated});
    }
  }
  return plan;
}

}  // namespace cutover::copy
