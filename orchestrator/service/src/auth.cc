#include "cutover/service/auth.h"

#include <grpcpp/server_context.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cutover::service {

const char* RoleLabel(engine::Role role) {
  switch (role) {
    case engine::Role::kViewer:
      return "viewer";
    case engine::Role::kOperator:
      return "operator";
    case engine::Role::kApprover:
      return "approver";
  }
  return "unknown";
}

absl::StatusOr<engine::Role> ParseRole(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "viewer") return engine::Role::kViewer;
  if (t == "operator") return engine::Role::kOperator;
  if (t == "approver") return engine::Role::kApprover;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", text, "' (expected viewer, operator or approver)"));
}

Sha256Digest Sha256(absl::string_view data) {
  Sha256Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

absl::string_view DigestView(const Sha256Digest& d) {
  return absl::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

absl::StatusOr<Sha256Digest> ParseHexDigest(absl::string_view hex) {
  Sha256Digest d;
  if (hex.size() != 64) return absl::InvalidArgumentError("sha256: needs 64 hex digits");
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = absl::ascii_tolower(hex[2 * i + k]);
      int n;
      if (c >= '0' && c <= '9') {
        n = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        n = c - 'a' + 10;
      } else {
        return absl::InvalidArgumentError("sha256: needs 64 hex digits");
      }
      v = v * 16 + n;
    }
    d[i] = static_cast<uint8_t>(v);
  }
  return d;
}

}  // namespace

absl::StatusOr<AuthConfig> ParseAuthConfig(absl::string_view text, absl::string_view source) {
  AuthConfig config;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto where = [&] { return absl::StrCat(source, ":", line_no, ": "); };
    if (f[0] == "token") {
      // Never echo f[1]: it may be the secret itself.
      if (f.size() != 4) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), "expected 'token <secret|sha256:HEX> <role> <name>' (4 fields, got ", f.size(), ")"));
      }
      TokenEntry e;
      if (absl::StartsWith(f[1], "sha256:")) {
        auto d = ParseHexDigest(f[1].substr(7));
        if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(where(), d.status().message()));
        e.digest = *d;
      } else {
        if (f[1].size() < 16) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), "token for '", f[3], "' is shorter than 16 characters"));
        }
        e.digest = Sha256(f[1]);
      }
      auto role = ParseRole(f[2]);
      if (!role.ok()) return absl::InvalidArgumentError(absl::StrCat(where(), role.status().message()));
      e.role = *role;
      e.name = std::string(f[3]);
      for (const TokenEntry& other : config.tokens) {
        if (other.name == e.name) {
          return absl::InvalidArgumentError(absl::StrCat(where(), "token name '", e.name, "' is used twice"));
        }
        if (ConstantTimeEquals(DigestView(other.digest), DigestView(e.digest))) {
          return absl::InvalidArgumentError(
              absl::StrCat(where(), "token '", e.name, "' has the same secret as '", other.name, "'"));
        }
      }
      config.tokens.push_back(std::move(e));
    } else if (f[0] == "cert") {
      if (f.size() != 3) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), "expected 'cert <common-name-or-SAN> <role>' (3 fields, got ", f.size(), ")"));
      }
      auto role = ParseRole(f[2]);
      if (!role.ok()) return absl::InvalidArgumentError(absl::StrCat(where(), role.status().message()));
      config.certs.push_back(CertEntry{std::string(f[1]), *role});
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "unknown directive '", f[0], "' (expected 'token' or 'cert')"));
    }
  }
  return config;
}

absl::StatusOr<AuthConfig> LoadAuthConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read auth config '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseAuthConfig(ss.str(), path);
}

engine::Role RequiredRole(absl::string_view full_method) {
  using engine::Role;
  absl::string_view m = full_method;
  if (absl::ConsumePrefix(&m, "/cutover.v1.CutoverService/")) {
    if (m == "Get" || m == "List" || m == "Watch" || m == "GetReport" || m == "ListTransitions" ||
        m == "ValidatePlan") {
      return Role::kViewer;
    }
    if (m == "CreatePlan" || m == "Start" || m == "Pause" || m == "Resume" || m == "Abort" ||
        m == "Rollback") {
      return Role::kOperator;
    }
    return Role::kApprover;  // Approve, and anything added later until listed here
  }
  if (full_method == "/cutover.v1.CaptureService/RecordRevocation") return Role::kOperator;
  return Role::kApprover;
}

std::unique_ptr<Authenticator> Authenticator::InsecureLocal() {
  std::unique_ptr<Authenticator> a(new Authenticator());
  a->insecure_local_ = true;
  return a;
}

Authenticator::Authenticator(AuthConfig config) : config_(std::move(config)) {}

absl::StatusOr<const TokenEntry*> Authenticator::FindToken(absl::string_view token) const {
  const Sha256Digest presented = Sha256(token);
  const TokenEntry* match = nullptr;
  for (const TokenEntry& e : config_.tokens) {
    comparisons_.fetch_add(1, std::memory_order_relaxed);
    const bool eq = ConstantTimeEquals(DigestView(presented), DigestView(e.digest));
    if (eq && match == nullptr) match = &e;  // no break: same work whichever entry matches
  }
  if (match == nullptr) return absl::NotFoundError("unknown token");
  return match;
}

absl::StatusOr<engine::Caller> Authenticator::Authenticate(const grpc::ServerContext& context) const {
  if (insecure_local_) return engine::Caller{"local", engine::Role::kApprover};
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    absl::string_view token = value;
    if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
      return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
    }
    token = absl::StripAsciiWhitespace(token);
    auto entry = FindToken(token);
    if (!entry.ok()) return absl::UnauthenticatedError("unknown bearer token");
    return engine::Caller{absl::StrCat("token:", (*entry)->name), (*entry)->role};
  }
  std::shared_ptr<const grpc::AuthContext> ac = context.auth_context();
  if (ac != nullptr && ac->IsPeerAuthenticated() && !config_.certs.empty()) {
    auto match = [&](const char* property) -> const CertEntry* {
      for (const grpc::string_ref& v : ac->FindPropertyValues(property)) {
        absl::string_view subject(v.data(), v.size());
        for (const CertEntry& e : config_.certs) {
          if (e.subject == subject) return &e;
        }
      }
      return nullptr;
    };
    if (const CertEntry* e = match("x509_common_name")) {
      return engine::Caller{absl::StrCat("cert:CN=", e->subject), e->role};
    }
    if (const CertEntry* e = match("x509_subject_alternative_name")) {
      return engine::Caller{absl::StrCat("cert:SAN=", e->subject), e->role};
    }
    return absl::UnauthenticatedError("client certificate is not listed in the auth config");
  }
  return absl::UnauthenticatedError(
      "no credentials: send 'authorization: Bearer <token>' metadata or a client certificate");
}

absl::StatusOr<engine::Caller> Authenticator::Authorize(const grpc::ServerContext& context,
                                                        absl::string_view full_method) const {
  auto caller = Authenticate(context);
  if (!caller.ok()) return caller.status();
  const engine::Role needed = RequiredRole(full_method);
  if (static_cast<int>(caller->role) < static_cast<int>(needed)) {
    absl::string_view method = full_method;
    if (size_t slash = method.rfind('/'); slash != absl::string_view::npos) method.remove_prefix(slash + 1);
    return absl::PermissionDeniedError(absl::StrCat(method, " needs role ", RoleLabel(needed), "; ",
                                                    caller->identity, " has role ", RoleLabel(caller->role)));
  }
  return caller;
}

}  // namespace cutover::service
