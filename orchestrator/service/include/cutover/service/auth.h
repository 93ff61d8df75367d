// Who may call the control API: bearer tokens and mTLS client certificates
// mapped to the roles viewer < operator < approver (each includes the ones
// before it). The file format is documented in docs/api.md ("Auth config").
//
// Contract:
//  - A presented bearer token is compared with every configured token in
//    constant time (SHA-256 digests compared with CRYPTO_memcmp, no early
//    exit), so timing reveals neither which token matched nor a prefix.
//  - Secrets never appear in error messages or logs: a token is named by the
//    `name` column of its line only.
//  - Unauthenticated (no credential, unknown token) -> kUnauthenticated;
//    authenticated with too small a role -> kPermissionDenied naming the
//    role needed and the role the caller has.
// Authenticator is immutable after construction and safe for concurrent use.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/engine/api.h"

namespace grpc {
class ServerContext;
}

namespace cutover::service {

using Sha256Digest = std::array<uint8_t, 32>;

// "viewer", "operator", "approver" (our own switch: engine::RoleName lives in
// the engine library, which this module does not link).
const char* RoleLabel(engine::Role role);
// Case-insensitive; InvalidArgument naming the accepted values otherwise.
absl::StatusOr<engine::Role> ParseRole(absl::string_view text);

struct TokenEntry {
  Sha256Digest digest{};  // SHA-256 of the token (we never keep the secret itself)
  engine::Role role = engine::Role::kViewer;
  std::string name;  // identity "token:<name>"
};

struct CertEntry {
  // Matched against the verified client certificate's CN or one of its SANs.
  std::string subject;
  engine::Role role = engine::Role::kViewer;
};

struct AuthConfig {
  std::vector<TokenEntry> tokens;
  std::vector<CertEntry> certs;
};

// Parses the auth config text; `source` names it in errors ("file:line: ...").
absl::StatusOr<AuthConfig> ParseAuthConfig(absl::string_view text, absl::string_view source = "auth config");
absl::StatusOr<AuthConfig> LoadAuthConfig(const std::string& path);

Sha256Digest Sha256(absl::string_view data);
// Constant-time equality of two byte strings of the same length (false when
// the lengths differ; the length itself is not secret).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The role each RPC needs, by full method name ("/cutover.v1.CutoverService/Start").
// Unknown methods need approver (deny by default).
engine::Role RequiredRole(absl::string_view full_method);

class Authenticator {
 public:
  // Every caller is {"local", approver}: only for --insecure-local on loopback
  // (StartControlServer enforces the loopback part).
  static std::unique_ptr<Authenticator> InsecureLocal();
  explicit Authenticator(AuthConfig config);

  bool insecure_local() const { return insecure_local_; }

  // Who is calling (token first, then the verified client certificate).
  absl::StatusOr<engine::Caller> Authenticate(const grpc::ServerContext& context) const;
  // Authenticate + role check for `full_method` (see RequiredRole). The one
  // check every handler makes before touching the API.
  absl::StatusOr<engine::Caller> Authorize(const grpc::ServerContext& context,
                                           absl::string_view full_method) const;

  // Token lookup by the presented secret; NotFound when unknown. Compares
  // against every entry (see the contract above).
  absl::StatusOr<const TokenEntry*> FindToken(absl::string_view token) const;
  // Number of digest comparisons made so far (tests: proves no early exit).
  int64_t TokenComparisonsForTest() const { return comparisons_.load(); }

 private:
  Authenticator() = default;
  AuthConfig config_;
  bool insecure_local_ = false;
  mutable std::atomic<int64_t> comparisons_{0};
};

}  // namespace cutover::service
