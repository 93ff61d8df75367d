// cutoverd: the cutover daemon. Wires the real implementations (PostgreSQL
// control store, PgCutoverBackend, the gRPC control server) around the
// Orchestrator; all logic lives in orchestrator/engine. Several cutoverd may
// share one control database: one drives each cutover (lease), the others
// are standbys. Operation: docs/cutoverd.md.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/log.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/engine/pg_backend.h"
#include "cutover/http/http_api.h"
#include "cutover/http/http_server.h"
#include "cutover/http/metrics_collector.h"
#include "cutover/http/status_sampler.h"
#include "cutover/notify/webhook_notifier.h"
#include "cutover/replay/api_capture.h"
#include "cutover/replay/rules.h"
#include "cutover/service/auth.h"
#include "cutover/service/capture_service.h"
#include "cutover/service/server.h"
#include "cutover/store/control_store.h"
#include "prometheus/registry.h"
#include "spdlog/spdlog.h"

namespace {

// Set by SIGINT/SIGTERM; only async-signal-safe work in the handler, the
// main thread polls the flag.
volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// CaptureService: one ApiCapture (and queue) per cutover, opened on first use.
class CaptureRegistry {
 public:
  explicit CaptureRegistry(cutover::store::ControlStore* store) : store_(store) {}
  absl::StatusOr<cutover::replay::ApiCapture*> Resolve(const std::string& id) {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (it != entries_.end()) return it->second.capture.get();
    absl::StatusOr<cutover::store::StoredCutover> s = store_->Get(id);
    if (!s.ok()) return s.status();
    const cutover::v1::Phase p = s->cutover.phase();
    if (p < cutover::v1::PHASE_CAPTURING || p > cutover::v1::PHASE_READY) {
      return absl::FailedPreconditionError(absl::StrCat("cutover ", id, " is in ", cutover::engine::PhaseName(p),
                                                        ": revocations are recorded only while its window is open "
                                                        "(CAPTURING through READY)"));
    }
    absl::StatusOr<std::vector<cutover::v1::CaptureRule>> rules = cutover::replay::ResolveRules(s->cutover.plan().capture());
    if (!rules.ok()) return rules.status();
    absl::StatusOr<std::unique_ptr<cutover::replay::RevocationQueue>> q =
        cutover::engine::OpenPlanQueue(id, s->cutover.plan());
    if (!q.ok()) return q.status();
    Entry& e = entries_[id];
    e.queue = std::move(*q);
    e.capture = std::make_unique<cutover::replay::ApiCapture>(id, cutover::v1::DIRECTION_BLUE_TO_GREEN, *rules,
                                                              e.queue.get());
    return e.capture.get();
  }

