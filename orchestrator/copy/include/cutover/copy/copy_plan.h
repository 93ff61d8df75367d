// The copy plan: which tables to stream and which post-data steps the copier
// runs itself, with the SQL of each step and the order constraints between
// them. Pure function of the catalog; unit-tested without a database.
//
// Order guarantees the scheduler enforces (scheduler.h):
//  - a table's kIndex / kExclusion steps start only after its data is in;
//  - its kAttachConstraint steps start after all of its index steps;
//  - kAnalyze after everything else of that table;
//  - a kForeignKey step after both its table and the referenced table have
//    finished their attach steps (the referenced unique key exists).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "cutover/copy/catalog.h"

namespace cutover::copy {

enum class StepKind {
  kIndex,             // CREATE [UNIQUE] INDEX (also for PK / UNIQUE constraints)
  kExclusion,         // ALTER TABLE ADD CONSTRAINT ... EXCLUDE (builds its own index)
  kAttachConstraint,  // ADD CONSTRAINT ... PRIMARY KEY / UNIQUE USING INDEX; CLUSTER ON; REPLICA IDENTITY
  kForeignKey,        // ADD CONSTRAINT ... NOT VALID, then VALIDATE
  kAnalyze,           // ANALYZE table
};

const char* StepKindName(StepKind kind);

struct PostStep {
  StepKind kind;
  uint32_t table_oid = 0;
  uint32_t referenced_table_oid = 0;  // kForeignKey only
  std::string name;                   // index / constraint name, for progress and errors
  // Statements run in order, each in its own transaction.
  std::vector<std::string> sql;
  int64_t weight = 0;  // bytes, for priority (largest first)
};

struct CopyPlan {
  // Tables in the order data workers take them: largest first.
  std::vector<TableInfo> tables;
  std::vector<PostStep> steps;
  // Catalog oids (pg_class for indexes, pg_constraint for constraints,
  // pg_trigger for capture triggers) that the schema restore must skip
  // because the copier builds them itself (or never copies them).
  std::set<uint32_t> handled_oids;
  int32_t index_count = 0;
  int32_t constraint_count = 0;
};

struct PlanOptions {
  bool analyze = true;
};

CopyPlan BuildCopyPlan(const Catalog& catalog, const PlanOptions& options);

}  // namespace cutover::copy
