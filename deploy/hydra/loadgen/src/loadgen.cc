#include "cutover/loadgen/loadgen.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/loadgen/stats.h"
#include "hydra_sql.h"

namespace cutover::loadgen {

// Counters of the summary beyond the six operation kinds.
constexpr int kConnectStat = kNumOpKinds;      // "connect"
constexpr int kRefreshStat = kNumOpKinds + 1;  // "pool_refresh"
constexpr int kStatKinds = kNumOpKinds + 2;

namespace {

constexpr int kMaxErrors = 5;
// Revocations of consents and login sessions stop when the pool holds this
// few: the run never deletes everything.
constexpr size_t kMinConsents = 20;
constexpr size_t kMinSessions = 20;
// How many candidates a client tries when the ones it draws are in use.
constexpr int kClaimAttempts = 4;
constexpr absl::Duration kMinRefreshInterval = absl::Milliseconds(500);
constexpr absl::Duration kReconnectBackoff = absl::Milliseconds(200);
constexpr int kClientSample = 10'000;

std::string StatName(int i) {
  if (i < kNumOpKinds) {
    return std::string(OpName(static_cast<OpKind>(i)));
  }
  return i == kConnectStat ? "connect" : "pool_refresh";
}

// ---- one round trip on a raw libpq connection ----

using Results = std::vector<pg::PgResultPtr>;

// Sends `sql` (one or more statements, simple query protocol) and returns
// every result; the first failed statement's error otherwise (libpq skips
// the rest of the string after an error).
absl::StatusOr<Results> Round(pg::RawConn& c, const std::string& sql) {
  if (!PQsendQuery(c.get(), sql.c_str())) {
    return c.ConnError("send query");
  }
  Results out;
  absl::Status first;
  while (PGresult* raw = PQgetResult(c.get())) {
    pg::PgResultPtr res(raw);
    const ExecStatusType st = PQresultStatus(raw);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && first.ok()) {
      first = c.ResultError(raw);
    }
    out.push_back(std::move(res));
  }
  if (!first.ok()) {
    return first;
  }
  if (PQstatus(c.get()) == CONNECTION_BAD) {
    return c.ConnError("query");
  }
  return out;
}

int64_t Affected(const pg::PgResultPtr& r) {
  const char* s = PQcmdTuples(r.get());
  return (s && *s) ? std::atoll(s) : 0;
}

// The last result must be the COMMIT's, and the server must have committed:
// COMMIT of a transaction that failed meanwhile answers ROLLBACK.
absl::Status ExpectCommit(const pg::RawConn& c, const Results& r) {
  const std::string status = r.empty() ? "" : PQcmdStatus(r.back().get());
  if (status != "COMMIT") {
    return absl::AbortedError(absl::StrCat(c.what(), ": COMMIT answered '", status, "': not committed"));
  }
  return absl::OkStatus();
}

// ---- targets ----

struct ConsentTarget {
  std::string challenge, client_id, subject;
};
struct TokenTarget {
  std::string request_id, challenge_id, client_id;  // challenge_id "" for client_credentials grants
};
struct RefreshTarget {
  std::string signature, request_id, client_id, subject, challenge_id;
};

// A bag of candidates; callers hold Targets::mu.
template <typename T>
class Pool {
 public:
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  size_t installed() const { return installed_; }
  const T& At(size_t i) const { return items_[i]; }
  void Remove(size_t i) {
    items_[i] = std::move(items_.back());
    items_.pop_back();
  }
  void Add(T item, size_t cap, std::mt19937_64& rng) {
    if (items_.size() < cap) {
      items_.push_back(std::move(item));
    } else if (!items_.empty()) {
      items_[rng() % items_.size()] = std::move(item);
    }
  }
  void Replace(std::vector<T> items) {
    items_ = std::move(items);
    installed_ = items_.size();
  }
  // Keeps the order of the rest (Remove does not).
  void RemoveFirst() { items_.erase(items_.begin()); }
  template <typename Pred>
  void RemoveIf(Pred pred) {
    items_.erase(std::remove_if(items_.begin(), items_.end(), pred), items_.end());
  }

