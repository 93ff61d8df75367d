// cutover-kafka-mock: runs librdkafka's in-memory mock Kafka cluster so the
// Kafka queue backend can be demonstrated or tested without a broker. NOT
// durable: every message is lost when the process exits. Wiring only: the
// logic is cutover::replay::MockKafkaCluster.
//
//   cutover-kafka-mock [--brokers 3] [--topic revocations] [--partitions 6]
//                      [--replication-factor 3] [--ready-file F] [--log-level info]
//
// Prints `BOOTSTRAP=<host:port,...>` on stdout (and into --ready-file, written
// atomically) once the topic exists, then runs until SIGTERM or SIGINT.
// Exit codes: 0 stopped by a signal; 1 failure; 2 usage error.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cutover/common/log.h"
#include "cutover/replay/kafka_mock.h"

namespace {

constexpr char kNotDurable[] =
    "in-memory librdkafka mock cluster: NOT durable (all data is lost on exit, each partition keeps "
    "only ~5 MiB / 100k message sets), for demos and tests only";

bool WriteReadyFile(const std::string& path, const std::string& line) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << "\n";
    out.flush();
    if (!out) {
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{std::string("cutover-kafka-mock: ") + kNotDurable + "."};
  int brokers = 3;
  std::string topic = "revocations";
  int partitions = 6;
  int replication_factor = 3;
  std::string ready_file;
  std::string log_level = "info";
  app.add_option("--brokers", brokers, "Number of mock brokers (ids 1..N)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--topic", topic, "Topic to create")->capture_default_str();
  app.add_option("--partitions", partitions, "Partitions of the topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--replication-factor", replication_factor, "Replication factor (capped at --brokers)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--ready-file", ready_file, "Also write the BOOTSTRAP= line to this file once ready");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto st = cutover::SetupLogging(log_level); !st.ok()) {
    std::cerr << "cutover-kafka-mock: " << st.message() << "\n";
    return 2;
  }

  // Block the stop signals before librdkafka starts its threads (they inherit
  // the mask), then wait for them synchronously with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::cerr << "cutover-kafka-mock: starting an " << kNotDurable << "\n";
  auto cluster = cutover::replay::MockKafkaCluster::Start(brokers);
  if (!cluster.ok()) {
    std::cerr << "cutover-kafka-mock: " << cluster.status().message() << "\n";
    return 1;
  }
  if (auto st = (*cluster)->CreateTopic(topic, partitions, replication_factor); !st.ok()) {
    std::cerr << "cutover-kafka-mock: " << st.message() << "\n";
    return 1;
  }
  const std::string line = "BOOTSTRAP=" + (*cluster)->bootstrap_servers();
  if (!ready_file.empty() && !WriteReadyFile(ready_file, line)) {
    std::cerr << "cutover-kafka-mock: cannot write the ready file " << ready_file << "\n";
    return 1;
  }
  std::cout << line << std::endl;
  std::cerr << "cutover-kafka-mock: " << brokers << " broker(s), topic " << topic << " with " << partitions
            << " partition(s); stop with SIGTERM or Ctrl-C (NOT durable: data is discarded on exit)\n";

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "cutover-kafka-mock: signal " << sig << ", stopping (discarding all data)\n";
  cluster->reset();
  if (!ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(ready_file, ec);
  }
  return 0;
}
