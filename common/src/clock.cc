#include "cutover/common/clock.h"

namespace cutover {

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace cutover
