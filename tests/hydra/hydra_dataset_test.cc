// cutover::hydra_fixture without a database: the embedded schemas are the
// files byte for byte, and the size arithmetic is what the header promises.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "cutover/hydra/dataset.h"
#include "gtest/gtest.h"

namespace cutover::hydra {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(HydraDatasetTest, EmbeddedSchemasAreTheFiles) {
  const std::string dir = CUTOVER_HYDRA_SQL_DIR;
  const std::string s11 = ReadFile(dir + "/schema-1.11.sql");
  const std::string s2x = ReadFile(dir + "/schema-2.x.sql");
  ASSERT_FALSE(s11.empty());
  ASSERT_FALSE(s2x.empty());
  EXPECT_EQ(std::string(Schema11Sql()), s11);
  EXPECT_EQ(std::string(Schema2xSql()), s2x);
}

TEST(HydraDatasetTest, AtScaleOne) {
  const DatasetSize s = DatasetSize::AtScale(1.0);
  EXPECT_EQ(s.clients, 1000);
  EXPECT_EQ(s.login_sessions, 100'000);
  EXPECT_EQ(s.login_requests, 200'000);
  EXPECT_EQ(s.consent_requests, 200'000);
  EXPECT_EQ(s.access_tokens, 1'000'000);
  EXPECT_EQ(s.refresh_tokens, 1'000'000);
  EXPECT_EQ(s.auth_codes, 20'000);
  EXPECT_EQ(s.trust_grants, 100);
}

TEST(HydraDatasetTest, TinyScalesKeepOneParentOfEach) {
  const DatasetSize s = DatasetSize::AtScale(1e-9);
  EXPECT_EQ(s.clients, 1);
  EXPECT_EQ(s.login_sessions, 1);
  EXPECT_EQ(s.login_requests, 1);
  EXPECT_EQ(s.consent_requests, 1);
  EXPECT_EQ(s.access_tokens, 0);
  EXPECT_EQ(s.obfuscated_sessions, 0);
}

TEST(HydraDatasetTest, ExpectedRowsCoverEveryTable) {
  const DatasetSize size = DatasetSize::AtScale(0.01);
  for (Shape shape : {Shape::kHydra111, Shape::kHydra2x}) {
    const auto rows = ExpectedRows(shape, size);
    std::set<std::string> keys;
    for (const auto& [t, n] : rows) {
      keys.insert(t);
    }
    const auto& tables = Tables(shape);
    EXPECT_EQ(keys, std::set<std::string>(tables.begin(), tables.end())) << ShapeName(shape);
    EXPECT_EQ(rows.at("hydra_oauth2_access"), 10'000);
    EXPECT_EQ(rows.at("hydra_oauth2_pkce"), 40);
    EXPECT_EQ(rows.at("hydra_jwk"), 4 + size.trust_grants);
    EXPECT_EQ(rows.at("schema_migration"), 1);
  }
  EXPECT_EQ(ExpectedRows(Shape::kHydra2x, size).at("hydra_oauth2_flow"), 2'000);
  EXPECT_EQ(ExpectedRows(Shape::kHydra2x, size).at("networks"), 1);
  EXPECT_EQ(ExpectedRows(Shape::kHydra111, size).at("hydra_oauth2_consent_request_handled"), 2'000);
}

}  // namespace
}  // namespace cutover::hydra
