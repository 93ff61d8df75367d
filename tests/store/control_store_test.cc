// The ControlStore contract against the in-memory store with a simulated
// clock (hermetic, label unit), plus what only the memory store promises.
#include "cutover/store/control_store.h"

#include <memory>

#include "control_store_contract.h"
#include "cutover/common/clock.h"
#include "gtest/gtest.h"

namespace cutover::store::testing {
namespace {

class MemoryHarness : public StoreHarness {
 public:
  MemoryHarness() : store_(NewMemoryControlStore(&clock_)) {}
  ControlStore& store() override { return *store_; }
  Clock& clock() override { return clock_; }
  void PassTime(absl::Duration d) override { clock_.Advance(d); }
  absl::Duration ShortTtl() override { return absl::Seconds(10); }

 private:
  SimulatedClock clock_;
  std::unique_ptr<ControlStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Memory, ControlStoreContract,
                         ::testing::Values(HarnessParam{
                             "memory", [] { return std::unique_ptr<StoreHarness>(new MemoryHarness()); }}),
                         ParamName);

TEST(MemoryControlStoreTest, RealClockWaitUsesTheDeadline) {
  auto store = NewMemoryControlStore();
  cutover::v1::Cutover c = MakeCutover("c1", cutover::v1::PHASE_PLANNED);
  ASSERT_TRUE(store->Create(c, Rec(cutover::v1::PHASE_UNSPECIFIED, cutover::v1::PHASE_PLANNED)).ok());
  const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
  auto v = store->WaitForChange("c1", 1, deadline);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 1);
  EXPECT_GE(absl::Now(), deadline);
}

TEST(MemoryControlStoreTest, LeaseExpiryFollowsTheInjectedClock) {
  SimulatedClock clock;
  auto store = NewMemoryControlStore(&clock);
  ASSERT_TRUE(store->Create(MakeCutover("c1", cutover::v1::PHASE_PLANNED), {}).ok());
  auto a = store->AcquireLease("c1", "A", absl::Seconds(10));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->expires_at, clock.Now() + absl::Seconds(10));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(store->AcquireLease("c1", "B", absl::Seconds(10))->holder, "A");
  clock.Advance(absl::Seconds(1));  // expires_at == now: expired
  EXPECT_EQ(store->AcquireLease("c1", "B", absl::Seconds(10))->holder, "B");
}

}  // namespace
}  // namespace cutover::store::testing
