#include "cutover/common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace cutover {
namespace {

struct Action {
  enum Kind { kError, kErrorOnce, kKill, kSleep } kind = kError;
  int sleep_ms = 0;
  bool fired = false;
};

struct Registry {
  absl::Mutex mu;
  std::map<std::string, Action, std::less<>> points ABSL_GUARDED_BY(mu);
  std::atomic<bool> any{false};

  void Configure(const std::string& spec) {
    absl::MutexLock l(&mu);
    points.clear();
    for (absl::string_view raw : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
      const absl::string_view entry = absl::StripAsciiWhitespace(raw);
      std::vector<std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
      Action a;
      const std::string action = kv.size() == 2 ? kv[1] : "";
      if (action == "error") {
        a.kind = Action::kError;
      } else if (action == "error-once") {
        a.kind = Action::kErrorOnce;
      } else if (action == "kill") {
        a.kind = Action::kKill;
      } else if (absl::StartsWith(action, "sleep:") && absl::SimpleAtoi(action.substr(6), &a.sleep_ms) &&
                 a.sleep_ms >= 0) {
        a.kind = Action::kSleep;
      } else {
        spdlog::error("CUTOVER_FAILPOINTS: ignoring \"{}\" (expected name=error|error-once|kill|sleep:<ms>)",
                      std::string(entry));
        continue;
      }
      spdlog::warn("failpoint armed: {}={}", kv[0], action);
      points[kv[0]] = a;
    }
    any = !points.empty();
  }
};

Registry& Get() {
  static Registry* r = [] {
    auto* reg = new Registry;
    if (const char* env = std::getenv("CUTOVER_FAILPOINTS"); env != nullptr && *env != '\0') reg->Configure(env);
    return reg;
  }();
  return *r;
}

}  // namespace

absl::Status Failpoint(absl::string_view name) {
  Registry& r = Get();
  if (!r.any.load(std::memory_order_relaxed)) return absl::OkStatus();
  int sleep_ms = 0;
  {
    absl::MutexLock l(&r.mu);
    auto it = r.points.find(name);
    if (it == r.points.end()) return absl::OkStatus();
    Action& a = it->second;
    switch (a.kind) {
      case Action::kKill:
        spdlog::warn("failpoint {}: kill -9 self", std::string(name));
        spdlog::default_logger()->flush();
        ::kill(::getpid(), SIGKILL);
        ::pause();
        break;
      case Action::kErrorOnce:
        if (a.fired) return absl::OkStatus();
        a.fired = true;
        [[fallthrough]];
      case Action::kError:
        spdlog::warn("failpoint {}: injected error", std::string(name));
        return absl::UnavailableError(absl::StrCat("failpoint ", name));
      case Action::kSleep:
        sleep_ms = a.sleep_ms;
        break;
    }
  }
  absl::SleepFor(absl::Milliseconds(sleep_ms));
  return absl::OkStatus();
}

void SetFailpointsForTest(const std::string& spec) { Get().Configure(spec); }

}  // namespace cutover
