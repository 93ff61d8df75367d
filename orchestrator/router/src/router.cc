#include "cutover/router/router.h"

#include "absl/strings/str_cat.h"
#include "cutover/common/status.h"

namespace cutover::router {

const char* TargetName(Target t) { return t == Target::kGreen ? "green" : "blue"; }

absl::StatusOr<std::unique_ptr<Router>> NewRouter(const cutover::v1::RouterOptions& options, Clock* clock) {
  switch (options.kind_case()) {
    case cutover::v1::RouterOptions::kPgbouncer:
      return NewPgBouncerRouter(options.pgbouncer(), clock);
    case cutover::v1::RouterOptions::kCommand: {
      const auto& c = options.command();
      for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"pause", &c.pause()},
                                         {"repoint_green", &c.repoint_green()},
                                         {"repoint_blue", &c.repoint_blue()},
                                         {"resume", &c.resume()}}) {
        if (value->empty()) {
          return absl::InvalidArgumentError(absl::StrCat("plan.router.command.", field, " is empty"));
        }
      }
      return NewCommandRouter(c, clock);
    }
    case cutover::v1::RouterOptions::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("plan.router: set pgbouncer or command");
}

}  // namespace cutover::router
