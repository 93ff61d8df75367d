// What the copier needs to know about blue, read from the system catalogs
// inside the exported snapshot: tables to copy, their indexes and constraints
// (the "fast path" the copier builds itself, in parallel), sequences, and
// objects it cannot copy. Plain data; ReadCatalog is the only I/O here.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/common/pg.h"

namespace cutover::copy {

struct TableInfo {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  char relkind = 'r';         // 'r' plain, 'p' partitioned (no data of its own)
  bool is_partition = false;  // a leaf of a partitioned table
  int64_t rows_estimated = 0;  // pg_class.reltuples (0 when never analyzed)
  int64_t bytes_estimated = 0;  // pg_table_size (heap + TOAST)
  bool copy_data = true;       // false for partitioned parents and excluded data

  std::string QualifiedName() const;  // "schema"."name", quoted
  std::string DisplayName() const;    // schema.name, for people
};

// An index on a table the copier builds itself (plain tables only, not
// partitions nor partitioned tables: those go through pg_restore).
struct IndexInfo {
  uint32_t oid = 0;
  uint32_t table_oid = 0;
  std::string schema;
  std::string name;
  std::string definition;  // pg_get_indexdef()
  bool is_clustered = false;
  bool is_replica_identity = false;
  int64_t bytes = 0;
  // Constraint backed by this index (PRIMARY KEY / UNIQUE / EXCLUDE), if any.
  uint32_t constraint_oid = 0;
  std::string constraint_name;
  char constraint_type = 0;  // 'p', 'u', 'x' or 0
  bool deferrable = false;
  bool initially_deferred = false;
  std::string constraint_definition;  // pg_get_constraintdef(), for EXCLUDE
};

struct ForeignKeyInfo {
  uint32_t oid = 0;
  uint32_t table_oid = 0;
  uint32_t referenced_table_oid = 0;
  std::string name;
  std::string definition;  // pg_get_constraintdef(), includes NOT VALID when so on blue
  bool validated = true;
};

// A schema-qualified relation name (sequences, materialized views).
struct RelationName {
  std::string schema;
  std::string name;
  std::string QualifiedName() const;
};

// Objects the copier refuses, each with where it is.
struct Unsupported {
  std::string what;    // "foreign table", "large objects", ...
  std::string where;   // "public.remote_users"
};

struct Catalog {
  std::vector<TableInfo> tables;
  std::vector<IndexInfo> indexes;
  std::vector<ForeignKeyInfo> foreign_keys;
  std::vector<RelationName> sequences;
  // Materialized views populated on blue, in creation (oid) order: refreshed
  // on green after post-data (a schema-only dump leaves them unpopulated).
  std::vector<RelationName> populated_matviews;
  std::vector<Unsupported> unsupported;
  std::vector<std::string> extensions;    // other than plpgsql
  std::vector<std::string> owner_roles;   // roles owning objects to copy
  // Triggers on copied tables whose function lives in cutover_capture: never copied.
  std::set<uint32_t> capture_trigger_oids;

  const TableInfo* FindTable(uint32_t oid) const;
  int64_t TotalBytes() const;
};

struct CatalogFilter {
  // Always excluded: pg_catalog, information_schema, pg_toast*, pg_temp*,
  // cutover_capture, cutover_replay.
  std::vector<std::string> exclude_schemas;
  // "schema.table" whose data is not copied.
  std::vector<std::string> exclude_table_data;
};

// Reads the catalog through `tx`, which must already run in the exported
// snapshot (REPEATABLE READ) on blue.
absl::StatusOr<Catalog> ReadCatalog(pqxx::transaction_base& tx, const CatalogFilter& filter);

// Schemas never copied, whatever the plan says.
const std::vector<std::string>& AlwaysExcludedSchemas();

}  // namespace cutover::copy
