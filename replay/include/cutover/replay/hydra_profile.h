// The built-in capture rules of the "hydra" profile: Ory Hydra 1.11 on the
// capturing side (blue, tables in schema public) and Hydra 2.x on the apply
// side (green, tables found through its search_path). Every rule, with the
// reason it exists: docs/hydra-profile.md.
//
// Rules carry identifiers only (signatures, request ids, challenges, client
// ids, subjects); never session_data, form_data, client secrets or key data.
//
// Thread-safety: HydraRules() returns an immutable list built once; safe from
// any thread.
#pragma once

#include <vector>

#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

// The token tables the profile covers, short names: access, refresh, code, oidc, pkce.
inline constexpr const char* kHydraTokenKinds[] = {"access", "refresh", "code", "oidc", "pkce"};

// Built-in rules, in a stable order. Names are "hydra.<thing>.<op>", e.g.
// hydra.access.delete, hydra.refresh.deactivate, hydra.consent.delete,
// hydra.login_session.delete, hydra.client.delete, hydra.trust_grant.delete.
const std::vector<cutover::v1::CaptureRule>& HydraRules();

// The rollback direction: captured on green (Hydra 2.x), applied on blue
// (1.x). The same rules as HydraRules() except consent: a deleted
// hydra_oauth2_flow row ("hydra.flow.delete") withdraws the 1.x consent
// request with its challenge.
const std::vector<cutover::v1::CaptureRule>& HydraRollbackRules();

}  // namespace cutover::replay
