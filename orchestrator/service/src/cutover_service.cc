#include "cutover/service/cutover_service.h"

#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/service/grpc_status.h"

namespace cutover::service {

namespace v1 = cutover::v1;

bool IsTerminalPhase(v1::Phase phase) {
  return phase == v1::PHASE_COMPLETED || phase == v1::PHASE_ABORTED || phase == v1::PHASE_ROLLED_BACK;
}

// Secrets never leave the server (docs/api.md): a plan's DSN passwords and
// Kafka credentials are stored as given (the daemon needs them) but every
// Cutover sent to a client has them replaced by "***".
void RedactSecrets(v1::Cutover* c) {
  v1::Plan* p = c->mutable_plan();
  for (std::string* dsn : {p->mutable_blue()->mutable_dsn(), p->mutable_green()->mutable_dsn()}) {
    if (!dsn->empty()) *dsn = pg::RedactDsn(*dsn);
  }
  if (p->queue().has_postgres()) {
    auto* d = p->mutable_queue()->mutable_postgres()->mutable_dsn();
    if (!d->empty()) *d = pg::RedactDsn(*d);
  }
  if (p->router().has_pgbouncer()) {
    auto* d = p->mutable_router()->mutable_pgbouncer()->mutable_admin_dsn();
    if (!d->empty()) *d = pg::RedactDsn(*d);
  }
  if (p->queue().has_kafka()) {
    for (auto& [key, value] : *p->mutable_queue()->mutable_kafka()->mutable_properties()) {
      const std::string k = absl::AsciiStrToLower(key);
      if (absl::StrContains(k, "password") || absl::StrContains(k, "secret") || absl::StrContains(k, "sasl.jaas") ||
          absl::StrContains(k, "oauthbearer.config")) {
        value = "***";
      }
    }
  }
}

namespace {

constexpr char kPrefix[] = "/cutover.v1.CutoverService/";

std::string Method(const char* name) { return std::string(kPrefix) + name; }

// The answer of an API call as the RPC's response.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  if constexpr (std::is_same_v<T, v1::Cutover>) RedactSecrets(response);
  return grpc::Status::OK;
}

}  // namespace

// Authorizes the call (the one role check) or returns its status from the handler.
#define CUTOVER_AUTHORIZE(caller, method)                           \
  auto caller##_or = auth_->Authorize(*context, Method(method));    \
  if (!caller##_or.ok()) return ToGrpcStatus(caller##_or.status()); \
  [[maybe_unused]] const engine::Caller& caller = *caller##_or

grpc::Status CutoverServiceImpl::CreatePlan(grpc::ServerContext* context,
                                            const v1::CreatePlanRequest* request, v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "CreatePlan");
  return Reply(api_->CreatePlan(request->plan(), caller), response);
}

grpc::Status CutoverServiceImpl::ValidatePlan(grpc::ServerContext* context,
                                              const v1::ValidatePlanRequest* request,
                                              v1::ValidationResult* response) {
  CUTOVER_AUTHORIZE(caller, "ValidatePlan");
  return Reply(api_->ValidatePlan(request->plan()), response);
}

grpc::Status CutoverServiceImpl::Start(grpc::ServerContext* context, const v1::StartRequest* request,
                                       v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Start");
  return Reply(api_->Start(request->id(), caller), response);
}

grpc::Status CutoverServiceImpl::Get(grpc::ServerContext* context, const v1::GetRequest* request,
                                     v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Get");
  auto view = api_->Get(request->id());
  if (!view.ok()) return ToGrpcStatus(view.status());
  *response = std::move(view->cutover);
  RedactSecrets(response);
  return grpc::Status::OK;
}

grpc::Status CutoverServiceImpl::List(grpc::ServerContext* context, const v1::ListRequest* request,
                                      v1::ListResponse* response) {
  CUTOVER_AUTHORIZE(caller, "List");
  std::vector<v1::Phase> phases;
  for (int p : request->phases()) phases.push_back(static_cast<v1::Phase>(p));
  auto list = api_->List(phases);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (v1::Cutover& c : *list) {
    RedactSecrets(&c);
    *response->add_cutovers() = std::move(c);
  }
  return grpc::Status::OK;
}

grpc::Status CutoverServiceImpl::Pause(grpc::ServerContext* context, const v1::PauseRequest* request,
                                       v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Pause");
  return Reply(api_->Pause(request->id(), request->reason(), caller), response);
}

