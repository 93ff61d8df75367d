// Prometheus against real cutoverd processes (label e2e): two daemons (the
// active one and a standby) on the sandbox serve /metrics on
// `--http-listen 127.0.0.1:0`; a cutover waits in READY; Debian's prometheus
// scrapes both every second with deploy/prometheus/cutover-alerts.yml loaded.
// Through Prometheus's HTTP API: both targets up, the READY phase and the
// copy row counters (= the tables' row counts) visible, every exported
// metric name in the contract, the per-cutover series deduplicated by the
// rules (`max by (cutover, ...)`), every rule healthy and every expression of
// the rules and of deploy/grafana/cutover-dashboard.json evaluating without
// error; no alert firing for a healthy cutover in READY, CutoverFlipFailed
// firing once (not once per daemon) after a flip undone by a failpoint, and
// nothing firing after the second flip (COMPLETED, write gap recorded).
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "cutover/common/status.h"
#include "e2e_support.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::e2e {
namespace {

namespace pb = google::protobuf;

std::string SourceDir() {
  const char* dir = std::getenv("CUTOVER_SOURCE_DIR");
  return dir ? dir : ".";
}

// A port nobody listens on right now (bind 0, read it, close). Another
// process may take it before prometheus binds it: Prometheus::Start retries.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// GET `url` with `params` ("key=value", the value URL-encoded here) through
// libcurl; the body whatever the status code (Prometheus answers a bad query
// with 400 and a JSON error). Single-threaded use (curl_global_init).
absl::StatusOr<std::string> HttpGet(const std::string& url, const std::vector<std::string>& params = {}) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialized) return absl::InternalError("curl_global_init failed");
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  std::string full = url;
  char sep = '?';
  for (const std::string& p : params) {
    const size_t eq = p.find('=');
    const std::string value = eq == std::string::npos ? "" : p.substr(eq + 1);
    char* escaped = curl_easy_escape(curl.get(), value.data(), static_cast<int>(value.size()));
    if (escaped == nullptr) return absl::InternalError("curl_easy_escape failed");
    absl::StrAppend(&full, std::string(1, sep), p.substr(0, eq), "=", escaped);
    curl_free(escaped);
    sep = '&';
  }
  std::string body;
  using WriteFn = size_t (*)(char*, size_t, size_t, void*);
  const WriteFn write = [](char* data, size_t size, size_t n, void* out) -> size_t {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  };
  curl_easy_setopt(curl.get(), CURLOPT_URL, full.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("GET ", url, ": ", curl_easy_strerror(rc)));
  return body;
}

absl::StatusOr<pb::Struct> ParseJson(const std::string& json) {
  pb::Struct s;
  const auto st = pb::util::JsonStringToMessage(json, &s);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("not JSON (", st.ToString(), "): ", json.substr(0, 300)));
  return s;
}

const pb::Value& Field(const pb::Struct& s, const std::string& key) {
  static const pb::Value* const kNull = new pb::Value();
  auto it = s.fields().find(key);
  return it == s.fields().end() ? *kNull : it->second;
}
std::string Str(const pb::Struct& s, const std::string& key) { return Field(s, key).string_value(); }

// One prometheus process on 127.0.0.1:<free port>; stopped by pid (SIGTERM,
// then SIGKILL after 20 s) in the destructor.
class Prometheus {
 public:
  ~Prometheus() { Stop(); }

