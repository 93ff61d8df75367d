#include "kafka_test_util.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cutover/replay/kafka_queue.h"
#include "gtest/gtest.h"

namespace cutover::replay::testing {

std::string KeyFor(int i, int keys) {
  return absl::StrCat("public.hydra_oauth2_access|signature=sig-", i % keys);
}

std::vector<QueueMessage> MakeMessages(const std::string& prefix, int first, int n, int keys,
                                       int payload_bytes) {
  std::vector<QueueMessage> out;
  out.reserve(n);
  for (int i = first; i < first + n; ++i) {
    QueueMessage m;
    m.key = KeyFor(i, keys);
    m.payload = absl::StrCat(prefix, "-", i, "|");
    if (static_cast<int>(m.payload.size()) < payload_bytes) {
      m.payload.resize(payload_bytes, 'x');
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string IdOf(const std::string& payload) { return payload.substr(0, payload.find('|')); }

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() >= deadline) {
      return false;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::vector<QueuedMessage> ReadRange(RevocationQueue* queue, const Positions& start, const Positions& end,
                                     absl::Duration timeout) {
  std::vector<QueuedMessage> out;
  auto reader = queue->OpenReader(start);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) {
    return out;
  }
  Positions next = start;
  const absl::Time deadline = absl::Now() + timeout;
  while (!Reached(next, end)) {
    if (absl::Now() >= deadline) {
      ADD_FAILURE() << "reader stuck at " << FormatPositions(next) << ", want " << FormatPositions(end);
      return out;
    }
    auto batch = (*reader)->Poll(1000, absl::Milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) {
      return out;
    }
    for (auto& m : *batch) {
      const int32_t p = m.position.partition();
      const int64_t want = NextOffset(next, p);
      if (m.position.offset() != want) {
        ADD_FAILURE() << "partition " << p << ": got offset " << m.position.offset() << ", expected " << want;
        return out;
      }
      SetNextOffset(&next, p, want + 1);
      out.push_back(std::move(m));
    }
  }
  // Nothing past the end: the reader must not invent messages.
  return out;
}

std::vector<QueuedMessage> ReadAll(RevocationQueue* queue) {
  auto end = queue->EndPositions();
  EXPECT_TRUE(end.ok()) << end.status();
  if (!end.ok()) {
    return {};
  }
  return ReadRange(queue, {}, *end);
}

namespace {
struct RkDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
}  // namespace

absl::StatusOr<int32_t> LeaderOf(const std::string& bootstrap, const std::string& topic, int32_t partition) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(errstr);
  }
  std::unique_ptr<rd_kafka_t, RkDeleter> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr));
  if (!rk) {
    rd_kafka_conf_destroy(conf);  // still ours when rd_kafka_new fails
    return absl::InternalError(errstr);
  }
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt.get(), &raw, 10000);
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(rd_kafka_err2str(err));
  }
  for (int t = 0; t < md->topic_cnt; ++t) {
    for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
      if (md->topics[t].partitions[p].id == partition) {
        return md->topics[t].partitions[p].leader;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no partition ", partition));
}

int32_t JavaMurmur2Partition(const std::string& key, int32_t partitions) {
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const uint32_t length = static_cast<uint32_t>(key.size());
  uint32_t h = 0x9747b28cu ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k =
        data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[tail];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>((h & 0x7fffffffu) % static_cast<uint32_t>(partitions));
}

Appender::Appender(RevocationQueue* queue, std::string prefix, int batch_size, int max_batches)
    : queue_(queue), prefix_(std::move(prefix)), batch_size_(batch_size), max_batches_(max_batches) {}

Appender::~Appender() { Stop(); }

void Appender::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Appender::Stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

absl::Duration Appender::InFlightFor() const {
  absl::MutexLock l(&mu_);
  if (in_flight_since_ == absl::InfiniteFuture()) {
    return absl::ZeroDuration();
  }
  return absl::Now() - in_flight_since_;
}

std::map<std::string, cutover::v1::QueuePosition> Appender::acked_positions() const {
  absl::MutexLock l(&mu_);
  return positions_;
}

std::set<std::string> Appender::attempted() const {
  absl::MutexLock l(&mu_);
  return attempted_;
}

std::vector<std::string> Appender::errors() const {
  absl::MutexLock l(&mu_);
  return errors_;
}

void Appender::Run() {
  for (int b = 0; b < max_batches_ && !stop_.load(); ++b) {
    const auto batch = MakeMessages(prefix_, b * batch_size_, batch_size_);
    {
      absl::MutexLock l(&mu_);
      for (const auto& m : batch) {
        attempted_.insert(IdOf(m.payload));
      }
    }
    for (;;) {  // re-send until acknowledged, like the relay
      {
        absl::MutexLock l(&mu_);
        in_flight_since_ = absl::Now();
      }
      auto positions = queue_->Append(batch);
      absl::MutexLock l(&mu_);
      in_flight_since_ = absl::InfiniteFuture();
      if (positions.ok()) {
        for (size_t i = 0; i < batch.size(); ++i) {
          positions_[IdOf(batch[i].payload)] = (*positions)[i];
        }
        acked_ += static_cast<int64_t>(batch.size());
        break;
      }
      ++failures_;
      errors_.push_back(positions.status().ToString());
      if (stop_.load()) {
        return;
      }
    }
  }
  done_.store(true);
}

int64_t ExpectNoLoss(const std::map<std::string, cutover::v1::QueuePosition>& acked,
                     const std::vector<QueuedMessage>& read, const std::set<std::string>* attempted) {
  std::map<std::pair<int32_t, int64_t>, std::string> by_position;
  std::map<std::string, int> seen;
  for (const auto& m : read) {
    by_position[{m.position.partition(), m.position.offset()}] = IdOf(m.payload);
    ++seen[IdOf(m.payload)];
  }
  std::set<std::pair<std::string, int32_t>> id_partition;
  for (const auto& m : read) {
    id_partition.insert({IdOf(m.payload), m.position.partition()});
  }
  int64_t lost = 0;
  for (const auto& [id, pos] : acked) {
    if (pos.offset() == kUnknownOffset) {
      // Stored without a reported offset: it must be in its partition.
      if (id_partition.count({id, pos.partition()}) == 0 && ++lost <= 5) {
        ADD_FAILURE() << "acknowledged " << id << " (offset not reported) is not in partition "
                      << pos.partition();
      }
      continue;
    }
    auto it = by_position.find({pos.partition(), pos.offset()});
    if (it == by_position.end() || it->second != id) {
      if (++lost <= 5) {
        ADD_FAILURE() << "acknowledged " << id << " at p" << pos.partition() << ":" << pos.offset()
                      << " is not there (found " << (it == by_position.end() ? "nothing" : it->second) << ")";
      }
    }
  }
  EXPECT_EQ(lost, 0) << "acknowledged messages lost";
  int64_t duplicates = 0;
  for (const auto& [id, n] : seen) {
    duplicates += n - 1;
    const bool known = attempted != nullptr ? attempted->count(id) != 0 : acked.count(id) != 0;
    if (!known) {
      ADD_FAILURE() << "read " << id << " that was never appended";
    }
  }
  return duplicates;
}

}  // namespace cutover::replay::testing