 private:
  std::vector<T> items_;
  size_t installed_ = 0;  // size after the last refresh
};

// An operation with its target chosen and its keys claimed.
struct Planned {
  OpKind kind = OpKind::kIssue;
  ConsentTarget consent;  // issue, revoke_consent
  RefreshTarget refresh;  // rotate
  TokenTarget token;      // revoke_token
  std::string key;        // revoke_login: session id; delete_client: client id
  std::vector<std::string> claims;
};

enum class Result { kCommitted, kNoop, kStale };
struct Outcome {
  Result result = Result::kCommitted;
  Schema schema = Schema::k1x;
  // After issue/rotate: the new refresh token, a future rotation target.
  std::optional<RefreshTarget> new_refresh;
};

struct KindStats {
  int64_t ok = 0, noop = 0, stale = 0, skipped = 0, failed = 0;
  std::vector<std::string> errors;
  LatencyHistogram latency;
  std::array<int64_t, 2> committed_by_schema = {0, 0};
};

// ---- random values shaped like Hydra's ----

const char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string RandomText(std::mt19937_64& rng, size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    uint64_t bits = rng();
    for (int i = 0; i < 10 && out.size() < n; ++i, bits >>= 6) {
      out.push_back(kB64Url[bits & 63]);
    }
  }
  return out;
}

std::string Uuid(std::mt19937_64& rng) {
  const uint64_t a = rng(), b = rng();
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

sql::NewToken NewToken(std::mt19937_64& rng, const std::string& request_id, const std::string& client_id,
                       const std::string& subject, const std::string& challenge,
                       const std::string& form_data) {
  sql::NewToken t;
  t.signature = RandomText(rng, 86);  // a base64url SHA-512 HMAC, like fosite's
  t.request_id = request_id;
  t.client_id = client_id;
  t.subject = subject;
  t.challenge_id = challenge;
  t.form_data = form_data;
  t.session_data = RandomText(rng, 300 + rng() % 301);
  return t;
}

std::string CodeForm(std::mt19937_64& rng) {
  return absl::StrCat(
      "grant_type=authorization_code&code=ory_ac_", RandomText(rng, 43),
      "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&code_verifier=", RandomText(rng, 43));
}

std::string RefreshForm(std::mt19937_64& rng) {
  return absl::StrCat("grant_type=refresh_token&refresh_token=ory_rt_", RandomText(rng, 86),
                      "&scope=openid+offline_access+profile+email");
}

}  // namespace

class LoadGenerator::Impl {
 public:
  explicit Impl(Options options)
      : options_(std::move(options)), clock_(options_.clock), pacer_(clock_, options_.rate) {}
  ~Impl() { Stop("stopped"); }

  absl::Status Init() {
    if (!options_.ledger_path.empty()) {
      ASSIGN_OR_RETURN(ledger_, Ledger::Open(options_.ledger_path));
    }
    std::vector<pg::RawConn> conns;
    for (int i = 0; i < options_.clients; ++i) {
      auto c = Connect(absl::StrCat("client ", i + 1));
      if (!c.ok()) {
        return c.status();
      }
      conns.push_back(std::move(*c));
    }
    auto sampler = Connect("target sampler");
    if (!sampler.ok()) {
      return sampler.status();
    }
    RETURN_IF_ERROR(Annotate(RefreshPools(*sampler), "sample the first targets"));
    {
      absl::MutexLock l(&mu_);
      started_at_ = clock_->Now();
      stats_[kConnectStat].ok = options_.clients + 1;
    }
    {
      absl::MutexLock l(&targets_mu_);
      last_client_deletion_ = started_at_;
    }
    gap_.Start(started_at_);
    running_ = options_.clients;
    sampler_ = std::thread([this, c = std::move(*sampler)]() mutable { SamplerLoop(std::move(c)); });
    for (int i = 0; i < options_.clients; ++i) {
      threads_.emplace_back([this, i, c = std::move(conns[i])]() mutable { ClientLoop(i, std::move(c)); });
    }
    return absl::OkStatus();
  }

  bool Done() const { return running_.load() == 0; }

  void Stop(absl::string_view reason) {
    {
      absl::MutexLock l(&mu_);
      if (stop_reason_.empty()) {
        stop_reason_ = std::string(reason);
      }
      stop_ = true;
    }
    pacer_.Cancel();
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
    WakeSampler();
    if (sampler_.joinable()) {
      sampler_.join();
    }
  }

