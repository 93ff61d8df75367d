#include "cutover/engine/flip.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "cutover/common/failpoint.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "spdlog/spdlog.h"

namespace cutover::engine {
namespace {

using cutover::v1::FlipResult;
using cutover::v1::FlipStep;

// Retries `op` on retryable errors until `deadline` (backoff 50ms..1s).
absl::Status RetryUntil(Clock* clock, absl::Time deadline, const std::function<absl::Status()>& op) {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    absl::Status st = op();
    if (st.ok() || !IsRetryable(st) || clock->Now() + backoff >= deadline) return st;
    clock->SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

// Where traffic comes from and goes to in this flip.
router::Target Source(const FlipContext& ctx) {
  return ctx.direction == kReverse ? router::Target::kGreen : router::Target::kBlue;
}
router::Target Destination(const FlipContext& ctx) {
  return ctx.direction == kReverse ? router::Target::kBlue : router::Target::kGreen;
}
const char* StepPrefix(const FlipContext& ctx) { return ctx.direction == kReverse ? "rollback." : "flip."; }

// Repoint to the destination; for a rollback blue is still fenced from the
// cutover, so its fence is lowered first (the tail is on blue by now).
absl::Status RepointToDestination(const FlipContext& ctx, absl::Time deadline) {
  CutoverBackend& b = *ctx.backend;
  if (ctx.direction == kReverse) RETURN_IF_ERROR(b.fence(Destination(ctx)).Lower(deadline));
  return b.router().Repoint(Destination(ctx), deadline);
}

void AddStep(FlipResult* r, const std::string& name, absl::Duration d) {
  auto* s = r->add_steps();
  s->set_step(name);
  *s->mutable_duration() = ToProto(d);
}

}  // namespace

absl::Status UndoFlip(const FlipContext& ctx) {
  CutoverBackend& b = *ctx.backend;
  const absl::Time deadline = ctx.clock->Now() + ctx.undo_timeout;
  const router::Target source = Source(ctx);
  // Order matters: the source must be writable again before clients are let in.
  absl::Status fence = RetryUntil(ctx.clock, deadline, [&] { return b.fence(source).Lower(deadline); });
  // A rollback may have lowered blue's fence already: blue goes back to
  // read-only while green keeps the traffic.
  absl::Status refence = absl::OkStatus();
  if (ctx.direction == kReverse) {
    refence = RetryUntil(ctx.clock, deadline, [&] { return b.fence(Destination(ctx)).Raise(deadline); });
  }
  absl::Status repoint = RetryUntil(ctx.clock, deadline, [&] { return b.router().Repoint(source, deadline); });
  // Resume even if something above failed: paused clients must not hang.
  absl::Status resume = RetryUntil(ctx.clock, deadline, [&] { return b.router().Resume(deadline); });
  // The window is open again: events must keep flowing.
  absl::Status relay = b.StartRelay(ctx.direction);
  absl::Status replayer = b.StartReplayer(ctx.direction);
  for (const absl::Status* st : {&fence, &refence, &repoint, &resume, &relay, &replayer}) {
    if (!st->ok()) return Annotate(*st, "undoing the flip");
  }
  return absl::OkStatus();
}

FlipOutcome RunFlip(const FlipContext& ctx) {
  CutoverBackend& b = *ctx.backend;
  Clock* clock = ctx.clock;
  FlipOutcome out;
  FlipResult& r = out.result;
  const absl::Time start = clock->Now();
  const absl::Time deadline = start + ctx.flip_timeout;
  absl::Time paused_at = absl::InfinitePast();

  auto fail = [&](absl::string_view step, const absl::Status& st) {
    r.set_succeeded(false);
    std::string why = absl::StrCat(step, ": ", st.ToString());
    if (clock->Now() >= deadline && st.code() != absl::StatusCode::kDeadlineExceeded) {
      why = absl::StrCat(why, " (flip_timeout ", absl::FormatDuration(ctx.flip_timeout), " passed)");
    }
    r.set_failure_reason(why);
    spdlog::warn("flip failed at {}: {}; undoing", std::string(step), st.ToString());
    out.undo_attempted = true;
    out.undo_status = UndoFlip(ctx);
    if (paused_at != absl::InfinitePast()) *r.mutable_write_gap() = ToProto(clock->Now() - paused_at);
    return out;
  };
  // Runs one step: persist the marker, check the deadline, time the step.
  auto step = [&](FlipStep marker, absl::string_view name, const std::function<absl::Status()>& body) {
    if (ctx.persist) {
      absl::Status st = ctx.persist(marker, r);
      if (!st.ok()) return Annotate(st, "persisting the flip step");
    }
    if (clock->Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("flip_timeout ", absl::FormatDuration(ctx.flip_timeout), " passed before ", name));
    }
    if (absl::Status fp = Failpoint(absl::StrCat(StepPrefix(ctx), name)); !fp.ok()) return fp;
    const absl::Time t0 = clock->Now();
    absl::Status st = body();
    AddStep(&r, std::string(name), clock->Now() - t0);
    return st;
  };

