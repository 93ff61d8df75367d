// The sandbox state file: round trip and clear errors for damaged files.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state.h"

namespace cutover::sandbox::internal {
namespace {

using ::testing::HasSubstr;

SandboxState Example() {
  SandboxState s;
  s.root = "/tmp/cutover-sandbox-abc123";
  s.persistent = true;
  s.fast = false;
  s.owner_pid = 4242;
  s.owner_start_ticks = 123456789;
  s.password = "Secret123";
  s.clusters = {{"blue", 40001, 501, 1001}, {"green", 40002, 0, 0}};
  s.has_bouncer = true;
  s.bouncer = {"pgbouncer", 40003, 503, 1003};
  return s;
}

TEST(SandboxStateTest, RoundTrips) {
  SandboxState in = Example();
  auto out = ParseState(FormatState(in), "x.state");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->root, in.root);
  EXPECT_TRUE(out->persistent);
  EXPECT_FALSE(out->fast);
  EXPECT_EQ(out->owner_pid, 4242);
  EXPECT_EQ(out->owner_start_ticks, 123456789u);
  EXPECT_EQ(out->password, "Secret123");
  ASSERT_EQ(out->clusters.size(), 2u);
  EXPECT_EQ(out->clusters[0].name, "blue");
  EXPECT_EQ(out->clusters[0].port, 40001);
  EXPECT_EQ(out->clusters[0].pid, 501);
  EXPECT_EQ(out->clusters[0].start_ticks, 1001u);
  EXPECT_EQ(out->clusters[1].name, "green");
  EXPECT_EQ(out->clusters[1].pid, 0);
  ASSERT_TRUE(out->has_bouncer);
  EXPECT_EQ(out->bouncer.port, 40003);
  EXPECT_EQ(out->bouncer.pid, 503);
}

TEST(SandboxStateTest, WithoutBouncer) {
  SandboxState in = Example();
  in.has_bouncer = false;
  auto out = ParseState(FormatState(in), "x.state");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->has_bouncer);
}

TEST(SandboxStateTest, DamagedFilesAreRejectedWithThePath) {
  std::string good = FormatState(Example());
  auto bad_line = ParseState(good + "garbage\n", "/r/sandbox.state");
  ASSERT_FALSE(bad_line.ok());
  EXPECT_THAT(bad_line.status().message(), HasSubstr("/r/sandbox.state:"));
  EXPECT_THAT(bad_line.status().message(), HasSubstr("garbage"));

  std::string no_port = good;
  no_port.replace(no_port.find("cluster.blue.port=40001"), 23, "cluster.blue.port=x");
  auto bad_number = ParseState(no_port, "s");
  ASSERT_FALSE(bad_number.ok());
  EXPECT_THAT(bad_number.status().message(), HasSubstr("cluster.blue.port"));

  auto empty = ParseState("", "s");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("version"));

  std::string v2 = good;
  v2.replace(v2.find("version=1"), 9, "version=2");
  EXPECT_FALSE(ParseState(v2, "s").ok());
}

}  // namespace
}  // namespace cutover::sandbox::internal