  v1::LoadgenSummary Summary() const {
    v1::LoadgenSummary s;
    absl::MutexLock l(&mu_);
    const absl::Time end =
        running_.load() == 0 && exited_at_ != absl::InfinitePast() ? exited_at_ : clock_->Now();
    s.set_target(pg::DescribeDsn(options_.dsn));
    s.set_clients(options_.clients);
    s.set_target_rate(options_.rate);
    s.set_seed(options_.seed);
    *s.mutable_started_at() = ToProtoTime(started_at_);
    *s.mutable_ended_at() = ToProtoTime(end);
    const double elapsed = std::max(0.0, absl::ToDoubleSeconds(end - started_at_));
    s.set_elapsed_seconds(elapsed);
    s.set_stop_reason(stop_reason_);
    int64_t committed = 0;
    for (int i = 0; i < kStatKinds; ++i) {
      const KindStats& k = stats_[i];
      v1::LoadgenOpStats* o = s.add_ops();
      o->set_kind(StatName(i));
      o->set_ok(k.ok);
      o->set_noop(k.noop);
      o->set_stale(k.stale);
      o->set_skipped(k.skipped);
      o->set_failed(k.failed);
      for (const auto& e : k.errors) {
        o->add_errors(e);
      }
      auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
      o->mutable_latency()->set_p50_ms(ms(k.latency.Percentile(0.50)));
      o->mutable_latency()->set_p99_ms(ms(k.latency.Percentile(0.99)));
      o->mutable_latency()->set_max_ms(ms(k.latency.Max()));
      o->mutable_latency()->set_mean_ms(ms(k.latency.Mean()));
      for (Schema sc : {Schema::k1x, Schema::k2x}) {
        const int64_t n = k.committed_by_schema[static_cast<int>(sc)];
        if (n == 0) {
          continue;
        }
        (*o->mutable_committed_by_schema())[std::string(SchemaName(sc))] = n;
        (*s.mutable_committed_by_schema())[std::string(SchemaName(sc))] += n;
      }
      if (i < kNumOpKinds) {
        committed += k.ok + k.noop;
        s.set_stale(s.stale() + k.stale);
        s.set_skipped(s.skipped() + k.skipped);
      }
      s.set_failed(s.failed() + k.failed);
    }
    s.set_committed(committed);
    s.set_committed_per_second(elapsed > 0 ? static_cast<double>(committed) / elapsed : 0);
    const WriteGapTracker::Gap gap = gap_.Longest(end);
    s.mutable_longest_write_gap()->set_seconds(absl::ToDoubleSeconds(gap.length));
    s.set_client_deletion_pause_seconds(absl::ToDoubleSeconds(gap_.Suspended()));
    if (gap.start != absl::InfinitePast()) {
      *s.mutable_longest_write_gap()->mutable_start() = ToProtoTime(gap.start);
      *s.mutable_longest_write_gap()->mutable_end() = ToProtoTime(gap.end);
    }
    if (ledger_) {
      s.set_ledger_path(ledger_->path());
      s.set_ledger_lines(ledger_->lines());
    }
    return s;
  }

 private:
  absl::StatusOr<pg::RawConn> Connect(const std::string& what) {
    return pg::RawConn::Connect(options_.dsn, what, options_.application_name);
  }

  bool Stopping() const {
    absl::MutexLock l(&mu_);
    return stop_;
  }

  // Sleeps up to `d`, returning early once the run stops.
  void Pause(absl::Duration d) {
    const absl::Time until = clock_->Now() + d;
    while (!Stopping()) {
      const absl::Duration left = until - clock_->Now();
      if (left <= absl::ZeroDuration()) {
        return;
      }
      clock_->SleepFor(std::min(left, absl::Milliseconds(20)));
    }
  }

  // ---- stats ----

  void RecordOk(int kind, Result r, Schema schema, absl::Duration latency) {
    absl::MutexLock l(&mu_);
    KindStats& k = stats_[kind];
    if (r == Result::kStale) {
      ++k.stale;
      return;
    }
    ++(r == Result::kNoop ? k.noop : k.ok);
    ++k.committed_by_schema[static_cast<int>(schema)];
    k.latency.Record(latency);
  }
  void RecordFailure(int kind, const absl::Status& st) {
    absl::MutexLock l(&mu_);
    KindStats& k = stats_[kind];
    ++k.failed;
    if (k.errors.size() < kMaxErrors) {
      k.errors.push_back(std::string(st.message()));
    }
  }
  void RecordSkip(int kind) {
    absl::MutexLock l(&mu_);
    ++stats_[kind].skipped;
  }
  void RecordConnect() {
    absl::MutexLock l(&mu_);
    ++stats_[kConnectStat].ok;
  }

  // ---- claims: keys an operation works on, so two of our own transactions
  // never touch one grant or consent in opposite lock orders ----

  bool TryClaim(const std::vector<std::string>& keys) ABSL_EXCLUSIVE_LOCKS_REQUIRED(targets_mu_) {
    for (const auto& k : keys) {
      if (claimed_.count(k)) {
        return false;
      }
    }
    claimed_.insert(keys.begin(), keys.end());
    return true;
  }
  void Release(const std::vector<std::string>& keys) {
    absl::MutexLock l(&targets_mu_);
    for (const auto& k : keys) {
      claimed_.erase(k);
    }
  }

