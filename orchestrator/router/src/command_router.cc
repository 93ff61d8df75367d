// CommandRouter: the flip through operator commands (a load balancer API, a
// DNS update, a service-mesh rule...). Each step runs `sh -c <command>` via
// RunCommand, which puts the child in its own process group and kills the
// group on timeout.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "cutover/router/router.h"

namespace cutover::router {
namespace {

constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);
constexpr size_t kStderrTail = 2000;

std::string Tail(const std::string& s) {
  if (s.size() <= kStderrTail) return s;
  return "..." + s.substr(s.size() - kStderrTail);
}

class CommandRouter final : public Router {
 public:
  CommandRouter(cutover::v1::CommandRouterOptions options, absl::Duration timeout, Clock* clock)
      : options_(std::move(options)), timeout_(timeout), clock_(clock) {}

  std::string kind() const override { return "command"; }

  std::vector<RouterCheck> Check() override {
    std::vector<RouterCheck> out;
    for (const auto& [field, cmd] : Commands()) {
      RouterCheck c{absl::StrCat("router.command.", field), absl::OkStatus(), *cmd};
      if (cmd->empty()) c.status = Empty(field);
      out.push_back(std::move(c));
    }
    return out;
  }

  absl::Status Pause(absl::Time deadline) override { return Run("pause", options_.pause(), deadline); }
  absl::Status Repoint(Target target, absl::Time deadline) override {
    return target == Target::kGreen ? Run("repoint_green", options_.repoint_green(), deadline)
                                    : Run("repoint_blue", options_.repoint_blue(), deadline);
  }
  absl::Status Resume(absl::Time deadline) override { return Run("resume", options_.resume(), deadline); }
  absl::StatusOr<Target> Current() override {
    return absl::UnimplementedError("the command router cannot tell where traffic goes");
  }

 private:
  std::vector<std::pair<const char*, const std::string*>> Commands() const {
    return {{"pause", &options_.pause()},
            {"repoint_green", &options_.repoint_green()},
            {"repoint_blue", &options_.repoint_blue()},
            {"resume", &options_.resume()}};
  }

  static absl::Status Empty(absl::string_view field) {
    return absl::FailedPreconditionError(absl::StrCat("router.command.", field, " is empty"));
  }

  absl::Status Run(absl::string_view field, const std::string& command, absl::Time deadline) {
    if (command.empty()) return Empty(field);
    const std::string what = absl::StrCat("router.command.", field, " (", command, ")");
    absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": deadline passed before it started"));
    }
    CommandSpec spec;
    spec.argv = {"sh", "-c", command};
    spec.timeout = std::min(timeout_, left);
    ASSIGN_OR_RETURN(CommandResult res, RunCommand(spec));
    if (res.timed_out) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " did not finish within ", absl::FormatDuration(spec.timeout),
                       "; its process group was killed. stderr: ", Tail(res.err)));
    }
    if (res.exit_code == 0) return absl::OkStatus();
    std::string msg = absl::StrCat(what, " exited with code ", res.exit_code, ": ",
                                   Tail(res.err.empty() ? res.out : res.err));
    // 126/127: the shell could not find or run the program; retrying will
    // not help. Anything else may be a transient failure of what it drives.
    if (res.exit_code == 126 || res.exit_code == 127) return absl::FailedPreconditionError(msg);
    return absl::UnavailableError(msg);
  }

  const cutover::v1::CommandRouterOptions options_;
  const absl::Duration timeout_;
  Clock* const clock_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Router>> NewCommandRouter(const cutover::v1::CommandRouterOptions& options,
                                                         Clock* clock) {
  absl::Duration timeout = kDefaultTimeout;
  if (options.has_timeout()) {
    timeout = FromProto(options.timeout());
    if (timeout < absl::ZeroDuration()) {
      return absl::InvalidArgumentError("plan.router.command.timeout is negative");
    }
    if (timeout == absl::ZeroDuration()) timeout = kDefaultTimeout;
  }
  return std::unique_ptr<Router>(new CommandRouter(options, timeout, clock ? clock : Clock::Real()));
}

}  // namespace cutover::router
