// The ControlStore contract as one value-parameterized gtest suite, run
// against every implementation: control_store_test.cc instantiates it with
// the in-memory store (SimulatedClock), control_store_pgtest.cc with the
// PostgreSQL store on the shared sandbox. A harness hides how store time
// passes: a simulated clock is advanced, real time is waited for by polling
// with a deadline (never a fixed sleep).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/store/control_store.h"
#include "gtest/gtest.h"

namespace cutover::store::testing {

class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // A store over empty data (Init() not yet called).
  virtual ControlStore& store() = 0;
  // The store's clock, for WaitForChange deadlines.
  virtual Clock& clock() = 0;
  // Lets `d` of store time pass if the harness controls time (simulated
  // clock); with real time it does nothing and callers poll.
  virtual void PassTime(absl::Duration d) = 0;
  // A lease ttl short enough to wait out in a test.
  virtual absl::Duration ShortTtl() = 0;
};

struct HarnessParam {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make;
};

class ControlStoreContract : public ::testing::TestWithParam<HarnessParam> {
 protected:
  void SetUp() override;
  ControlStore& store() { return harness_->store(); }
  StoreHarness& harness() { return *harness_; }

  std::unique_ptr<StoreHarness> harness_;
};

// For INSTANTIATE_TEST_SUITE_P(..., ParamName).
std::string ParamName(const ::testing::TestParamInfo<HarnessParam>& info);

// A minimal cutover in `phase` with a plan name.
cutover::v1::Cutover MakeCutover(const std::string& id, cutover::v1::Phase phase);
TransitionRecord Rec(cutover::v1::Phase from, cutover::v1::Phase to, const std::string& action = "test",
                     const std::string& actor = "tester", const std::string& reason = "");

}  // namespace cutover::store::testing