  // Draws a candidate from `pool` whose keys can be claimed; removes it from
  // the pool when `take`. nullopt when none was found.
  template <typename T, typename KeysFn>
  std::optional<T> Draw(Pool<T>& pool, bool take, std::mt19937_64& rng, KeysFn keys_of,
                        std::vector<std::string>* claims) ABSL_EXCLUSIVE_LOCKS_REQUIRED(targets_mu_) {
    for (int attempt = 0; attempt < kClaimAttempts && !pool.empty(); ++attempt) {
      const size_t i = rng() % pool.size();
      std::vector<std::string> keys = keys_of(pool.At(i));
      if (!TryClaim(keys)) {
        continue;
      }
      T item = pool.At(i);
      if (take) {
        pool.Remove(i);
      }
      *claims = std::move(keys);
      if (pool.size() * 2 < pool.installed()) {
        WakeSampler();
      }
      return item;
    }
    if (pool.empty() || pool.size() * 2 < pool.installed()) {
      WakeSampler();
    }
    return std::nullopt;
  }

  std::optional<Planned> Plan(OpKind kind, std::mt19937_64& rng) {
    absl::MutexLock l(&targets_mu_);
    Planned p;
    p.kind = kind;
    auto none = [](const auto&) { return std::vector<std::string>{}; };
    switch (kind) {
      case OpKind::kIssue: {
        auto c = Draw(consents_, false, rng, none, &p.claims);
        if (!c) {
          return std::nullopt;
        }
        p.consent = std::move(*c);
        return p;
      }
      case OpKind::kRotate: {
        auto r = Draw(
            refresh_, true, rng,
            [](const RefreshTarget& t) { return std::vector<std::string>{"rq:" + t.request_id}; }, &p.claims);
        if (!r) {
          return std::nullopt;
        }
        p.refresh = std::move(*r);
        return p;
      }
      case OpKind::kRevokeToken: {
        auto t = Draw(
            tokens_, true, rng,
            [](const TokenTarget& t) {
              std::vector<std::string> keys = {"rq:" + t.request_id};
              if (!t.challenge_id.empty()) {
                keys.push_back("cc:" + t.challenge_id);
              }
              return keys;
            },
            &p.claims);
        if (!t) {
          return std::nullopt;
        }
        p.token = std::move(*t);
        return p;
      }
      case OpKind::kRevokeConsent: {
        if (consents_.size() <= kMinConsents) {
          return std::nullopt;
        }
        auto c = Draw(
            consents_, true, rng,
            [](const ConsentTarget& t) { return std::vector<std::string>{"cc:" + t.challenge}; }, &p.claims);
        if (!c) {
          return std::nullopt;
        }
        p.consent = std::move(*c);
        return p;
      }
      case OpKind::kRevokeLogin: {
        if (sessions_.size() <= kMinSessions) {
          return std::nullopt;
        }
        auto s = Draw(
            sessions_, true, rng, [](const std::string& id) { return std::vector<std::string>{"ls:" + id}; },
            &p.claims);
        if (!s) {
          return std::nullopt;
        }
        p.key = std::move(*s);
        return p;
      }
      case OpKind::kDeleteClient: {
        const size_t floor = std::max<size_t>(2, initial_clients_ / 2);
        const absl::Time now = clock_->Now();
        if (client_deletions_ >= options_.max_client_deletions || clients_.size() <= floor ||
            now - last_client_deletion_ < options_.client_deletion_interval) {
          return std::nullopt;
        }
        // The pool is ordered smallest first: the deletion (which runs
        // alone) stays short.
        p.key = clients_.At(0);
        clients_.RemoveFirst();
        ++client_deletions_;  // counts attempts: a failed deletion still uses one
        last_client_deletion_ = now;
        return p;
      }
    }
    return std::nullopt;
  }

