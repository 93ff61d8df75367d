// cutover-replayer: the replayer as its own process (cutoverd runs the same
// code in-process by default). Applies one cutover's events from the queue to
// green until SIGTERM/SIGINT; restartable at any time (positions live in green).
//
//   cutover-replayer --cutover-id ID --green DSN
//                    (--control DSN | --kafka-bootstrap HOSTS --kafka-topic T)
//                    [--profile hydra | --capture-json FILE] [--batch 2000]
//
// Exit codes: 0 stopped by a signal, 1 runtime failure, 2 bad arguments.
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/synchronization/notification.h"
#include "cutover/common/log.h"
#include "cutover/replay/kafka_queue.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace {
cutover::replay::Replayer* g_replayer = nullptr;
void OnSignal(int) {
  if (g_replayer != nullptr) g_replayer->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cutover-replayer: apply a cutover's revocation events from the queue to green"};
  std::string cutover_id, green, control, bootstrap, topic, profile = "hydra", capture_json, log_level = "info";
  int batch = 2000;
  app.add_option("--cutover-id", cutover_id, "the cutover whose events to apply")->required();
  app.add_option("--green", green, "DSN of the database to apply to")->required();
  auto* pg = app.add_option("--control", control, "control database DSN (PostgreSQL queue)");
  auto* kb = app.add_option("--kafka-bootstrap", bootstrap, "Kafka bootstrap servers (Kafka queue)");
  app.add_option("--kafka-topic", topic, "Kafka topic")->needs(kb);
  pg->excludes(kb);
  app.add_option("--profile", profile, "built-in capture profile")->check(CLI::IsMember({"hydra"}));
  app.add_option("--capture-json", capture_json, "CaptureOptions as JSON (plan's \"capture\" object) instead of --profile");
  app.add_option("--batch", batch, "events per batch")->check(CLI::Range(1, 100000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto st = cutover::SetupLogging(log_level); !st.ok()) {
    std::cerr << "cutover-replayer: " << st.message() << "\n";
    return 2;
  }
  if (control.empty() && bootstrap.empty()) {
    std::cerr << "cutover-replayer: give --control (PostgreSQL queue) or --kafka-bootstrap and --kafka-topic\n";
    return 2;
  }
  cutover::v1::CaptureOptions capture;
  capture.set_profile(profile);
  if (!capture_json.empty()) {
    std::ifstream f(capture_json);
    if (!f) {
      std::cerr << "cutover-replayer: --capture-json: cannot read " << capture_json << "\n";
      return 2;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    capture.Clear();
    auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &capture);
    if (!st.ok()) {
      std::cerr << "cutover-replayer: --capture-json " << capture_json << ": " << st.message() << "\n";
      return 2;
    }
  }
  auto rules = cutover::replay::ResolveRules(capture);
  if (!rules.ok()) {
    std::cerr << "cutover-replayer: " << rules.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<cutover::replay::RevocationQueue>> queue =
      !control.empty() ? cutover::replay::OpenPgQueue({control, cutover_id})
                       : cutover::replay::OpenKafkaQueue([&] {
                           cutover::replay::KafkaQueueOptions o;
                           o.bootstrap_servers = bootstrap;
                           o.topic = topic;
                           return o;
                         }());
  if (!queue.ok()) {
    std::cerr << "cutover-replayer: opening the queue: " << queue.status().message() << "\n";
    return 1;
  }
  cutover::replay::ReplayerOptions ro;
  ro.cutover_id = cutover_id;
  ro.apply_dsn = green;
  ro.batch_size = batch;
  auto replayer = cutover::replay::Replayer::Create(ro, *rules, queue->get());
  if (!replayer.ok()) {
    std::cerr << "cutover-replayer: " << replayer.status().message() << "\n";
    return cutover::IsRetryable(replayer.status()) ? 1 : 2;
  }
  g_replayer = replayer->get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  absl::Notification done;
  std::thread reporter([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      const auto c = (*replayer)->stats();
      spdlog::info("replayed: applied {} noops {} duplicates {} dead letters {} at {}", c.applied, c.noops,
                   c.duplicates, c.dead_letters, cutover::replay::FormatPositions(c.positions));
    }
  });
  spdlog::info("replaying cutover {} into {}", cutover_id, cutover::pg::DescribeDsn(green));
  (*replayer)->Run();
  done.Notify();
  reporter.join();
  const auto c = (*replayer)->stats();
  spdlog::info("stopped: applied {} noops {} duplicates {} dead letters {} at {}", c.applied, c.noops, c.duplicates,
               c.dead_letters, cutover::replay::FormatPositions(c.positions));
  return 0;
}
