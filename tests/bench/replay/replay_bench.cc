// bench-replay: replay throughput (events/s) into a Hydra-2.x-shaped green,
// for the PostgreSQL queue and the Kafka queue (librdkafka mock cluster), next
// to the same deletes / deactivations done as server-side batched statements
// (DELETE ... WHERE signature = ANY($1)), in one run. Each run starts from a
// fresh copy of green (CREATE DATABASE ... TEMPLATE). Medians of --runs.
//
//   bench-replay [--scale 0.1] [--events 100000] [--batch 2000] [--runs 3]
//                [--backend both|postgres|kafka]
#include <algorithm>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/hydra/dataset.h"
#include "cutover/replay/event.h"
#include "cutover/replay/kafka_mock.h"
#include "cutover/replay/kafka_queue.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "cutover/sandbox/sandbox.h"

namespace {

using namespace cutover;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Fail(const absl::Status& st, const std::string& what) {
  std::cerr << "bench-replay: " << what << ": " << st << "\n";
  return 1;
}

struct Target {
  std::string table;
  std::string signature;
  bool deactivate;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-replay: replay throughput vs server-side batched statements"};
  double scale = 0.1;
  int events = 100000, batch = 2000, runs = 3;
  std::string backend = "both";
  app.add_option("--scale", scale, "green dataset scale (0.1 = 100k access + 100k refresh tokens)");
  app.add_option("--events", events, "events per run (half access deletes, half refresh deactivations)")
      ->check(CLI::Range(1000, 1000000));
  app.add_option("--batch", batch, "events per replay batch and per batched statement")->check(CLI::Range(1, 100000));
  app.add_option("--runs", runs, "runs per contender")->check(CLI::Range(1, 20));
  app.add_option("--backend", backend, "queue backends to measure")->check(CLI::IsMember({"both", "postgres", "kafka"}));
  CLI11_PARSE(app, argc, argv);

  sandbox::SandboxOptions opts;
  opts.clusters = {"green", "control"};
  opts.pgbouncer = false;
  opts.fast = false;
  auto sb = sandbox::Sandbox::Start(opts);
  if (!sb.ok()) return Fail(sb.status(), "sandbox");
  auto& sandbox = **sb;
  if (auto st = sandbox.CreateDatabase("green", "template_green"); !st.ok()) return Fail(st, "create db");
  if (auto st = sandbox.CreateDatabase("control", "control"); !st.ok()) return Fail(st, "create db");
  const std::string tmpl_dsn = sandbox.Dsn("green", "template_green");
  std::vector<Target> targets;
  {
    auto s = pg::Session::Connect(tmpl_dsn, "green");
    if (!s.ok()) return Fail(s.status(), "connect");
    std::cerr << "generating the Hydra 2.x green at scale " << scale << "...\n";
    if (auto st = hydra::CreateSchema2x(**s); !st.ok()) return Fail(st, "schema");
    if (auto st = hydra::Generate(**s, hydra::DatasetSize::AtScale(scale)); !st.ok()) return Fail(st, "generate");
    (void)(*s)->Exec("VACUUM ANALYZE");
    auto a = (*s)->Exec(absl::StrCat("SELECT signature FROM hydra_oauth2_access ORDER BY md5(signature) LIMIT ", events / 2));
    auto r = (*s)->Exec(absl::StrCat("SELECT signature FROM hydra_oauth2_refresh WHERE active ORDER BY md5(signature) LIMIT ",
                                     events - events / 2));
    if (!a.ok() || !r.ok()) return Fail(a.ok() ? r.status() : a.status(), "pick targets");
    for (const auto& row : *a) targets.push_back({"hydra_oauth2_access", row[0].as<std::string>(), false});
    for (const auto& row : *r) targets.push_back({"hydra_oauth2_refresh", row[0].as<std::string>(), true});
  }
  // Free the template of connections so CREATE DATABASE ... TEMPLATE works.
  const int n = static_cast<int>(targets.size());
  std::cerr << n << " target rows picked\n";

  cutover::v1::CaptureOptions co;
  co.set_profile("hydra");
  auto rules = replay::ResolveRules(co);
  if (!rules.ok()) return Fail(rules.status(), "rules");

  // Encoded events, as the relay would produce them.
  std::vector<replay::QueueMessage> messages;
  auto ids = replay::NewSeededIdGenerator(42);
  for (const auto& t : targets) {
    cutover::v1::RevocationEvent e;
    e.set_format_version(replay::kEventFormatVersion);
    e.set_event_id(ids->NewUuid());
    e.set_kind(t.deactivate ? "hydra.refresh.deactivate" : "hydra.access.delete");
    e.set_source_table(absl::StrCat("public.", t.table));
    e.set_op(t.deactivate ? cutover::v1::ROW_OP_UPDATE : cutover::v1::ROW_OP_DELETE);
    (*e.mutable_key())["signature"].set_text(t.signature);
    e.set_capture_path(cutover::v1::CAPTURE_PATH_TRIGGER);
    e.set_direction(cutover::v1::DIRECTION_BLUE_TO_GREEN);
    e.set_cutover_id("bench");
    messages.push_back({replay::PartitionKey(e), replay::EncodeEvent(e)});
  }

  std::unique_ptr<replay::MockKafkaCluster> mock;
  std::map<std::string, std::vector<double>> rates;
  int db_seq = 0;
  auto fresh_green = [&]() -> absl::StatusOr<std::string> {
    const std::string name = absl::StrCat("run_", db_seq++);
    auto admin = pg::Session::Connect(sandbox.Dsn("green"), "green");
    if (!admin.ok()) return admin.status();
    RETURN_IF_ERROR((*admin)->Exec(absl::StrCat("CREATE DATABASE ", name, " TEMPLATE template_green")).status());
    RETURN_IF_ERROR((*admin)->Exec("CHECKPOINT").status());
    return sandbox.Dsn("green", name);
  };