  // Pool upkeep after a transaction, so later draws avoid what is gone.
  void AfterOp(const Planned& p, const Outcome& out, std::mt19937_64& rng) {
    absl::MutexLock l(&targets_mu_);
    const size_t cap = static_cast<size_t>(options_.pool_size);
    if (out.new_refresh) {
      refresh_.Add(*out.new_refresh, cap, rng);
      if (p.kind == OpKind::kIssue) {
        tokens_.Add(TokenTarget{out.new_refresh->request_id, out.new_refresh->challenge_id,
                                out.new_refresh->client_id},
                    cap, rng);
      }
    }
    switch (p.kind) {
      case OpKind::kIssue:
        if (out.result == Result::kStale) {
          consents_.RemoveIf([&](const ConsentTarget& c) { return c.challenge == p.consent.challenge; });
        }
        break;
      case OpKind::kRevokeToken:
        refresh_.RemoveIf([&](const RefreshTarget& r) { return r.request_id == p.token.request_id; });
        break;
      case OpKind::kRevokeConsent: {
        const std::string& x = p.consent.challenge;
        refresh_.RemoveIf([&](const RefreshTarget& r) { return r.challenge_id == x; });
        tokens_.RemoveIf([&](const TokenTarget& t) { return t.challenge_id == x; });
        break;
      }
      case OpKind::kDeleteClient:
        consents_.RemoveIf([&](const ConsentTarget& c) { return c.client_id == p.key; });
        refresh_.RemoveIf([&](const RefreshTarget& r) { return r.client_id == p.key; });
        tokens_.RemoveIf([&](const TokenTarget& t) { return t.client_id == p.key; });
        break;
      default:
        break;
    }
  }

  // ---- transactions ----

  absl::StatusOr<Schema> Begin(pg::RawConn& c, bool read_only) {
    ASSIGN_OR_RETURN(Results r, Round(c, sql::BeginAndDetect(read_only)));
    if (r.size() != 2 || PQntuples(r[1].get()) != 1) {
      return absl::InternalError(absl::StrCat(c.what(), ": unexpected answer to the shape check"));
    }
    if (std::string(PQgetvalue(r[1].get(), 0, 0)) == "t") {
      return Schema::k2x;
    }
    if (std::string(PQgetvalue(r[1].get(), 0, 1)) == "t") {
      return Schema::k1x;
    }
    return absl::FailedPreconditionError(
        absl::StrCat(c.what(),
                     ": no Hydra schema here (neither hydra_oauth2_flow nor "
                     "hydra_oauth2_consent_request exists in the search_path)"));
  }

  // The target is gone: end the transaction as Hydra would, without effect.
  absl::StatusOr<Outcome> Stale(pg::RawConn& c, Schema schema) {
    RETURN_IF_ERROR(Round(c, "ROLLBACK").status());
    return Outcome{Result::kStale, schema, std::nullopt};
  }

  static bool OneRowEach(const Results& r, size_t n) {
    for (size_t i = 0; i < n && i < r.size(); ++i) {
      if (PQntuples(r[i].get()) != 1) {
        return false;
      }
    }
    return r.size() >= n;
  }

  // Issue or rotate: lock the grant's client and consent, optionally
  // deactivate the old refresh token, then write the new pair and commit.
  absl::StatusOr<Outcome> Grant(pg::RawConn& c, Schema schema, const Planned& p, std::mt19937_64& fresh) {
    std::mt19937_64& rng = fresh;
    const bool rotate = p.kind == OpKind::kRotate;
    const std::string& client = rotate ? p.refresh.client_id : p.consent.client_id;
    const std::string& subject = rotate ? p.refresh.subject : p.consent.subject;
    const std::string& challenge = rotate ? p.refresh.challenge_id : p.consent.challenge;
    std::string first = sql::LockGrantParents(schema, client, challenge);
    if (rotate) {
      absl::StrAppend(&first, "; ", sql::DeactivateRefresh(p.refresh.signature));
    }
    ASSIGN_OR_RETURN(Results locked, Round(c, first));
    const size_t locks = schema == Schema::k2x ? 2 : 3;
    if (!OneRowEach(locked, locks) || (rotate && (locked.size() <= locks || Affected(locked[locks]) != 1))) {
      return Stale(c, schema);
    }
    const std::string nid = schema == Schema::k2x ? PQgetvalue(locked[1].get(), 0, 0) : "";
    const std::string request_id = rotate ? p.refresh.request_id : Uuid(rng);
    const std::string form = rotate ? RefreshForm(rng) : CodeForm(rng);
    const sql::NewToken access = NewToken(rng, request_id, client, subject, challenge, form);
    const sql::NewToken refresh = NewToken(rng, request_id, client, subject, challenge, form);
    std::string write;
    if (rotate) {
      absl::StrAppend(&write, sql::DeleteAccessByRequest(request_id), "; ");
    }
    absl::StrAppend(&write, sql::InsertAccess(schema, access, nid), "; ",
                    sql::InsertRefresh(schema, refresh, nid), "; COMMIT");
    ASSIGN_OR_RETURN(Results done, Round(c, write));
    RETURN_IF_ERROR(ExpectCommit(c, done));
    return Outcome{Result::kCommitted, schema,
                   RefreshTarget{refresh.signature, request_id, client, subject, challenge}};
  }