grpc::Status CutoverServiceImpl::Resume(grpc::ServerContext* context, const v1::ResumeRequest* request,
                                        v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Resume");
  return Reply(api_->Resume(request->id(), request->reason(), caller), response);
}

grpc::Status CutoverServiceImpl::Approve(grpc::ServerContext* context, const v1::ApproveRequest* request,
                                         v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Approve");
  return Reply(api_->Approve(request->id(), request->reason(), caller), response);
}

grpc::Status CutoverServiceImpl::Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                                       v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Abort");
  return Reply(api_->Abort(request->id(), request->reason(), caller), response);
}

grpc::Status CutoverServiceImpl::Rollback(grpc::ServerContext* context, const v1::RollbackRequest* request,
                                          v1::Cutover* response) {
  CUTOVER_AUTHORIZE(caller, "Rollback");
  return Reply(api_->Rollback(request->id(), request->reason(), caller), response);
}

grpc::Status CutoverServiceImpl::GetReport(grpc::ServerContext* context, const v1::ReportRequest* request,
                                           v1::Report* response) {
  CUTOVER_AUTHORIZE(caller, "GetReport");
  return Reply(api_->GetReport(request->id()), response);
}

grpc::Status CutoverServiceImpl::ListTransitions(grpc::ServerContext* context,
                                                 const v1::ListTransitionsRequest* request,
                                                 v1::ListTransitionsResponse* response) {
  CUTOVER_AUTHORIZE(caller, "ListTransitions");
  auto rows = api_->ListTransitions(request->id(), 0);
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (v1::Transition& t : *rows) *response->add_transitions() = std::move(t);
  return grpc::Status::OK;
}

grpc::Status CutoverServiceImpl::Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                                       grpc::ServerWriter<v1::WatchEvent>* writer) {
  CUTOVER_AUTHORIZE(caller, "Watch");
  active_watches_.fetch_add(1);
  struct Done {
    std::atomic<int>* n;
    ~Done() { n->fetch_sub(1); }
  } done{&active_watches_};

  const std::string& id = request->id();
  auto view = api_->Get(id);
  if (!view.ok()) return ToGrpcStatus(view.status());
  // Rows already in the timeline are history: the stream reports new ones.
  int64_t last_seq = 0;
  {
    auto rows = api_->ListTransitions(id, 0);
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    for (const v1::Transition& t : *rows) last_seq = std::max(last_seq, t.seq());
  }
  v1::WatchEvent first;
  *first.mutable_cutover() = view->cutover;
  RedactSecrets(first.mutable_cutover());
  if (!writer->Write(first)) return grpc::Status::OK;  // client went away
  int64_t version = view->version;
  // A COMPLETED cutover whose rollback window is open may still roll back.
  auto final = [&](const v1::Cutover& c) {
    if (request->follow_rollback() && c.phase() == v1::PHASE_COMPLETED && c.reverse_capture_installed()) return false;
    return IsTerminalPhase(c.phase());
  };
  v1::Cutover current = view->cutover;

  while (!final(current)) {
    if (context->IsCancelled())
      return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled by the client");
    auto now_version = api_->WaitForChange(id, version, absl::Now() + absl::Seconds(1));
    if (!now_version.ok()) return ToGrpcStatus(now_version.status());
    if (*now_version == version) continue;  // a 1 s slice passed: look at cancellation again
    view = api_->Get(id);
    if (!view.ok()) return ToGrpcStatus(view.status());
    auto rows = api_->ListTransitions(id, last_seq);
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    version = std::max(*now_version, view->version);
    current = view->cutover;
    std::vector<v1::WatchEvent> events;
    for (v1::Transition& t : *rows) {
      if (t.seq() <= last_seq) continue;
      last_seq = t.seq();
      v1::WatchEvent ev;
      *ev.mutable_cutover() = view->cutover;
      RedactSecrets(ev.mutable_cutover());
      *ev.mutable_transition() = std::move(t);
      events.push_back(std::move(ev));
    }
    if (events.empty()) {
      *events.emplace_back().mutable_cutover() = view->cutover;
      RedactSecrets(events.back().mutable_cutover());
    }
    for (const v1::WatchEvent& ev : events) {
      if (!writer->Write(ev)) return grpc::Status::OK;
    }
  }
  return grpc::Status::OK;
}

#undef CUTOVER_AUTHORIZE

}  // namespace cutover::service
