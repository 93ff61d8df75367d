// cutover-kafka-mock: runs librdkafka's in-memory mock Kafka cluster so the
// Kafka queue backend can be demonstrated or tested without a broker. NOT
// durable: every message is lost when the process exits. Wiring only: the
// logic is cutover::replay::MockKafkaCluster.
//
//   cutover-kafka-mock [--brokers 3] [--topic revocations]... [--partitions 6]
//                      [--replication-factor 3] [--ready-file F] [--log-level info]
//                      [--control-stdin]
//
// --control-stdin: fault injection for chaos tests (tests/chaos), one command
// per line on stdin, each answered on stdout with "ok: <command>" or
// "error: <why>":
//   down B | up B        broker B (1..N, or -1 = all) refuses/accepts connections
//   rtt B MS             add MS milliseconds to every response of broker B (0 = none)
//   errors API N [ERR]   the next N requests of API (produce, fetch, metadata,
//                        list_offsets, offset_commit, offset_fetch, or its number)
//                        fail with ERR (transport = drop the connection (default),
//                        timed_out, not_leader, or a librdkafka error number)
//   clear API            drop the injected errors of API not yet consumed
// End of input ends the channel, not the cluster.
// Prints `BOOTSTRAP=<host:port,...>` on stdout (and into --ready-file, written
// atomically) once the topic exists, then runs until SIGTERM or SIGINT.
// Exit codes: 0 stopped by a signal; 1 failure; 2 usage error.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
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

// Commands from --control-stdin; `mu` keeps them off the cluster while main() destroys it.
int ApiKey(const std::string& word) {
  static const std::map<std::string, int> kNames = {
      {"produce", 0},       {"fetch", 1},        {"list_offsets", 2},     {"metadata", 3},
      {"offset_commit", 8}, {"offset_fetch", 9}, {"find_coordinator", 10}};
  if (auto it = kNames.find(word); it != kNames.end()) return it->second;
  try {
    return std::stoi(word);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string RunCommand(cutover::replay::MockKafkaCluster* cluster, const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  absl::Status st;
  if (cmd == "down" || cmd == "up") {
    int broker = 0;
    if (!(in >> broker)) return "error: expected '" + cmd + " BROKER' (1..N or -1 for all)";
    st = cluster->SetBrokerDown(broker, cmd == "down");
  } else if (cmd == "rtt") {
    int broker = 0, ms = 0;
    if (!(in >> broker >> ms) || ms < 0) return "error: expected 'rtt BROKER MILLISECONDS'";
    st = cluster->SetRtt(broker, absl::Milliseconds(ms));
  } else if (cmd == "errors" || cmd == "clear") {
    std::string api_word;
    in >> api_word;
    const int api = ApiKey(api_word);
    if (api < 0)
      return "error: expected an API name (produce, fetch, metadata, ...) or number, got '" + api_word + "'";
    if (cmd == "clear") {
      cluster->ClearRequestErrors(static_cast<int16_t>(api));
      return "ok: " + line;
    }
    int n = 0;
    std::string err_word = "transport";
    if (!(in >> n) || n < 1 || n > 10000)
      return "error: expected 'errors API COUNT [ERROR]' with COUNT 1..10000";
    in >> err_word;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TRANSPORT;
    if (err_word == "timed_out") {
      err = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
    } else if (err_word == "not_leader") {
      err = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    } else if (err_word != "transport") {
      try {
        err = static_cast<rd_kafka_resp_err_t>(std::stoi(err_word));
      } catch (const std::exception&) {
        return "error: expected an error (transport, timed_out, not_leader or a number), got '" + err_word +
               "'";
      }
    }
    st = cluster->PushRequestErrors(static_cast<int16_t>(api), std::vector<rd_kafka_resp_err_t>(n, err));
  } else {
    return "error: unknown command '" + cmd + "' (expected down, up, rtt, errors, clear)";
  }
  return st.ok() ? "ok: " + line : "error: " + std::string(st.message());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{std::string("cutover-kafka-mock: ") + kNotDurable + "."};
  int brokers = 3;
  std::vector<std::string> topics = {"revocations"};
  int partitions = 6;
  int replication_factor = 3;
  std::string ready_file;
  std::string log_level = "info";
  app.add_option("--brokers", brokers, "Number of mock brokers (ids 1..N)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--topic", topics,
                 "Topic to create; repeat for more (e.g. the rollback topic <topic>.rollback), each with "
                 "--partitions")
      ->capture_default_str();
  app.add_option("--partitions", partitions, "Partitions of the topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--replication-factor", replication_factor, "Replication factor (capped at --brokers)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--ready-file", ready_file, "Also write the BOOTSTRAP= line to this file once ready");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  bool control_stdin = false;
  app.add_flag(
      "--control-stdin", control_stdin,
      "Read fault-injection commands on stdin (down B, up B, rtt B MS, errors API N [ERR], clear API)");
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
  for (const auto& topic : topics) {
    if (auto st = (*cluster)->CreateTopic(topic, partitions, replication_factor); !st.ok()) {
      std::cerr << "cutover-kafka-mock: " << st.message() << "\n";
      return 1;
    }
  }
  const std::string line = "BOOTSTRAP=" + (*cluster)->bootstrap_servers();
  if (!ready_file.empty() && !WriteReadyFile(ready_file, line)) {
    std::cerr << "cutover-kafka-mock: cannot write the ready file " << ready_file << "\n";
    return 1;
  }
  std::cout << line << std::endl;
  std::cerr << "cutover-kafka-mock: " << brokers << " broker(s), topic(s) " << absl::StrJoin(topics, ", ")
            << " with " << partitions
            << " partition(s); stop with SIGTERM or Ctrl-C (NOT durable: data is discarded on exit)\n";

  // Static: the detached reader may outlive main()'s frame.
  static std::mutex control_mu;  // held by a command, and by main() while destroying the cluster
  static bool stopping = false;
  if (control_stdin) {
    // Detached: it may be blocked in a read of stdin when the process exits.
    std::thread([&cluster] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        std::lock_guard<std::mutex> lock(control_mu);
        if (stopping) return;
        std::cout << RunCommand(cluster->get(), line) << std::endl;
      }
    }).detach();
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "cutover-kafka-mock: signal " << sig << ", stopping (discarding all data)\n";
  {
    std::lock_guard<std::mutex> lock(control_mu);
    stopping = true;
    cluster->reset();
  }
  if (!ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(ready_file, ec);
  }
  return 0;
}