  // 0. Before clients wait: open the connections the steps will use (the
  // router's admin console, the fences), so no login lands in the write gap.
  // Failures are left to the steps themselves.
  (void)b.router().Check();
  (void)b.fence(Source(ctx)).Check();
  if (ctx.direction == kReverse) (void)b.fence(Destination(ctx)).Check();

  // 1. Pause: new transactions wait, in-flight ones finish.
  absl::Status st = step(cutover::v1::FLIP_STEP_PAUSING, "pause", [&] {
    absl::Status s = b.router().Pause(deadline);
    paused_at = clock->Now();
    *r.mutable_paused_at() = ToProtoTime(paused_at);
    return s;
  });
  if (!st.ok()) return fail("pause", st);
  *r.mutable_pause_duration() = r.steps(0).duration();
  // 2. Fence blue: read-only for everyone but us, other sessions terminated.
  st = step(cutover::v1::FLIP_STEP_FENCING, "fence", [&] { return b.fence(Source(ctx)).Raise(deadline); });
  if (!st.ok()) return fail("fence", st);
  // 3. Seal: the outbox drained into the queue; its end is the seal.
  st = step(cutover::v1::FLIP_STEP_SEALING, "seal", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(*r.mutable_seal(), b.Seal(ctx.direction, deadline));
    return absl::OkStatus();
  });
  if (!st.ok()) return fail("seal", st);
  // 4. Replay the tail up to the seal on green.
  st = step(cutover::v1::FLIP_STEP_DRAINING, "drain", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t tail, b.ReplayUntil(ctx.direction, r.seal(), deadline));
    r.set_tail_events(tail);
    return absl::OkStatus();
  });
  if (!st.ok()) return fail("drain", st);
  // 5. Repoint and resume. From DRAINED on, a crash finishes forward.
  st = step(cutover::v1::FLIP_STEP_REPOINTING, "repoint", [&] { return RepointToDestination(ctx, deadline); });
  if (!st.ok()) return fail("repoint", st);
  (void)Failpoint(absl::StrCat(StepPrefix(ctx), "resume"));  // only kill/sleep make sense past the repoint
  const absl::Time t_resume = clock->Now();
  // Past the repoint the flip is committed: resume must succeed, retried
  // beyond flip_timeout if needed (going back would not be safer).
  st = RetryUntil(clock, t_resume + ctx.undo_timeout, [&] { return b.router().Resume(t_resume + ctx.undo_timeout); });
  AddStep(&r, "resume", clock->Now() - t_resume);
  *r.mutable_write_gap() = ToProto(clock->Now() - paused_at);
  if (!st.ok()) {
    r.set_succeeded(false);
    r.set_failure_reason(absl::StrCat("resume after the repoint: ", st.ToString()));
    out.undo_status = Annotate(st, "router repointed but not resumed; clients are waiting");
    return out;
  }
  r.set_succeeded(true);
  *r.mutable_flipped_at() = ToProtoTime(clock->Now());
  if (ctx.persist) {
    absl::Status p = ctx.persist(cutover::v1::FLIP_STEP_RESUMED, r);
    if (!p.ok()) spdlog::warn("flip done but the RESUMED marker was not persisted: {}", p.ToString());
  }
  return out;
}

FlipOutcome RecoverFlip(const FlipContext& ctx, cutover::v1::FlipStep step, cutover::v1::FlipResult previous) {
  FlipOutcome out;
  out.result = std::move(previous);
  CutoverBackend& b = *ctx.backend;
  const absl::Time deadline = ctx.clock->Now() + ctx.undo_timeout;
  // Clients have waited since the dead daemon paused the router (at the
  // latest: the pause may not have been persisted when it died).
  auto record_gap = [&] {
    if (out.result.has_paused_at()) {
      *out.result.mutable_write_gap() = ToProto(ctx.clock->Now() - FromProtoTime(out.result.paused_at()));
    }
  };
  if (step >= cutover::v1::FLIP_STEP_DRAINED) {
    // The destination holds every event up to the seal; the source is
    // fenced. Finish.
    absl::Status st = RetryUntil(ctx.clock, deadline, [&] { return RepointToDestination(ctx, deadline); });
    if (st.ok()) st = RetryUntil(ctx.clock, deadline, [&] { return b.router().Resume(deadline); });
    record_gap();
    if (!st.ok()) {
      out.result.set_succeeded(false);
      out.result.set_failure_reason(absl::StrCat("finishing the flip after a restart: ", st.ToString()));
      out.undo_status = st;
      return out;
    }
    out.result.set_succeeded(true);
    *out.result.mutable_flipped_at() = ToProtoTime(ctx.clock->Now());
    return out;
  }
  out.result.set_succeeded(false);
  out.result.set_failure_reason(absl::StrCat("cutoverd restarted during the flip (at ",
                                             cutover::v1::FlipStep_Name(step), "); flip undone"));
  out.undo_attempted = true;
  out.undo_status = UndoFlip(ctx);
  record_gap();
  return out;
}

}  // namespace cutover::engine
