#include "cutover/copy/catalog.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cutover::copy {
namespace {

std::string TextArray(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  quoted.reserve(items.size());
  for (const auto& i : items) quoted.push_back(pg::QuoteLiteral(i));
  return absl::StrCat("ARRAY[", absl::StrJoin(quoted, ","), "]::text[]");
}

// Schema filter shared by every query below (alias n = pg_namespace).
std::string SchemaPredicate(const std::vector<std::string>& excluded) {
  return absl::StrCat("n.nspname <> ALL(", TextArray(excluded),
                      ") AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'");
}

// Objects that belong to an extension are recreated by CREATE EXTENSION.
constexpr char kNotExtensionMember[] =
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e')";

}  // namespace

std::string TableInfo::QualifiedName() const { return pg::QualifiedName(schema, name); }
std::string TableInfo::DisplayName() const { return absl::StrCat(schema, ".", name); }
std::string RelationName::QualifiedName() const { return pg::QualifiedName(schema, name); }

const TableInfo* Catalog::FindTable(uint32_t oid) const {
  for (const auto& t : tables) {
    if (t.oid == oid) return &t;
  }
  return nullptr;
}

int64_t Catalog::TotalBytes() const {
  int64_t sum = 0;
  for (const auto& t : tables) {
    if (t.copy_data) sum += t.bytes_estimated;
  }
  return sum;
}

const std::vector<std::string>& AlwaysExcludedSchemas() {
  static const std::vector<std::string> kSchemas = {"pg_catalog", "information_schema", "cutover_capture",
                                                    "cutover_replay"};
  return kSchemas;
}

