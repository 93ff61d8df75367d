// The status page end to end: a real cutoverd with its HTTP listener, a real
// cutover on the sandbox under client load, and Debian's headless Chromium
// loading the page while the cutover is live. Checks that the DOM shows the
// phase the API reports (READY, waiting for approval), a row per copied
// table with its row count, the phases passed in the timeline; then, after
// approve, COMPLETED and the flip's write gap. Screenshots are kept as test
// artifacts in ${CUTOVER_BINARY_DIR}/test-artifacts/ (docs/status-page.md).
#include <map>
#include <regex>

#include "absl/strings/numbers.h"
#include "cutover/v1/cutover.pb.h"
#include "e2e_support.h"
#include "google/protobuf/util/json_util.h"
#include "http_client.h"

namespace cutover::e2e {
namespace {

using ::cutover::testing::Fetch;
using ::cutover::testing::Reply;

template <typename Msg>
Msg ParseJson(const Reply& r) {
  Msg m;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  const auto st = google::protobuf::util::JsonStringToMessage(r.body, &m, o);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << r.body.substr(0, 500);
  return m;
}

std::string PhaseName(v1::Phase p) { return std::string(absl::StripPrefix(v1::Phase_Name(p), "PHASE_")); }

// The opening tag that contains `needle` (e.g. `data-table="public.tokens"`),
// or "" (plain string search: std::regex recurses per character on long input).
std::string TagWith(const std::string& dom, const std::string& needle) {
  const size_t at = dom.find(needle);
  if (at == std::string::npos) return "";
  const size_t open = dom.rfind('<', at);
  const size_t close = dom.find('>', at);
  return dom.substr(open, close - open + 1);
}
std::string Attr(const std::string& tag, const std::string& name) {
  std::smatch m;
  if (std::regex_search(tag, m, std::regex("\\s" + name + "=\"([^\"]*)\""))) return m[1];
  return "";
}
// The text of the element with this id when it has no child elements.
std::string TextOf(const std::string& dom, const std::string& id) {
  const std::string tag = TagWith(dom, absl::StrCat("id=\"", id, "\""));
  if (tag.empty()) return "";
  const size_t start = dom.find(tag) + tag.size();
  return dom.substr(start, dom.find('<', start) - start);
}
// The inner HTML of the element with this id, up to its closing `end` tag.
std::string Section(const std::string& dom, const std::string& id, const std::string& end) {
  const size_t at = dom.find(absl::StrCat("id=\"", id, "\""));
  if (at == std::string::npos) return "";
  const size_t stop = dom.find(end, at);
  return dom.substr(at, stop == std::string::npos ? std::string::npos : stop - at);
}
// data-phase -> data-state of the phase steps in #timeline.
std::map<std::string, std::string> TimelineSteps(const std::string& dom) {
  std::map<std::string, std::string> steps;
  const std::string ol = Section(dom, "timeline", "</ol>");
  for (size_t at = ol.find("<li "); at != std::string::npos; at = ol.find("<li ", at + 1)) {
    const std::string tag = ol.substr(at, ol.find('>', at) - at + 1);
    if (!Attr(tag, "data-phase").empty()) steps[Attr(tag, "data-phase")] = Attr(tag, "data-state");
  }
  return steps;
}
int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}
std::string WithCommas(int64_t v) {
  std::string s = absl::StrCat(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

class StatusPageE2eTest : public E2eFixture {
 protected:
  // Headless Chromium (Debian's `chromium`, or $CUTOVER_CHROMIUM) loads the
  // page, lets its first polls run (virtual time), saves a screenshot to
  // `png` and returns the DOM. Its own profile dir; killed by process group
  // at the deadline. Slow to start on 2 cores, hence the long deadline.
  std::string LoadPage(const std::string& url, const std::string& png) {
    const char* env = std::getenv("CUTOVER_CHROMIUM");
    const std::string chromium = env != nullptr ? env : "/usr/bin/chromium";
    const std::string profile = absl::StrCat(dir_, "/chromium-profile");
    EXPECT_EQ(system(absl::StrCat("rm -rf ", profile, " && mkdir -p ", profile).c_str()), 0);
    CommandSpec spec;
    spec.argv = {chromium,
                 "--headless",
                 "--no-sandbox",  // CI runs as root
                 "--disable-gpu",
                 "--disable-dev-shm-usage",
                 "--hide-scrollbars",
                 "--no-first-run",
                 absl::StrCat("--user-data-dir=", profile),
                 "--window-size=1280,1700",
                 "--virtual-time-budget=5000",
                 absl::StrCat("--screenshot=", png),
                 "--dump-dom",
                 url};
    spec.env = {{"HOME", profile}};
    spec.timeout = absl::Minutes(3);
    std::remove(png.c_str());
    absl::StatusOr<CommandResult> r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << chromium << ": " << r.status() << " (install Debian's chromium: deploy/setup.sh)";
    if (!r.ok()) return "";
    EXPECT_FALSE(r->timed_out) << "chromium did not finish in 3 min\n" << r->err.substr(0, 2000);
    EXPECT_EQ(r->exit_code, 0) << r->err.substr(0, 2000);
    EXPECT_THAT(r->out, HasSubstr("<body")) << r->err.substr(0, 2000);
    EXPECT_EQ(system(absl::StrCat("test -s ", png).c_str()), 0) << "no screenshot at " << png;
    std::printf("status page screenshot: %s\n", png.c_str());
    return r->out;
  }

  std::string ArtifactDir() {
    const char* bin = std::getenv("CUTOVER_BINARY_DIR");
    const std::string d = absl::StrCat(bin != nullptr ? bin : dir_.c_str(), "/test-artifacts");
    EXPECT_EQ(system(absl::StrCat("mkdir -p ", d).c_str()), 0);
    return d;
  }

  v1::Cutover GetCutover(int port, const std::string& id) {
    Reply r = Fetch(port, absl::StrCat("/api/v1/cutovers/", id));
    EXPECT_EQ(r.code, 200) << r.body;
    return ParseJson<v1::Cutover>(r);
  }
};

TEST_F(StatusPageE2eTest, PageShowsTheLivePhaseOfARealCutover) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  const std::string http_port_file = absl::StrCat(dir_, "/daemon-page.http-port");
  Daemon d(db_.control, "daemon-page", dir_, "",
           {"--insecure-local", "--http-listen", "127.0.0.1:0", "--http-port-file", http_port_file});
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  int port = 0;
  ASSERT_TRUE(ct::WaitFor([&] { return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadAll(http_port_file)), &port); },
                          absl::Seconds(20)))
      << "no --http-port-file\n" << d.log();
  Workload load(db_.bouncer);

