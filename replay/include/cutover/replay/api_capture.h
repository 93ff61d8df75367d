// The API capture path: applications that prefer to report revocations
// themselves call CaptureService.RecordRevocation; this class validates the
// event against the cutover's capture rules, completes it (event id,
// capture_path = API, format version, direction, time) and appends it to the
// same queue the trigger path feeds. Events from both paths share one format.
//
// Record() returns only after the queue acknowledged the event. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/common/clock.h"
#include "cutover/replay/event.h"
#include "cutover/replay/queue.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

class ApiCapture {
 public:
  ApiCapture(std::string cutover_id, cutover::v1::Direction direction,
             const std::vector<cutover::v1::CaptureRule>& rules, RevocationQueue* queue,
             IdGenerator* ids = IdGenerator::Default(), Clock* clock = Clock::Real());

  // InvalidArgument naming the field and what was expected for a malformed
  // event; the queue's error otherwise. An event with an event_id already
  // recorded is accepted again (replay dedups it).
  absl::StatusOr<cutover::v1::RecordRevocationResponse> Record(cutover::v1::RevocationEvent event);

  // Checks and completes `event` without appending it.
  absl::Status Complete(cutover::v1::RevocationEvent* event);

 private:
  const std::string cutover_id_;
  const cutover::v1::Direction direction_;
  std::map<std::string, cutover::v1::CaptureRule> rules_;
  RevocationQueue* const queue_;
  IdGenerator* const ids_;
  Clock* const clock_;
};

}  // namespace cutover::replay
