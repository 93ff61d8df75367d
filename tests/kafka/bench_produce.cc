// bench-kafka-produce: Append() latency of the Kafka queue (idempotent
// producer, acks=all) against librdkafka's mock cluster on loopback, for
// single-message and 100-message batches. Each run starts a fresh mock
// cluster; the table shows the median over runs of each run's p50/p99.
// The mock has no disk and no real replication: these numbers are the
// client-side floor (librdkafka batching, linger.ms, loopback round trips),
// not a prediction for a real cluster. --rtt-ms adds broker latency.
//
//   bench-kafka-produce [--runs 5] [--appends 500] [--rtt-ms 0] [--partitions 6]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cutover/replay/kafka_mock.h"
#include "cutover/replay/kafka_queue.h"
#include "spdlog/spdlog.h"

namespace {

using cutover::replay::KafkaQueueOptions;
using cutover::replay::MockKafkaCluster;
using cutover::replay::QueueMessage;

struct RunResult {
  double p50_us = 0, p99_us = 0, mean_us = 0, msgs_per_s = 0;
};

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1))));
  return v[i];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

std::vector<QueueMessage> Batch(int run, int append, int size, int payload_bytes) {
  std::vector<QueueMessage> out(size);
  for (int i = 0; i < size; ++i) {
    out[i].key = absl::StrCat("public.hydra_oauth2_access|signature=sig-", (append * size + i) % 997);
    out[i].payload = absl::StrCat("bench-", run, "-", append, "-", i, "|");
    out[i].payload.resize(payload_bytes, 'x');
  }
  return out;
}

// One run of `appends` Appends of `batch` messages on a fresh cluster.
absl::StatusOr<RunResult> Run(int run, int batch, int appends, int partitions, int rtt_ms, int payload_bytes,
                              const std::map<std::string, std::string>& properties) {
  auto cluster = MockKafkaCluster::Start(3);
  if (!cluster.ok()) {
    return cluster.status();
  }
  if (auto st = (*cluster)->CreateTopic("bench", partitions, 3); !st.ok()) {
    return st;
  }
  if (rtt_ms > 0) {
    if (auto st = (*cluster)->SetRtt(-1, absl::Milliseconds(rtt_ms)); !st.ok()) {
      return st;
    }
  }
  KafkaQueueOptions o;
  o.bootstrap_servers = (*cluster)->bootstrap_servers();
  o.topic = "bench";
  o.properties = properties;
  auto queue = cutover::replay::OpenKafkaQueue(o);
  if (!queue.ok()) {
    return queue.status();
  }
  // Warm-up: connections, producer id, metadata for every partition.
  for (int i = 0; i < 20; ++i) {
    if (auto p = (*queue)->Append(Batch(run, -1 - i, batch, payload_bytes)); !p.ok()) {
      return p.status();
    }
  }
  std::vector<double> lat_us;
  lat_us.reserve(appends);
  const absl::Time start = absl::Now();
  for (int a = 0; a < appends; ++a) {
    const auto messages = Batch(run, a, batch, payload_bytes);
    const absl::Time t0 = absl::Now();
    auto p = (*queue)->Append(messages);
    lat_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (!p.ok()) {
      return p.status();
    }
  }
  const double total_s = absl::ToDoubleSeconds(absl::Now() - start);
  RunResult r;
  r.p50_us = Percentile(lat_us, 0.50);
  r.p99_us = Percentile(lat_us, 0.99);
  double sum = 0;
  for (double v : lat_us) {
    sum += v;
  }
  r.mean_us = sum / static_cast<double>(lat_us.size());
  r.msgs_per_s = static_cast<double>(appends) * batch / total_s;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bench-kafka-produce: KafkaQueue Append() latency on librdkafka's mock cluster (NOT durable, "
      "loopback only: a client-side floor, not a real-cluster number)"};
  int runs = 5, appends = 500, rtt_ms = 0, partitions = 6, payload_bytes = 200;
  app.add_option("--runs", runs, "Runs per batch size (fresh mock cluster each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--appends", appends, "Measured Appends per run")
      ->capture_default_str()
      ->check(CLI::Range(10, 100000));
  app.add_option("--rtt-ms", rtt_ms, "Extra broker round-trip delay")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--partitions", partitions, "Topic partitions")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--payload-bytes", payload_bytes, "Payload size")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  std::vector<std::string> props;
  app.add_option("--property", props, "Extra librdkafka property name=value (repeatable), e.g. linger.ms=5")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  CLI11_PARSE(app, argc, argv);
  std::map<std::string, std::string> properties;
  for (const auto& kv : props) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "bench-kafka-produce: --property wants name=value, got '" << kv << "'\n";
      return 2;
    }
    properties[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  spdlog::set_level(spdlog::level::warn);

  std::cout << absl::StrFormat(
      "bench-kafka-produce: mock cluster 3 brokers, %d partitions, payload %d B, rtt %d ms, %d runs x %d "
      "appends\n",
      partitions, payload_bytes, rtt_ms, runs, appends);
  std::cout << absl::StrFormat("%-10s %12s %12s %12s %12s %14s\n", "batch", "p50 (us)", "p99 (us)",
                               "mean (us)", "p50 range", "msgs/s");
  for (int batch : {1, 100}) {
    std::vector<double> p50, p99, mean, rate;
    for (int run = 0; run < runs; ++run) {
      auto r = Run(run, batch, appends, partitions, rtt_ms, payload_bytes, properties);
      if (!r.ok()) {
        std::cerr << "bench-kafka-produce: run " << run << " batch " << batch << ": " << r.status() << "\n";
        return 1;
      }
      p50.push_back(r->p50_us);
      p99.push_back(r->p99_us);
      mean.push_back(r->mean_us);
      rate.push_back(r->msgs_per_s);
    }
    const auto [lo, hi] = std::minmax_element(p50.begin(), p50.end());
    std::cout << absl::StrFormat("%-10s %12.0f %12.0f %12.0f %5.0f-%-6.0f %14.0f\n",
                                 absl::StrCat(batch, " msg"), Median(p50), Median(p99), Median(mean), *lo,
                                 *hi, Median(rate));
  }
  return 0;
}