  // The page and its assets are served by the daemon itself, nothing external.
  Reply index = Fetch(port, "/");
  ASSERT_EQ(index.code, 200);
  EXPECT_THAT(index.body, HasSubstr("static/app.js"));
  for (const char* asset : {"/static/app.js", "/static/style.css"}) {
    Reply a = Fetch(port, asset);
    EXPECT_EQ(a.code, 200) << asset;
    EXPECT_THAT(a.body, ::testing::Not(HasSubstr("http://"))) << asset;
    EXPECT_THAT(a.body, ::testing::Not(HasSubstr("https://"))) << asset;
  }

  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());
  CtlResult ready = Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "120s"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err << d.log();

  // READY waits for approval: the phase cannot move while the page loads.
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/?cutover=", id);
  const v1::Cutover before = GetCutover(port, id);
  const std::string dom = LoadPage(url, absl::StrCat(ArtifactDir(), "/status-page-ready.png"));
  const v1::Cutover after = GetCutover(port, id);
  ASSERT_EQ(PhaseName(before.phase()), "READY");
  ASSERT_EQ(PhaseName(after.phase()), "READY");
  ASSERT_FALSE(dom.empty());

  EXPECT_EQ(Attr(TagWith(dom, "<body"), "data-phase"), "READY") << dom.substr(0, 3000);
  EXPECT_EQ(Attr(TagWith(dom, "<body"), "data-kind"), "waiting");
  EXPECT_EQ(TextOf(dom, "phase"), "READY");
  EXPECT_EQ(TextOf(dom, "cutover-id"), id);
  EXPECT_THAT(TagWith(dom, "id=\"banner\""), HasSubstr(" hidden")) << "the page saw the daemon as unreachable";
  // A row per copied table with the row count the API reports.
  ASSERT_GT(after.copy().tables_size(), 0);
  for (const v1::TableProgress& t : after.copy().tables()) {
    const std::string tag = TagWith(dom, absl::StrCat("data-table=\"", t.table(), "\""));
    ASSERT_FALSE(tag.empty()) << "no row for " << t.table();
    EXPECT_EQ(Attr(tag, "data-rows-copied"), absl::StrCat(t.rows_copied())) << t.table();
    EXPECT_EQ(Attr(tag, "data-state"), "DONE") << t.table();
    EXPECT_THAT(dom, HasSubstr(absl::StrCat(">", WithCommas(t.rows_copied()), "<"))) << "row count shown";
  }
  const std::string tokens = TagWith(dom, "data-table=\"public.tokens\"");
  EXPECT_FALSE(tokens.empty()) << "the plan's table";
  // The timeline: every phase the API's timeline passed is done, READY current.
  Reply tl = Fetch(port, absl::StrCat("/api/v1/cutovers/", id, "/timeline"));
  ASSERT_EQ(tl.code, 200) << tl.body;
  const auto transitions = ParseJson<v1::ListTransitionsResponse>(tl);
  const std::map<std::string, std::string> steps = TimelineSteps(dom);
  std::set<std::string> passed;
  for (const v1::Transition& t : transitions.transitions()) {
    if (t.to() != v1::PHASE_READY) passed.insert(PhaseName(t.to()));
  }
  for (const char* p : {"PLANNED", "CAPTURING", "COPYING", "VERIFYING_COPY", "CATCHING_UP"}) {
    EXPECT_TRUE(passed.count(p)) << p << " not in the API's timeline";
  }
  for (const std::string& p : passed) {
    EXPECT_EQ(steps.count(p) ? steps.at(p) : "<missing>", "done") << p;
  }
  EXPECT_EQ(steps.count("READY") ? steps.at("READY") : "<missing>", "current");
  for (const char* p : {"FLIPPING", "DRAINING", "COMPLETED"}) {
    EXPECT_EQ(steps.count(p) ? steps.at(p) : "<missing>", "pending") << p;
  }
  EXPECT_EQ(Count(Section(dom, "events", "</ol>"), "<li "), std::min(20, transitions.transitions_size()));
  // The charts are drawn from the daemon's series.
  EXPECT_THAT(Section(dom, "backlog-chart", "</svg>"), HasSubstr("class=\"line\""));
  EXPECT_THAT(Section(dom, "rate-chart", "</svg>"), HasSubstr("class=\"line\""));
  EXPECT_THAT(Section(dom, "replay", "</section>"), HasSubstr("dead letters"));

  // Approve; once COMPLETED the page shows it and the flip's write gap.
  // Under load the backlog can briefly exceed max_backlog: approve is then
  // refused with the blocker (exit 1) and retried, as an operator would.
  CtlResult approve;
  ASSERT_TRUE(ct::WaitFor(
      [&] {
        approve = Ctl(server, {"approve", id, "--reason", "status page e2e"});
        return approve.code == 0;
      },
      absl::Seconds(90), absl::Milliseconds(500)))
      << approve.out << approve.err;
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << "\nphase: " << Phase(server, id) << "\n" << d.log();
  const v1::Cutover completed = GetCutover(port, id);
  ASSERT_EQ(PhaseName(completed.phase()), "COMPLETED");
  ASSERT_TRUE(completed.flip().succeeded());
  const std::string dom2 = LoadPage(url, absl::StrCat(ArtifactDir(), "/status-page-completed.png"));
  EXPECT_EQ(Attr(TagWith(dom2, "<body"), "data-phase"), "COMPLETED");
  EXPECT_EQ(TextOf(dom2, "phase"), "COMPLETED");
  const std::string flip = Section(dom2, "flip", "</section>");
  EXPECT_THAT(flip, HasSubstr("write gap"));
  const std::string gap_tag = TagWith(flip, "data-write-gap-seconds=");
  double gap = 0;
  EXPECT_TRUE(absl::SimpleAtod(Attr(gap_tag, "data-write-gap-seconds"), &gap)) << flip.substr(0, 1000);
  const double api_gap = completed.flip().write_gap().seconds() + completed.flip().write_gap().nanos() / 1e9;
  EXPECT_GT(gap, 0);
  EXPECT_NEAR(gap, api_gap, 1e-6);
  EXPECT_EQ(Attr(gap_tag, "data-succeeded"), "true");
  EXPECT_EQ(TimelineSteps(dom2)["COMPLETED"], "current");
  EXPECT_EQ(TimelineSteps(dom2)["FLIPPING"], "done");
  // The workload inserted tokens on blue after the snapshot: accepted losses.
  EXPECT_THAT(Section(dom2, "accepted-losses", "</section>"), HasSubstr("data-table=\"public.tokens\""));

  ExpectFlippedToGreen(server, id, load);
  LowerBlueFence();
}

}  // namespace
}  // namespace cutover::e2e