  // A revocation: `statements` then COMMIT; a no-op when no row changed.
  absl::StatusOr<Outcome> Revoke(pg::RawConn& c, Schema schema, const std::string& statements) {
    ASSIGN_OR_RETURN(Results done, Round(c, absl::StrCat(statements, "; COMMIT")));
    RETURN_IF_ERROR(ExpectCommit(c, done));
    int64_t changed = 0;
    for (size_t i = 0; i + 1 < done.size(); ++i) {
      changed += Affected(done[i]);
    }
    return Outcome{changed > 0 ? Result::kCommitted : Result::kNoop, schema, std::nullopt};
  }

  absl::StatusOr<Outcome> Execute(pg::RawConn& c, const Planned& p, std::mt19937_64& fresh) {
    ASSIGN_OR_RETURN(Schema schema, Begin(c, false));
    switch (p.kind) {
      case OpKind::kIssue:
      case OpKind::kRotate:
        return Grant(c, schema, p, fresh);
      case OpKind::kRevokeToken:
        return Revoke(c, schema,
                      absl::StrCat(sql::DeleteAccessByRequest(p.token.request_id), "; ",
                                   sql::DeactivateRefreshByRequest(p.token.request_id)));
      case OpKind::kRevokeConsent:
        return Revoke(c, schema, sql::DeleteConsent(schema, p.consent.challenge));
      case OpKind::kRevokeLogin:
        return Revoke(c, schema, sql::DeleteLoginSession(p.key));
      case OpKind::kDeleteClient:
        return Revoke(c, schema, sql::DeleteClient(p.key));
    }
    return absl::InternalError("unknown operation");
  }

  static std::optional<LedgerEntry> LedgerLine(const Planned& p, const Outcome& out, absl::Time at) {
    LedgerEntry e;
    e.at = at;
    e.schema = out.schema;
    switch (p.kind) {
      case OpKind::kIssue:
        return std::nullopt;
      case OpKind::kRotate:
        e.kind = RevocationKind::kRefresh;
        e.key = p.refresh.signature;
        break;
      case OpKind::kRevokeToken:
        e.kind = RevocationKind::kToken;
        e.key = p.token.request_id;
        break;
      case OpKind::kRevokeConsent:
        e.kind = RevocationKind::kConsent;
        e.key = p.consent.challenge;
        break;
      case OpKind::kRevokeLogin:
        e.kind = RevocationKind::kLoginSession;
        e.key = p.key;
        break;
      case OpKind::kDeleteClient:
        e.kind = RevocationKind::kClient;
        e.key = p.key;
        break;
    }
    return e;
  }

  // After a failed transaction: roll back what is open, or drop a broken
  // connection (the next operation reconnects).
  static void Recover(std::optional<pg::RawConn>& conn) {
    if (!conn) {
      return;
    }
    if (PQstatus(conn->get()) != CONNECTION_OK) {
      conn.reset();
      return;
    }
    if (PQtransactionStatus(conn->get()) != PQTRANS_IDLE && !Round(*conn, "ROLLBACK").ok()) {
      conn.reset();
    }
  }

  // `rng` draws the choices (reproducible with --seed); `fresh` the new
  // tokens' values, seeded per run so a second run never collides with the
  // rows of the first.
  void RunOne(OpKind kind, std::optional<pg::RawConn>& conn, std::mt19937_64& rng, std::mt19937_64& fresh) {
    std::optional<Planned> p = Plan(kind, rng);
    if (!p && kind != OpKind::kIssue) {
      RecordSkip(static_cast<int>(kind));
      p = Plan(OpKind::kIssue, rng);
    }
    if (!p) {
      RecordSkip(static_cast<int>(OpKind::kIssue));
      Pause(absl::Milliseconds(50));
      return;
    }
    const int k = static_cast<int>(p->kind);
    // A client deletion cascades into rows of every kind: it runs alone.
    // The other clients wait meanwhile; that wait is the workload's doing,
    // not the database's, so it is left out of the write gap (and reported).
    const bool exclusive = p->kind == OpKind::kDeleteClient;
    if (exclusive) {
      gap_.Suspend(clock_->Now());
      exclusive_mu_.Lock();
    } else {
      exclusive_mu_.ReaderLock();
    }
    const absl::Time t0 = clock_->Now();
    absl::StatusOr<Outcome> out = Execute(*conn, *p, fresh);
    const absl::Time t1 = clock_->Now();
    if (exclusive) {
      exclusive_mu_.Unlock();
      gap_.Resume(clock_->Now());
    } else {
      exclusive_mu_.ReaderUnlock();
    }
    if (!out.ok()) {
      RecordFailure(k, out.status());
      Recover(conn);
    } else {
      if (out->result != Result::kStale) {
        gap_.OnCommit(t1);
        if (auto line = LedgerLine(*p, *out, t1); line && ledger_) {
          if (absl::Status st = ledger_->Append(*line); !st.ok()) {
            {
              absl::MutexLock l(&mu_);
              if (stop_reason_.empty()) {
                stop_reason_ = absl::StrCat("ledger write failed: ", st.message());
              }
              stop_ = true;
            }
            pacer_.Cancel();
          }
        }
      }
      RecordOk(k, out->result, out->schema, t1 - t0);
      AfterOp(*p, *out, rng);
    }
    Release(p->claims);
  }