 private:
  struct Entry {
    std::unique_ptr<cutover::replay::RevocationQueue> queue;
    std::unique_ptr<cutover::replay::ApiCapture> capture;
  };
  cutover::store::ControlStore* store_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// Atomically (write + rename), so a reader never sees a half-written port.
void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f) {
    std::fprintf(f, "%d\n", port);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

std::string DefaultIdentity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat("cutoverd@", host, ":", getpid());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cutoverd: the cutover daemon (gRPC control API, state machine, relay and replayer)"};
  std::string control_dsn, listen = "127.0.0.1:7400", identity = DefaultIdentity(), auth_path, log_level = "info";
  std::string tls_cert, tls_key, tls_ca, port_file, http_listen, http_port_file, webhook_config;
  bool insecure_local = false, require_client_cert = false, api_only = false;
  double lease_ttl_s = 10;
  app.add_option("--control-dsn", control_dsn, "PostgreSQL control database (schema cutover)")
      ->required()
      ->envname("CUTOVER_CONTROL_DSN");
  app.add_option("--listen", listen, "gRPC listen address; port 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port to this file once serving");
  app.add_option("--identity", identity, "name in leases and the timeline")->capture_default_str();
  app.add_option("--lease-ttl", lease_ttl_s, "seconds a lease lives without renewal (takeover time)")->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  app.add_option("--auth-config", auth_path, "bearer tokens / client certificates -> roles (docs/api.md)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure-local", insecure_local, "no auth: every local caller is approver (loopback only)");
  app.add_option("--tls-cert", tls_cert, "server certificate (PEM)")->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "server key (PEM)")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", tls_ca, "CA for client certificates (mTLS)")->check(CLI::ExistingFile);
  app.add_flag("--require-client-cert", require_client_cert, "demand a client certificate");
  app.add_flag("--api-only", api_only, "serve the API, never drive cutovers (no leases taken)");
  app.add_option("--http-listen", http_listen,
                 "HTTP listener ADDR:PORT for /metrics, the status page and the JSON API (off when empty; "
                 "port 0 picks a free one; plain HTTP: keep it on loopback or a private network)");
  app.add_option("--http-port-file", http_port_file, "write the bound HTTP port to this file once serving");
  app.add_option("--webhook-config", webhook_config,
                 "JSON file of webhook endpoints POSTed a signed event on every phase change (docs/webhooks.md)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  // Usage errors exit 2 like cutoverd's own flag checks (and cutoverctl, the
  // replayer), not CLI11's 105/106: scripts and units tell "fix the command
  // line" from "the control store was down" by the code.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (absl::Status st = cutover::SetupLogging(log_level); !st.ok()) {
    std::cerr << "cutoverd: --log-level: " << st.message() << "\n";
    return 2;
  }
  if (!http_listen.empty()) {
    std::string host;
    int http_port = 0;
    if (absl::Status st = cutover::http::ParseListenAddress(http_listen, &host, &http_port); !st.ok()) {
      std::cerr << "cutoverd: --http-listen: " << st.message() << "\n";
      return 2;
    }
  }
  // Every metric of this daemon lives in this one registry, served on
  // /metrics by the HTTP listener together with the cutover collector.
  auto metrics_registry = std::make_shared<prometheus::Registry>();
  // Webhooks (orchestrator/notify): declared before the orchestrator, so it
  // outlives it; the orchestrator hands it every phase change.
  std::unique_ptr<cutover::notify::WebhookNotifier> notifier;
  if (!webhook_config.empty()) {
    absl::StatusOr<std::vector<cutover::notify::EndpointSettings>> endpoints =
        cutover::notify::LoadWebhookConfig(webhook_config);
    if (!endpoints.ok()) {
      std::cerr << "cutoverd: --webhook-config: " << endpoints.status().message() << "\n";
      return 2;
    }
    std::string names;
    for (const auto& e : *endpoints) absl::StrAppend(&names, names.empty() ? "" : ", ", e.name);
    cutover::notify::NotifierOptions nopts;
    nopts.daemon_identity = identity;
    nopts.metrics = metrics_registry.get();
    absl::StatusOr<std::unique_ptr<cutover::notify::WebhookNotifier>> n =
        cutover::notify::WebhookNotifier::Create(std::move(*endpoints), nopts);
    if (!n.ok()) {
      std::cerr << "cutoverd: --webhook-config: " << n.status().message() << "\n";
      return 2;
    }
    notifier = std::move(*n);
    spdlog::info("cutoverd: webhooks on phase changes to {}", names);
  }
  absl::StatusOr<std::unique_ptr<cutover::store::ControlStore>> store = cutover::store::NewPgControlStore(control_dsn);
  if (store.ok()) {
    absl::Status st = (*store)->Init();
    if (!st.ok()) store = st;
  }
  if (!store.ok()) {
    std::cerr << "cutoverd: control store: " << store.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<cutover::engine::BackendFactory> backends = cutover::engine::NewPgBackendFactory();
  cutover::engine::OrchestratorOptions opts;
  opts.identity = identity;
  opts.lease_ttl = absl::Seconds(lease_ttl_s);
  opts.run_workers = !api_only;
  opts.observer = notifier.get();
  cutover::engine::Orchestrator orch(store->get(), backends.get(), cutover::Clock::Real(), opts);

  CaptureRegistry registry(store->get());
  cutover::service::CaptureServiceImpl capture([&](const std::string& id) { return registry.Resolve(id); });

  cutover::service::ServerConfig cfg;
  cfg.listen_address = listen;
  cfg.tls_cert_path = tls_cert;
  cfg.tls_key_path = tls_key;
  cfg.tls_client_ca_path = tls_ca;
  cfg.require_client_cert = require_client_cert;
  cfg.insecure_local = insecure_local;
  if (!auth_path.empty()) {
    absl::StatusOr<cutover::service::AuthConfig> auth = cutover::service::LoadAuthConfig(auth_path);
    if (!auth.ok()) {
      std::cerr << "cutoverd: --auth-config: " << auth.status().message() << "\n";
      return 2;
    }
    cfg.auth = std::move(*auth);
  }
  int port = 0;
  absl::StatusOr<std::unique_ptr<cutover::service::ControlServer>> server =
      cutover::service::StartControlServer(cfg, &orch, &capture, &port);
  if (!server.ok()) {
    std::cerr << "cutoverd: " << server.status().message() << "\n";
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  // HTTP listener (orchestrator/http): read-only views of the same API.
  // Bound before the orchestrator starts and before the port file is
  // written: a listener that cannot bind exits 2 having adopted no cutover
  // and published no port.
  std::unique_ptr<cutover::http::StatusSampler> sampler;
  std::unique_ptr<cutover::http::HttpApi> http_api;
  std::unique_ptr<cutover::http::HttpServer> http_server;
  if (!http_listen.empty()) {
    cutover::http::CollectorOptions copts;
    copts.identity = identity;
    auto collector = std::make_shared<cutover::http::MetricsCollector>(
        &orch, [&orch] { return orch.Driving(); }, cutover::Clock::Real(), copts);
    sampler = std::make_unique<cutover::http::StatusSampler>(&orch, cutover::Clock::Real());
    http_api = std::make_unique<cutover::http::HttpApi>(
        &orch, sampler.get(), metrics_registry, std::vector<std::shared_ptr<prometheus::Collectable>>{collector});
    cutover::http::HttpServerOptions hopts;
    hopts.listen = http_listen;
    absl::StatusOr<std::unique_ptr<cutover::http::HttpServer>> hs =
        cutover::http::StartHttpServer(hopts, http_api.get());
    if (!hs.ok()) {
      std::cerr << "cutoverd: --http-listen: " << hs.status().message() << "\n";
      (*server)->Shutdown(absl::Seconds(5));
      orch.Stop();
      return 2;
    }
    http_server = std::move(*hs);
    sampler->Start();
    const std::string base = absl::StrCat("http://", http_listen.substr(0, http_listen.rfind(':')), ":",
                                          http_server->port());
    spdlog::info("cutoverd: status page {}/ , metrics {}/metrics", base, base);
    if (!http_port_file.empty()) WritePortFile(http_port_file, http_server->port());
  }
  orch.Start();
  spdlog::info("cutoverd {} serving on port {} ({}), control store {}", identity, port,
               api_only ? "api only" : "driving cutovers", cutover::pg::RedactDsn(control_dsn));
  if (!port_file.empty()) WritePortFile(port_file, port);
  while (!g_stop) absl::SleepFor(absl::Milliseconds(100));
  spdlog::info("cutoverd: stopping (cutovers keep their phase; a standby or restart resumes them)");
  if (http_server) http_server->Shutdown();
  if (sampler) sampler->Stop();
  (*server)->Shutdown(absl::Seconds(5));
  orch.Stop();
  // After the workers (they hand over no more): up to 5 s to deliver what is
  // queued; the rest is logged and re-sent by the next lease holder.
  if (notifier) notifier->Stop(absl::Now() + absl::Seconds(5));
  return 0;
}