absl::StatusOr<Catalog> ReadCatalog(pqxx::transaction_base& tx, const CatalogFilter& filter) {
  Catalog cat;
  std::vector<std::string> excluded = AlwaysExcludedSchemas();
  excluded.insert(excluded.end(), filter.exclude_schemas.begin(), filter.exclude_schemas.end());
  const std::string schema_pred = SchemaPredicate(excluded);
  try {
    // Tables: plain tables (including partitions) and partitioned parents.
    auto rows = tx.exec(absl::StrCat(
        "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition, "
        "       greatest(c.reltuples, 0)::bigint, pg_table_size(c.oid) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND ",
        schema_pred, " AND ", kNotExtensionMember, " ORDER BY pg_table_size(c.oid) DESC, n.nspname, c.relname"));
    for (const auto& r : rows) {
      TableInfo t;
      t.oid = r[0].as<uint32_t>();
      t.schema = r[1].as<std::string>();
      t.name = r[2].as<std::string>();
      t.relkind = r[3].as<std::string>()[0];
      t.is_partition = r[4].as<bool>();
      t.rows_estimated = r[5].as<int64_t>();
      t.bytes_estimated = r[6].as<int64_t>();
      t.copy_data = t.relkind == 'r';
      const std::string display = t.DisplayName();
      if (std::find(filter.exclude_table_data.begin(), filter.exclude_table_data.end(), display) !=
          filter.exclude_table_data.end()) {
        t.copy_data = false;
      }
      cat.tables.push_back(std::move(t));
    }

    // Indexes of plain, non-partition tables, with the constraint they back.
    rows = tx.exec(absl::StrCat(
        "SELECT i.indexrelid, i.indrelid, n.nspname, ic.relname, pg_get_indexdef(i.indexrelid), "
        "       i.indisclustered, i.indisreplident, pg_relation_size(i.indexrelid), "
        "       coalesce(con.oid, 0), coalesce(con.conname, ''), coalesce(con.contype::text, ''), "
        "       coalesce(con.condeferrable, false), coalesce(con.condeferred, false), "
        "       CASE WHEN con.oid IS NULL THEN '' ELSE pg_get_constraintdef(con.oid) END "
        "FROM pg_index i "
        "JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
        "     AND con.contype IN ('p', 'u', 'x') "
        "WHERE c.relkind = 'r' AND NOT c.relispartition AND ic.relkind = 'i' AND i.indisvalid "
        "  AND c.relpersistence <> 't' AND ",
        schema_pred, " AND ", kNotExtensionMember, " ORDER BY pg_relation_size(i.indexrelid) DESC"));
    for (const auto& r : rows) {
      IndexInfo ix;
      ix.oid = r[0].as<uint32_t>();
      ix.table_oid = r[1].as<uint32_t>();
      ix.schema = r[2].as<std::string>();
      ix.name = r[3].as<std::string>();
      ix.definition = r[4].as<std::string>();
      ix.is_clustered = r[5].as<bool>();
      ix.is_replica_identity = r[6].as<bool>();
      ix.bytes = r[7].as<int64_t>();
      ix.constraint_oid = r[8].as<uint32_t>();
      ix.constraint_name = r[9].as<std::string>();
      const std::string ct = r[10].as<std::string>();
      ix.constraint_type = ct.empty() ? 0 : ct[0];
      ix.deferrable = r[11].as<bool>();
      ix.initially_deferred = r[12].as<bool>();
      ix.constraint_definition = r[13].as<std::string>();
      cat.indexes.push_back(std::move(ix));
    }

    // Foreign keys between plain, non-partition tables (constraint-local, not
    // inherited copies).
    rows = tx.exec(absl::StrCat(
        "SELECT con.oid, con.conrelid, con.confrelid, con.conname, pg_get_constraintdef(con.oid), "
        "       con.convalidated "
        "FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class rc ON rc.oid = con.confrelid "
        "WHERE con.contype = 'f' AND con.conislocal AND con.conparentid = 0 "
        "  AND c.relkind = 'r' AND NOT c.relispartition "
        "  AND rc.relkind = 'r' AND NOT rc.relispartition AND ",
        schema_pred, " AND ", kNotExtensionMember, " ORDER BY n.nspname, c.relname, con.conname"));
    for (const auto& r : rows) {
      ForeignKeyInfo fk;
      fk.oid = r[0].as<uint32_t>();
      fk.table_oid = r[1].as<uint32_t>();
      fk.referenced_table_oid = r[2].as<uint32_t>();
      fk.name = r[3].as<std::string>();
      fk.definition = r[4].as<std::string>();
      fk.validated = r[5].as<bool>();
      // Both ends must be tables we copy (the referenced one may be in an
      // excluded schema: then pg_restore reports it, clearly, at post-data).
      if (cat.FindTable(fk.table_oid) && cat.FindTable(fk.referenced_table_oid)) {
        cat.foreign_keys.push_back(std::move(fk));
      }
    }

    rows = tx.exec(absl::StrCat(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND ",
        schema_pred, " AND ", kNotExtensionMember, " ORDER BY 1, 2"));
    for (const auto& r : rows) cat.sequences.push_back({r[0].as<std::string>(), r[1].as<std::string>()});

    rows = tx.exec(absl::StrCat(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'm' AND c.relispopulated AND ",
        schema_pred, " AND ", kNotExtensionMember, " ORDER BY c.oid"));
    for (const auto& r : rows) cat.populated_matviews.push_back({r[0].as<std::string>(), r[1].as<std::string>()});

    // Objects we refuse.
    rows = tx.exec(absl::StrCat(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'f' AND ", schema_pred, " AND ", kNotExtensionMember, " ORDER BY 1"));
    for (const auto& r : rows) {
      cat.unsupported.push_back({"foreign table (its data lives on another server)", r[0].as<std::string>()});
    }
    rows = tx.exec("SELECT count(*) FROM pg_largeobject_metadata");
    if (rows[0][0].as<int64_t>() > 0) {
      cat.unsupported.push_back({"large objects (pg_largeobject)",
                                 absl::StrCat(rows[0][0].as<int64_t>(), " large objects in the database")});
    }
    rows = tx.exec("SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                   "WHERE d.datname = current_database() ORDER BY 1");
    for (const auto& r : rows) {
      cat.unsupported.push_back({"logical replication subscription", r[0].as<std::string>()});
    }

    rows = tx.exec("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1");
    for (const auto& r : rows) cat.extensions.push_back(r[0].as<std::string>());

    rows = tx.exec(absl::StrCat(
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ", schema_pred,
        " UNION SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE ", schema_pred,
        " AND n.nspname <> 'public' ORDER BY 1"));
    for (const auto& r : rows) cat.owner_roles.push_back(r[0].as<std::string>());

    rows = tx.exec(
        "SELECT t.oid FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname = 'cutover_capture'");
    for (const auto& r : rows) cat.capture_trigger_oids.insert(r[0].as<uint32_t>());
  } catch (const std::exception& e) {
    return pg::StatusFromException(e, "reading blue's catalog");
  }
  return cat;
}

}  // namespace cutover::copy