  auto run_replayer = [&](replay::RevocationQueue* q) -> absl::StatusOr<double> {
    ASSIGN_OR_RETURN(std::string green, fresh_green());
    replay::ReplayerOptions ro;
    ro.cutover_id = "bench";
    ro.apply_dsn = green;
    ro.batch_size = batch;
    ASSIGN_OR_RETURN(auto replayer, replay::Replayer::Create(ro, *rules, q));
    ASSIGN_OR_RETURN(auto seal, q->EndPositions());
    const absl::Time t0 = absl::Now();
    RETURN_IF_ERROR(replayer->DrainUntil(seal, absl::Now() + absl::Minutes(30)));
    const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
    const auto c = replayer->stats();
    if (c.applied != n) {
      return absl::InternalError(absl::StrCat("replayer applied ", c.applied, " of ", n, " events (noops ", c.noops,
                                              ", dead ", c.dead_letters, ")"));
    }
    return n / secs;
  };

  auto run_batched = [&]() -> absl::StatusOr<double> {
    ASSIGN_OR_RETURN(std::string green, fresh_green());
    ASSIGN_OR_RETURN(auto s, pg::Session::Connect(green, "green"));
    const absl::Time t0 = absl::Now();
    for (int off = 0; off < n; off += batch) {
      std::vector<std::optional<std::string>> del, upd;
      for (int i = off; i < std::min(n, off + batch); ++i) {
        (targets[i].deactivate ? upd : del).emplace_back(targets[i].signature);
      }
      RETURN_IF_ERROR(s->InTransaction([&](pqxx::work& tx) -> absl::Status {
        if (!del.empty()) {
          tx.exec_params("DELETE FROM hydra_oauth2_access WHERE signature = ANY($1::text[])",
                         replay::TextArrayLiteral(del));
        }
        if (!upd.empty()) {
          tx.exec_params("UPDATE hydra_oauth2_refresh SET active = false WHERE signature = ANY($1::text[])",
                         replay::TextArrayLiteral(upd));
        }
        return absl::OkStatus();
      }));
    }
    return n / absl::ToDoubleSeconds(absl::Now() - t0);
  };

  std::vector<std::string> contenders = {"batched statements"};
  std::unique_ptr<replay::RevocationQueue> pgq, kq;
  if (backend != "kafka") {
    auto q = replay::OpenPgQueue({sandbox.Dsn("control", "control"), "bench"});
    if (!q.ok()) return Fail(q.status(), "pg queue");
    pgq = std::move(*q);
    for (int off = 0; off < n; off += 1000) {
      std::vector<replay::QueueMessage> chunk(messages.begin() + off, messages.begin() + std::min(n, off + 1000));
      if (auto p = pgq->Append(chunk); !p.ok()) return Fail(p.status(), "fill pg queue");
    }
    contenders.push_back("replayer, postgres queue");
  }
  if (backend != "postgres") {
    auto m = replay::MockKafkaCluster::Start(3);
    if (!m.ok()) return Fail(m.status(), "kafka mock");
    mock = std::move(*m);
    // Many partitions keep each under the mock's per-partition retention.
    if (auto st = mock->CreateTopic("bench", 12); !st.ok()) return Fail(st, "topic");
    replay::KafkaQueueOptions ko;
    ko.bootstrap_servers = mock->bootstrap_servers();
    ko.topic = "bench";
    auto q = replay::OpenKafkaQueue(ko);
    if (!q.ok()) return Fail(q.status(), "kafka queue");
    kq = std::move(*q);
    for (int off = 0; off < n; off += 1000) {
      std::vector<replay::QueueMessage> chunk(messages.begin() + off, messages.begin() + std::min(n, off + 1000));
      if (auto p = kq->Append(chunk); !p.ok()) return Fail(p.status(), "fill kafka queue");
    }
    contenders.push_back("replayer, kafka queue (mock)");
  }

  for (int round = 0; round < runs; ++round) {
    for (size_t k = 0; k < contenders.size(); ++k) {
      const std::string& c = contenders[(k + round) % contenders.size()];
      absl::StatusOr<double> rate = c == "batched statements"          ? run_batched()
                                    : c == "replayer, postgres queue" ? run_replayer(pgq.get())
                                                                      : run_replayer(kq.get());
      if (!rate.ok()) return Fail(rate.status(), c);
      rates[c].push_back(*rate);
      std::cerr << absl::StrFormat("round %d  %-30s %10.0f events/s\n", round + 1, c, *rate);
    }
  }
  const double ref = Median(rates["batched statements"]);
  std::cout << absl::StrFormat(
      "\nReplay into Hydra 2.x green (scale %g), %d events (%d access deletes + %d refresh deactivations), "
      "batch %d, %d run(s), durable sandbox, 2 cores\n\n",
      scale, n, n / 2, n - n / 2, batch, runs);
  std::cout << "| contender | median events/s | min | max | vs batched statements |\n|---|---|---|---|---|\n";
  for (const auto& c : contenders) {
    const auto& v = rates[c];
    std::cout << absl::StrFormat("| %s | %.0f | %.0f | %.0f | %.2f× |\n", c, Median(v),
                                 *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()),
                                 Median(v) / ref);
  }
  return 0;
}