  void ClientLoop(int index, pg::RawConn first) {
    std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index) + 1);
    std::random_device entropy;
    std::seed_seq fresh_seed{entropy(), entropy(), entropy(), entropy()};
    std::mt19937_64 fresh(fresh_seed);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::optional<pg::RawConn> conn(std::move(first));
    const std::string what = absl::StrCat("client ", index + 1);
    while (!Stopping()) {
      if (!pacer_.Acquire()) {
        break;
      }
      if (options_.max_ops > 0 && attempted_.fetch_add(1) >= options_.max_ops) {
        break;
      }
      if (!conn) {
        auto c = Connect(what);
        if (!c.ok()) {
          RecordFailure(kConnectStat, c.status());
          Pause(kReconnectBackoff);
          continue;
        }
        RecordConnect();
        conn.emplace(std::move(*c));
      }
      RunOne(options_.mix.Pick(uniform(rng)), conn, rng, fresh);
    }
    absl::MutexLock l(&mu_);
    if (--running_ == 0) {
      exited_at_ = clock_->Now();
    }
  }

  // ---- target sampler ----

  void WakeSampler() {
    absl::MutexLock l(&sampler_mu_);
    sampler_wake_ = true;
  }

  // Re-samples every pool but the clients, which are sampled once (the
  // first time), ordered by size: nothing but this run deletes them.
  absl::Status RefreshPools(pg::RawConn& c) {
    bool first;
    {
      absl::MutexLock l(&targets_mu_);
      first = initial_clients_ == 0;
    }
    ASSIGN_OR_RETURN(Schema schema, Begin(c, true));
    ASSIGN_OR_RETURN(Results est, Round(c, sql::TableEstimates(schema)));
    double e[sql::kSampledTables];
    for (int i = 0; i < sql::kSampledTables; ++i) {
      e[i] = est.size() == 1 && PQntuples(est[0].get()) == sql::kSampledTables
                 ? std::atof(PQgetvalue(est[0].get(), i, 1))
                 : -1;
    }
    const int want = options_.pool_size;
    ASSIGN_OR_RETURN(
        Results r,
        Round(c, absl::StrCat(first ? sql::SampleClients(schema, kClientSample) : "SELECT NULL WHERE false",
                              "; ", sql::SampleSessions(e[1], want), "; ",
                              sql::SampleConsents(schema, e[2], want), "; ", sql::SampleTokens(e[3], want),
                              "; ", sql::SampleRefresh(e[4], want), "; COMMIT")));
    if (r.size() != 6) {
      return absl::InternalError("target sample: unexpected number of results");
    }
    auto rows = [](const pg::PgResultPtr& res, auto make) {
      using T = decltype(make(res.get(), 0));
      std::vector<T> out;
      for (int i = 0; i < PQntuples(res.get()); ++i) {
        out.push_back(make(res.get(), i));
      }
      return out;
    };
    auto v = [](const PGresult* res, int row, int col) { return std::string(PQgetvalue(res, row, col)); };
    auto clients = rows(r[0], [&](const PGresult* x, int i) { return v(x, i, 0); });
    auto sessions = rows(r[1], [&](const PGresult* x, int i) { return v(x, i, 0); });
    auto consents = rows(r[2], [&](const PGresult* x, int i) {
      return ConsentTarget{v(x, i, 0), v(x, i, 1), v(x, i, 2)};
    });
    auto tokens = rows(r[3], [&](const PGresult* x, int i) {
      return TokenTarget{v(x, i, 0), v(x, i, 1), v(x, i, 2)};
    });
    auto refresh = rows(r[4], [&](const PGresult* x, int i) {
      return RefreshTarget{v(x, i, 0), v(x, i, 1), v(x, i, 2), v(x, i, 3), v(x, i, 4)};
    });
    absl::MutexLock l(&targets_mu_);
    if (first) {
      initial_clients_ = clients.size();
      clients_.Replace(std::move(clients));
    }
    sessions_.Replace(std::move(sessions));
    consents_.Replace(std::move(consents));
    tokens_.Replace(std::move(tokens));
    refresh_.Replace(std::move(refresh));
    return absl::OkStatus();
  }

  void SamplerLoop(pg::RawConn first) {
    std::optional<pg::RawConn> conn(std::move(first));
    absl::Time last = clock_->Now();
    while (true) {
      {
        absl::MutexLock l(&sampler_mu_);
        sampler_mu_.AwaitWithTimeout(
            absl::Condition(&sampler_wake_),
            options_.pool_refresh > absl::ZeroDuration() ? options_.pool_refresh : absl::Seconds(5));
        sampler_wake_ = false;
      }
      if (Stopping()) {
        return;
      }
      const absl::Duration since = clock_->Now() - last;
      if (since < kMinRefreshInterval) {
        Pause(kMinRefreshInterval - since);
      }
      if (Stopping()) {
        return;
      }
      last = clock_->Now();
      if (!conn) {
        auto c = Connect("target sampler");
        if (!c.ok()) {
          RecordFailure(kRefreshStat, c.status());
          continue;
        }
        conn.emplace(std::move(*c));
      }
      absl::Status st = RefreshPools(*conn);
      if (st.ok()) {
        absl::MutexLock l(&mu_);
        ++stats_[kRefreshStat].ok;
      } else {
        RecordFailure(kRefreshStat, st);
        Recover(conn);
      }
    }
  }

  const Options options_;
  Clock* const clock_;
  Pacer pacer_;
  WriteGapTracker gap_;
  std::unique_ptr<Ledger> ledger_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::string stop_reason_ ABSL_GUARDED_BY(mu_);
  absl::Time started_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time exited_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::array<KindStats, kStatKinds> stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> running_{0};
  std::atomic<int64_t> attempted_{0};

  // Readers: every operation but a client deletion, which is the writer.
  absl::Mutex exclusive_mu_;

  // Lock order: targets_mu_ before sampler_mu_.
  absl::Mutex targets_mu_;
  Pool<ConsentTarget> consents_ ABSL_GUARDED_BY(targets_mu_);
  Pool<RefreshTarget> refresh_ ABSL_GUARDED_BY(targets_mu_);
  Pool<TokenTarget> tokens_ ABSL_GUARDED_BY(targets_mu_);
  Pool<std::string> sessions_ ABSL_GUARDED_BY(targets_mu_);
  Pool<std::string> clients_ ABSL_GUARDED_BY(targets_mu_);
  std::set<std::string> claimed_ ABSL_GUARDED_BY(targets_mu_);
  size_t initial_clients_ ABSL_GUARDED_BY(targets_mu_) = 0;
  int client_deletions_ ABSL_GUARDED_BY(targets_mu_) = 0;
  absl::Time last_client_deletion_ ABSL_GUARDED_BY(targets_mu_);

  absl::Mutex sampler_mu_;
  bool sampler_wake_ ABSL_GUARDED_BY(sampler_mu_) = false;

  std::thread sampler_;
  std::vector<std::thread> threads_;
};

absl::StatusOr<std::unique_ptr<LoadGenerator>> LoadGenerator::Start(Options options) {
  if (options.clients < 1) {
    return absl::InvalidArgumentError("clients: at least 1");
  }
  if (!(options.rate >= 0)) {
    return absl::InvalidArgumentError("rate: must be 0 (unpaced) or positive");
  }
  if (options.mix.Total() <= 0) {
    return absl::InvalidArgumentError("mix: at least one weight must be positive");
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("pool_size: at least 1");
  }
  if (options.clock == nullptr) {
    options.clock = Clock::Real();
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<LoadGenerator>(new LoadGenerator(std::move(impl)));
}

LoadGenerator::LoadGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadGenerator::~LoadGenerator() = default;
bool LoadGenerator::Done() const { return impl_->Done(); }
void LoadGenerator::Stop(absl::string_view reason) { impl_->Stop(reason); }
v1::LoadgenSummary LoadGenerator::Summary() const { return impl_->Summary(); }

}  // namespace cutover::loadgen
