#include "state.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cutover::sandbox::internal {
namespace {

void AppendServer(std::string* out, const std::string& prefix, const ServerRecord& s) {
  absl::StrAppend(out, prefix, ".port=", s.port, "\n");
  absl::StrAppend(out, prefix, ".pid=", s.pid, "\n");
  absl::StrAppend(out, prefix, ".start=", s.start_ticks, "\n");
}

template <typename T>
absl::Status GetNumber(const std::map<std::string, std::string>& kv, const std::string& key,
                       const std::string& path, T* out) {
  auto it = kv.find(key);
  if (it == kv.end()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": missing key '", key, "'"));
  }
  if (!absl::SimpleAtoi(it->second, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": key '", key, "' is not a number: '", it->second, "'"));
  }
  return absl::OkStatus();
}

absl::Status GetServer(const std::map<std::string, std::string>& kv, const std::string& prefix,
                       const std::string& path, ServerRecord* s) {
  int pid = 0;
  absl::Status st = GetNumber(kv, prefix + ".port", path, &s->port);
  if (st.ok()) {
    st = GetNumber(kv, prefix + ".pid", path, &pid);
  }
  if (st.ok()) {
    st = GetNumber(kv, prefix + ".start", path, &s->start_ticks);
  }
  s->pid = pid;
  return st;
}

}  // namespace

std::string FormatState(const SandboxState& s) {
  std::string out = "# cutover sandbox state (deploy/sandbox/README.md); rewritten on every change\n";
  absl::StrAppend(&out, "version=", kStateVersion, "\n");
  absl::StrAppend(&out, "root=", s.root, "\n");
  absl::StrAppend(&out, "persistent=", s.persistent ? 1 : 0, "\n");
  absl::StrAppend(&out, "fast=", s.fast ? 1 : 0, "\n");
  absl::StrAppend(&out, "owner_pid=", s.owner_pid, "\n");
  absl::StrAppend(&out, "owner_start=", s.owner_start_ticks, "\n");
  absl::StrAppend(&out, "password=", s.password, "\n");
  std::vector<std::string> names;
  for (const auto& c : s.clusters) {
    names.push_back(c.name);
  }
  absl::StrAppend(&out, "clusters=", absl::StrJoin(names, ","), "\n");
  for (const auto& c : s.clusters) {
    AppendServer(&out, "cluster." + c.name, c);
  }
  absl::StrAppend(&out, "bouncer=", s.has_bouncer ? 1 : 0, "\n");
  if (s.has_bouncer) {
    AppendServer(&out, "bouncer", s.bouncer);
  }
  return out;
}

absl::StatusOr<SandboxState> ParseState(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> kv;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') {
      continue;
    }
    auto eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected key=value, got '", line, "'"));
    }
    kv[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  SandboxState s;
  int version = 0;
  if (auto st = GetNumber(kv, "version", path, &version); !st.ok()) {
    return st;
  }
  if (version != kStateVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": state version ", version, " is not supported (expected ", kStateVersion, ")"));
  }
  s.root = kv["root"];
  s.password = kv["password"];
  if (s.root.empty() || s.password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": 'root' and 'password' are required"));
  }
  s.persistent = kv["persistent"] == "1";
  s.fast = kv["fast"] != "0";
  int owner = 0;
  if (auto st = GetNumber(kv, "owner_pid", path, &owner); !st.ok()) {
    return st;
  }
  s.owner_pid = owner;
  if (auto st = GetNumber(kv, "owner_start", path, &s.owner_start_ticks); !st.ok()) {
    return st;
  }
  for (absl::string_view name : absl::StrSplit(kv["clusters"], ',', absl::SkipEmpty())) {
    ServerRecord c;
    c.name = std::string(name);
    if (auto st = GetServer(kv, "cluster." + c.name, path, &c); !st.ok()) {
      return st;
    }
    s.clusters.push_back(std::move(c));
  }
  s.has_bouncer = kv["bouncer"] == "1";
  if (s.has_bouncer) {
    s.bouncer.name = "pgbouncer";
    if (auto st = GetServer(kv, "bouncer", path, &s.bouncer); !st.ok()) {
      return st;
    }
  }
  return s;
}

}  // namespace cutover::sandbox::internal