  // Writes `config` and starts prometheus; retries with another port when
  // the chosen one was taken meanwhile. Returns once /-/ready answers.
  absl::Status Start(const std::string& dir, const std::string& config) {
    const std::string config_path = absl::StrCat(dir, "/prometheus.yml");
    {
      std::ofstream out(config_path);
      out << config;
    }
    for (int attempt = 1; attempt <= 5; ++attempt) {
      port_ = FreePort();
      if (port_ <= 0) return absl::InternalError("no free port");
      log_ = absl::StrCat(dir, "/prometheus-", attempt, ".log");
      const std::string data = absl::StrCat(dir, "/prometheus-data-", attempt);
      std::vector<std::string> args = {"prometheus",
                                       absl::StrCat("--config.file=", config_path),
                                       absl::StrCat("--storage.tsdb.path=", data),
                                       absl::StrCat("--web.listen-address=127.0.0.1:", port_),
                                       "--log.level=info"};
      pid_ = fork();
      if (pid_ == 0) {
        FILE* f = std::freopen(log_.c_str(), "a", stderr);
        (void)f;
        dup2(2, 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp("prometheus", argv.data());
        _exit(127);
      }
      if (pid_ < 0) return absl::InternalError("fork failed");
      bool ready = false, exited = false;
      ct::WaitFor(
          [&] {
            if (ct::ReapIfExited(pid_)) {
              exited = true;
              return true;
            }
            absl::StatusOr<std::string> r = HttpGet(absl::StrCat(Url(), "/-/ready"));
            ready = r.ok() && absl::StrContains(*r, "Ready");
            return ready;
          },
          absl::Seconds(60), absl::Milliseconds(200));
      if (ready) return absl::OkStatus();
      if (!exited) {
        Stop();
        return absl::DeadlineExceededError(absl::StrCat("prometheus not ready after 60 s: ", log()));
      }
      pid_ = -1;
      if (!absl::StrContains(log(), "address already in use")) {
        return absl::InternalError(absl::StrCat("prometheus exited: ", log()));
      }
    }
    return absl::UnavailableError("prometheus could not bind a port in 5 attempts");
  }

  void Stop() {
    if (pid_ > 0 && ct::ProcessRunning(pid_)) {
      kill(pid_, SIGTERM);
      if (!ct::WaitFor([&] { return ct::ReapIfExited(pid_); }, absl::Seconds(20))) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    pid_ = -1;
  }

  std::string Url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string log() const { return ReadAll(log_); }

  // GET /api/v1/<path>; the "data" member when "status" is "success".
  absl::StatusOr<pb::Value> Api(const std::string& path, const std::vector<std::string>& params = {}) {
    ASSIGN_OR_RETURN(std::string body, HttpGet(absl::StrCat(Url(), "/api/v1/", path), params));
    ASSIGN_OR_RETURN(pb::Struct s, ParseJson(body));
    if (Str(s, "status") != "success") {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", Str(s, "errorType"), ": ", Str(s, "error")));
    }
    return Field(s, "data");
  }
  // Instant query; the result (a vector's samples, or a scalar's pair).
  absl::StatusOr<pb::ListValue> Query(const std::string& expr) {
    ASSIGN_OR_RETURN(pb::Value data, Api("query", {absl::StrCat("query=", expr)}));
    return Field(data.struct_value(), "result").list_value();
  }
  // Samples of an instant vector query as "label=value,..." -> value.
  absl::StatusOr<std::map<std::string, double>> Samples(const std::string& expr, const std::string& label) {
    ASSIGN_OR_RETURN(pb::ListValue result, Query(expr));
    std::map<std::string, double> out;
    for (const pb::Value& v : result.values()) {
      const pb::Struct& sample = v.struct_value();
      const std::string key = Str(Field(sample, "metric").struct_value(), label);
      const pb::ListValue& value = Field(sample, "value").list_value();
      if (value.values_size() != 2) continue;
      double d = 0;
      if (!absl::SimpleAtod(value.values(1).string_value(), &d)) continue;
      out[key] = d;
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
  std::string log_;
};

// Every "expr" of the dashboard JSON (panels, rows' panels, annotations),
// in document order.
void CollectExprs(const pb::Value& v, std::vector<std::string>* out) {
  if (v.has_struct_value()) {
    for (const auto& [k, child] : v.struct_value().fields()) {
      if (k == "expr" && child.has_string_value()) {
        out->push_back(child.string_value());
      } else {
        CollectExprs(child, out);
      }
    }
  } else if (v.has_list_value()) {
    for (const pb::Value& child : v.list_value().values()) CollectExprs(child, out);
  }
}

std::set<std::string> ContractMetrics() {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(ReadAll(SourceDir() + "/tests/dashboards/contract_metrics.txt"), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#') names.insert(std::string(line));
  }
  return names;
}

// Evaluates every dashboard expression with the variables substituted as
// Grafana would; each must succeed. Returns how many returned data.
int EvaluateDashboard(Prometheus& prom, const std::vector<std::string>& exprs, const std::string& id,
                      const std::string& when) {
  int with_data = 0;
  for (const std::string& raw : exprs) {
    const std::string expr =
        absl::StrReplaceAll(raw, {{"$cutover", id}, {"$job", "cutoverd"}, {"$__rate_interval", "1m"}});
    absl::StatusOr<pb::ListValue> r = prom.Query(expr);
    EXPECT_TRUE(r.ok()) << when << ": " << expr << ": " << r.status();
    if (r.ok() && r->values_size() > 0) ++with_data;
  }
  return with_data;
}

// Waits until the rules have run on data showing `phase` for the cutover
// (selector `c`): the recording rule cutover:phase:current comes first in the
// group, the alerts after it in the same evaluation. It must hold ONE series
// although two daemons export the cutover. Then no alert may be firing.
void ExpectNoAlertFiring(Prometheus& prom, const std::string& c, const std::string& phase) {
  std::map<std::string, double> current;
  EXPECT_TRUE(ct::WaitFor([&] {
    absl::StatusOr<std::map<std::string, double>> s =
        prom.Samples(absl::StrCat("cutover:phase:current{", c, "}"), "phase");
    if (s.ok()) current = *s;
    return current.size() == 1 && current.contains(phase);
  }, absl::Seconds(20), absl::Milliseconds(250)))
      << "cutover:phase:current{" << c << "}: " << current.size() << " series, want one: " << phase;
  absl::StatusOr<std::map<std::string, double>> firing = prom.Samples(R"(ALERTS{alertstate="firing"})", "alertname");
  ASSERT_TRUE(firing.ok()) << firing.status();
  for (const auto& [alert, v] : *firing) {
    ADD_FAILURE() << "alert firing in " << phase << ": " << alert;
  }
}

using PrometheusE2eTest = E2eFixture;

TEST_F(PrometheusE2eTest, PrometheusScrapesTwoDaemonsAndEvaluatesEveryRuleAndPanel) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  const std::vector<std::string> args_a = {"--insecure-local", "--http-listen", "127.0.0.1:0", "--http-port-file",
                                           dir_ + "/http-a.port"};
  const std::vector<std::string> args_b = {"--insecure-local", "--http-listen", "127.0.0.1:0", "--http-port-file",
                                           dir_ + "/http-b.port"};
  // prom-a drives the cutover; its first flip fails at the fence and is
  // undone (back to READY), the second one succeeds.
  Daemon a(db_.control, "prom-a", dir_, "flip.fence=error-once", args_a);
  const std::string server = a.Address();
  ASSERT_FALSE(server.empty()) << a.log();
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());
  CtlResult ready = Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "120s"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err << a.log();
  // The standby, started once prom-a drives the cutover: exports the same
  // cutover, does not drive it.
  Daemon b(db_.control, "prom-b", dir_, "", args_b);
  ASSERT_FALSE(b.Address().empty()) << b.log();
  std::vector<std::string> http_ports;
  for (const std::string& f : {dir_ + "/http-a.port", dir_ + "/http-b.port"}) {
    std::string port;
    ct::WaitFor([&] {
      port = std::string(absl::StripAsciiWhitespace(ReadAll(f)));
      return !port.empty();
    }, absl::Seconds(20));
    ASSERT_FALSE(port.empty()) << "no " << f << " (cutoverd --http-port-file)\n" << a.log() << b.log();
    http_ports.push_back(port);
  }

  const std::string rules_path = SourceDir() + "/deploy/prometheus/cutover-alerts.yml";
  Prometheus prom;
  const absl::Status started = prom.Start(dir_, absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - )", rules_path, R"(
scrape_configs:
  - job_name: cutoverd
    static_configs:
      - targets: ["127.0.0.1:)", http_ports[0], R"(", "127.0.0.1:)", http_ports[1], R"("]
)"));
  ASSERT_TRUE(started.ok()) << started;

  // Both targets scraped and up.
  std::string targets_seen;
  const bool up = ct::WaitFor([&] {
    absl::StatusOr<pb::Value> t = prom.Api("targets");
    if (!t.ok()) return false;
    int n_up = 0;
    targets_seen.clear();
    for (const pb::Value& target : Field(t->struct_value(), "activeTargets").list_value().values()) {
      const std::string health = Str(target.struct_value(), "health");
      absl::StrAppend(&targets_seen, Str(target.struct_value(), "scrapeUrl"), " ", health, " ",
                      Str(target.struct_value(), "lastError"), "; ");
      n_up += health == "up";
    }
    return n_up == 2;
  }, absl::Seconds(30), absl::Milliseconds(250));
  ASSERT_TRUE(up) << targets_seen << "\n" << prom.log();

  // The cutover is READY, seen through Prometheus, from both daemons.
  const std::string c = absl::StrCat("cutover=\"", id, "\"");
  std::map<std::string, double> phase;
  ASSERT_TRUE(ct::WaitFor([&] {
    absl::StatusOr<std::map<std::string, double>> s =
        prom.Samples(absl::StrCat("cutover_phase{", c, ",phase=\"READY\"} == 1"), "instance");
    if (s.ok()) phase = *s;
    return phase.size() == 2;
  }, absl::Seconds(30), absl::Milliseconds(250)))
      << "cutover_phase{phase=READY} == 1 from both daemons; got " << phase.size();

  // Copy counters equal the tables' row counts (no workload: nothing moves).
  absl::StatusOr<std::map<std::string, double>> rows =
      prom.Samples(absl::StrCat("max by (table) (cutover_copy_rows_total{", c, "})"), "table");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_TRUE(rows->contains("public.tokens")) << rows->size();
  for (const auto& [table, n] : *rows) {
    EXPECT_EQ(absl::StrCat(static_cast<int64_t>(n)),
              ct::QueryScalar(db_.green, absl::StrCat("SELECT count(*) FROM ", table)))
        << table;
  }
  EXPECT_EQ(ct::QueryScalar(db_.green, "SELECT count(*) FROM public.tokens"), "2000");

  // Rules: all loaded, each evaluated at least once without error.
  int rules_in_file = 0;
  {
    const std::string text = ReadAll(rules_path);
    const std::regex rule_line(R"(\n\s*- (alert|record):)");
    rules_in_file = static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), rule_line),
                                                   std::sregex_iterator()));
  }
  ASSERT_GT(rules_in_file, 10);
  std::vector<std::string> rule_queries;
  std::string rule_problems;
  const bool rules_ok = ct::WaitFor([&] {
    absl::StatusOr<pb::Value> r = prom.Api("rules");
    if (!r.ok()) return false;
    rule_queries.clear();
    rule_problems.clear();
    for (const pb::Value& g : Field(r->struct_value(), "groups").list_value().values()) {
      for (const pb::Value& rule : Field(g.struct_value(), "rules").list_value().values()) {
        const pb::Struct& s = rule.struct_value();
        rule_queries.push_back(Str(s, "query"));
        if (Str(s, "health") != "ok") {
          absl::StrAppend(&rule_problems, Str(s, "name"), ": ", Str(s, "health"), " ", Str(s, "lastError"), "; ");
        }
      }
    }
    return static_cast<int>(rule_queries.size()) == rules_in_file && rule_problems.empty();
  }, absl::Seconds(30), absl::Milliseconds(250));
  ASSERT_TRUE(rules_ok) << rule_queries.size() << " of " << rules_in_file << " rules loaded; " << rule_problems
                        << "\n" << prom.log();
  for (const std::string& q : rule_queries) {
    absl::StatusOr<pb::ListValue> r = prom.Query(q);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
  }

  // Several daemons, one answer: one recording-rule series per cutover,
  // nothing firing for a healthy READY cutover, exactly one daemon driving it.
  ExpectNoAlertFiring(prom, c, "READY");
  absl::StatusOr<std::map<std::string, double>> held = prom.Samples(absl::StrCat("sum(cutover_lease_held{", c, "})"), "");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ((*held)[""], 1) << "daemons driving the cutover";
  absl::StatusOr<std::map<std::string, double>> holder =
      prom.Samples(absl::StrCat("max by (holder) (cutover_lease_holder_info{", c, "})"), "holder");
  ASSERT_TRUE(holder.ok()) << holder.status();
  EXPECT_EQ(holder->size(), 1u);
  EXPECT_TRUE(holder->contains("prom-a")) << (holder->empty() ? "" : holder->begin()->first);

  // Every metric exported is in the contract, and everything a READY cutover
  // has is there (flip gap/pause only after a flip, accepted losses only with
  // writes after the snapshot, webhooks only with a notifier).
  // Polled: cutover_http_requests_total counts a scrape once it has been
  // answered, so it appears from the second scrape on.
  const std::set<std::string> contract = ContractMetrics();
  const std::set<std::string> optional = {"cutover_flip_write_gap_seconds", "cutover_flip_pause_seconds",
                                          "cutover_accepted_loss_rows", "cutover_webhook_deliveries_total",
                                          "cutover_webhook_queue_depth"};
  absl::StatusOr<std::map<std::string, double>> names;
  std::vector<std::string> missing;
  ct::WaitFor([&] {
    names = prom.Samples(R"(count by (__name__) ({__name__=~"cutover_.+"}))", "__name__");
    missing.clear();
    for (const std::string& name : contract) {
      if (!optional.contains(name) && !(names.ok() && names->contains(name))) missing.push_back(name);
    }
    return missing.empty();
  }, absl::Seconds(15), absl::Milliseconds(250));
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "not exported at READY";
  for (const auto& [name, n] : *names) {
    EXPECT_TRUE(contract.contains(name)) << name << " is not in the contract";
  }

  // Every dashboard expression evaluates.
  absl::StatusOr<pb::Struct> dash = ParseJson(ReadAll(SourceDir() + "/deploy/grafana/cutover-dashboard.json"));
  ASSERT_TRUE(dash.ok()) << dash.status();
  pb::Value dash_value;
  *dash_value.mutable_struct_value() = *dash;
  std::vector<std::string> exprs;
  CollectExprs(dash_value, &exprs);
  ASSERT_GT(exprs.size(), 20u);
  const int with_data_ready = EvaluateDashboard(prom, exprs, id, "READY");
  // The template variable: label_values(cutover_phase, cutover) lists the cutover.
  absl::StatusOr<pb::Value> values = prom.Api("label/cutover/values", {"match[]=cutover_phase"});
  ASSERT_TRUE(values.ok()) << values.status();
  bool listed = false;
  for (const pb::Value& v : values->list_value().values()) listed |= v.string_value() == id;
  EXPECT_TRUE(listed) << "label_values(cutover_phase, cutover) lacks " << id;

  // A failed flip, on real series from two daemons: CutoverFlipFailed fires
  // once for the cutover (labels cutover, direction; no instance).
  CtlResult approved = Ctl(server, {"approve", id, "--reason", "prometheus e2e"});
  ASSERT_EQ(approved.code, 0) << approved.out << approved.err;
  std::vector<std::string> fired;
  const bool flip_failed = ct::WaitFor([&] {
    absl::StatusOr<pb::ListValue> r = prom.Query(R"(ALERTS{alertname="CutoverFlipFailed",alertstate="firing"})");
    if (!r.ok()) return false;
    fired.clear();
    for (const pb::Value& v : r->values()) {
      const pb::Struct& m = Field(v.struct_value(), "metric").struct_value();
      fired.push_back(absl::StrCat(Str(m, "cutover"), "/", Str(m, "direction"), "/", Str(m, "severity"), "/",
                                   Str(m, "instance")));
    }
    return !fired.empty();
  }, absl::Seconds(60), absl::Milliseconds(250));
  ASSERT_TRUE(flip_failed) << "CutoverFlipFailed never fired; phase " << Phase(server, id) << "\n" << a.log();
  EXPECT_THAT(fired, ::testing::ElementsAre(absl::StrCat(id, "/forward/warning/")));
  EXPECT_EQ(Phase(server, id), "PHASE_READY");

  // Approved again: the flip succeeds. COMPLETED, succeeded, a write gap
  // recorded, one failure counted, nothing firing any more.
  approved = Ctl(server, {"approve", id, "--reason", "prometheus e2e, second attempt"});
  ASSERT_EQ(approved.code, 0) << approved.out << approved.err;
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "60s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << a.log();
  ExpectNoAlertFiring(prom, c, "COMPLETED");
  absl::StatusOr<std::map<std::string, double>> succeeded =
      prom.Samples(absl::StrCat("max by (direction) (cutover_flip_succeeded{", c, "})"), "direction");
  ASSERT_TRUE(succeeded.ok()) << succeeded.status();
  EXPECT_EQ((*succeeded)["forward"], 1);
  absl::StatusOr<std::map<std::string, double>> failures =
      prom.Samples(absl::StrCat("max by (direction) (cutover_flip_failures_total{", c, "})"), "direction");
  ASSERT_TRUE(failures.ok()) << failures.status();
  EXPECT_EQ((*failures)["forward"], 1);
  absl::StatusOr<std::map<std::string, double>> gap =
      prom.Samples(absl::StrCat("max by (direction) (cutover_flip_write_gap_seconds{", c, "})"), "direction");
  ASSERT_TRUE(gap.ok()) << gap.status();
  ASSERT_TRUE(gap->contains("forward")) << "no cutover_flip_write_gap_seconds after the flip";
  EXPECT_GT((*gap)["forward"], 0);
  EXPECT_LT((*gap)["forward"], 5);
  const int with_data_completed = EvaluateDashboard(prom, exprs, id, "COMPLETED");
  LowerBlueFence();

  std::printf("prometheus: 2 targets up, %d rules healthy, %zu dashboard expressions evaluated "
              "(%d with data in READY, %d in COMPLETED), %zu cutover_* metric names exported, write gap %.3f s\n",
              rules_in_file, exprs.size(), with_data_ready, with_data_completed, names->size(), (*gap)["forward"]);
  prom.Stop();
}

}  // namespace
}  // namespace cutover::e2e
