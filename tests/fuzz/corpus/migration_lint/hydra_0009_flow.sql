-- Hydra 1.11 -> 2.x, step 9 (one transaction): hydra_oauth2_flow, filled
-- from 1.11's login and consent requests and their handled halves.
--
-- The table is created, filled and indexed in this one transaction, so
-- nobody sees it before it is complete: its indexes are built after the
-- INSERT (faster than maintaining them row by row) without CONCURRENTLY,
-- which is harmless on a table no other session can see yet. The INSERT
-- only reads the 1.11 tables (ACCESS SHARE: writers are not blocked). Its
-- foreign keys (to networks, hydra_client and the login sessions) are added
-- last, NOT VALID, and validated by 0011: declared in CREATE TABLE, each
-- would lock its referenced table against writes (SHARE ROW EXCLUSIVE) for
-- the whole INSERT (a live Hydra writes login sessions on every login);
-- added last, the locks last from that ALTER to the commit right after it.
-- The CHECKs hold every inserted row to the state rules right away.
-- Rows written to the 1.11 tables after the INSERT's snapshot are not
-- carried over: on green only replayed revocations (deletions) write, and a
-- live 1.x Hydra cannot run on the 2.x schema anyway (Hydra itself migrates
-- with the service stopped).
--
-- One flow row per 1.11 login request, carrying the consent request that
-- followed it (consent.login_challenge). Every consent request becomes a
-- flow row, with consent_challenge_id = its 1.11 challenge, which is what
-- the token tables' challenge_id references from 0010 on:
--  * a consent whose login request is gone (login_challenge set NULL by
--    Hydra's ON DELETE SET NULL) gets a row of its own, keyed by its own
--    challenge, its login half taken from the consent request (marked used,
--    with a fresh random login_verifier that no client holds);
--  * when several consents name one login (1.11 does not forbid it), the
--    latest one joins the login's row and the others get rows of their own.
--
-- Column mapping (r login request, lh its handled row, c consent request,
-- ch its handled row):
--   login_challenge, login_verifier, login_csrf  <- r.challenge, r.verifier, r.csrf
--   subject, request_url, client_id, requested_at, login_session_id <- r.*
--   login_skip <- r.skip;  login_initialized_at <- r.authenticated_at
--   requested_scope, requested_at_audience <- r.* ('a|b' lists -> jsonb arrays)
--   oidc_context, context <- r.oidc_context, lh.context (text -> jsonb)
--   login_remember, login_remember_for, acr, login_authenticated_at,
--   login_was_used, forced_subject_identifier <- lh.*
--   login_error <- lh.error unless it is empty ('{}': no error)
--   consent_challenge_id, consent_verifier, consent_csrf, consent_skip <- c.challenge, c.verifier, c.csrf, c.skip
--   granted_scope, granted_at_audience <- ch.* (lists -> jsonb arrays)
--   consent_remember, consent_remember_for, consent_handled_at,
--   consent_was_used <- ch.*;  consent_error <- ch.error unless empty
--   session_access_token, session_id_token <- ch.* (text -> jsonb)
--   amr '[]', identity_provider_session_id NULL,
--   login_extend_session_lifespan false: 1.11 has no such data
--   state: 129 consent error, 6 consent used, 5 consent handled, 4 consent
--          requested, 128 login error, 3 login used, 2 login handled, 1 login requested
-- Text that is not valid JSON makes the INSERT fail (and this file with it)
-- rather than lose data silently.
SET lock_timeout = '5s';

CREATE TABLE hydra_oauth2_flow (
  login_challenge              varchar(40)  PRIMARY KEY,
  login_verifier               varchar(40)  NOT NULL,
  login_csrf                   varchar(40)  NOT NULL,
  subject                      varchar(255) NOT NULL,
  request_url                  text         NOT NULL,
  login_skip                   boolean      NOT NULL,
  client_id                    varchar(255) NOT NULL,
  requested_at                 timestamp    NOT NULL DEFAULT now(),
  login_initialized_at         timestamp    NULL,
  oidc_context                 jsonb        NOT NULL DEFAULT '{}',
  login_session_id             varchar(40)  NULL,
  requested_scope              jsonb        NOT NULL DEFAULT '[]',
  requested_at_audience        jsonb        NULL DEFAULT '[]',
  state                        integer      NOT NULL,
  login_remember               boolean      NOT NULL DEFAULT false,
  login_remember_for           integer      NOT NULL,
  login_extend_session_lifespan boolean     NOT NULL DEFAULT false,
  login_error                  text         NULL,
  acr                          text         NOT NULL DEFAULT '',
  amr                          jsonb        NULL DEFAULT '[]',
  login_authenticated_at       timestamp    NULL,
  login_was_used               boolean      NOT NULL DEFAULT false,
  forced_subject_identifier    varchar(255) NOT NULL DEFAULT '',
  context                      jsonb        NOT NULL DEFAULT '{}',
  identity_provider_session_id varchar(40)  NULL,
  consent_challenge_id         varchar(40)  NULL,
  consent_skip                 boolean      NOT NULL DEFAULT false,
  consent_verifier             varchar(40)  NULL,
  consent_csrf                 varchar(40)  NULL,
  granted_scope                jsonb        NOT NULL DEFAULT '[]',
  granted_at_audience          jsonb        NULL DEFAULT '[]',
  consent_remember             boolean      NOT NULL DEFAULT false,
  consent_remember_for         integer      NULL,
  consent_handled_at           timestamp    NULL,
  consent_error                text         NULL,
  session_access_token         jsonb        NOT NULL DEFAULT '{}',
  session_id_token             jsonb        NOT NULL DEFAULT '{}',
  consent_was_used             boolean      NOT NULL DEFAULT false,
  nid                          uuid         NOT NULL,
  CONSTRAINT hydra_oauth2_flow_state_check
    CHECK (state IN (1, 2, 3, 4, 5, 6, 128, 129)),
  CONSTRAINT hydra_oauth2_flow_consent_check
    CHECK (state < 4 OR state = 128 OR consent_challenge_id IS NOT NULL)
);

WITH primary_consent AS (
  -- The consent that joins its login's row: the latest per login.
  SELECT DISTINCT ON (login_challenge) login_challenge, challenge
  FROM hydra_oauth2_consent_request
  WHERE login_challenge IS NOT NULL
  ORDER BY login_challenge, requested_at DESC, challenge DESC
), logins AS (
  SELECT r.challenge AS login_challenge, r.verifier AS login_verifier, r.csrf AS login_csrf, r.subject,
         r.request_url, r.skip AS login_skip, r.client_id, r.requested_at,
         r.authenticated_at AS login_initialized_at, r.oidc_context, r.login_session_id, r.requested_scope,
         r.requested_at_audience, lh.challenge IS NOT NULL AS login_handled, lh.remember AS login_remember,
         lh.remember_for AS login_remember_for, lh.error AS login_error, lh.acr,
         lh.authenticated_at AS login_authenticated_at, lh.was_used AS login_was_used,
         lh.forced_subject_identifier, lh.context, pc.challenge AS consent_challenge
  FROM hydra_oauth2_authentication_request r
  LEFT JOIN hydra_oauth2_authentication_request_handled lh ON lh.challenge = r.challenge
  LEFT JOIN primary_consent pc ON pc.login_challenge = r.challenge
  UNION ALL
  -- Consents without a login row of their own: the login half from the consent.
  SELECT c.challenge, md5(gen_random_uuid()::text), c.csrf, c.subject, c.request_url, c.skip, c.client_id, c.requested_at,
         c.authenticated_at, c.oidc_context, c.login_session_id, c.requested_scope, c.requested_at_audience,
         true, false, 0, NULL, c.acr, c.authenticated_at, true, c.forced_subject_identifier, c.context,
         c.challenge
  FROM hydra_oauth2_consent_request c
  WHERE NOT EXISTS (SELECT 1 FROM primary_consent pc WHERE pc.challenge = c.challenge)
)
INSERT INTO hydra_oauth2_flow (
  login_challenge, login_verifier, login_csrf, subject, request_url, login_skip, client_id, requested_at,
  login_initialized_at, oidc_context, login_session_id, requested_scope, requested_at_audience, state,
  login_remember, login_remember_for, login_extend_session_lifespan, login_error, acr, amr,
  login_authenticated_at, login_was_used, forced_subject_identifier, context, identity_provider_session_id,
  consent_challenge_id, consent_skip, consent_verifier, consent_csrf, granted_scope, granted_at_audience,
  consent_remember, consent_remember_for, consent_handled_at, consent_error, session_access_token,
  session_id_token, consent_was_used, nid)
SELECT
  f.login_challenge, f.login_verifier, f.login_csrf, f.subject, f.request_url, f.login_skip, f.client_id,
  f.requested_at, f.login_initialized_at,
  coalesce(nullif(f.oidc_context, ''), '{}')::jsonb,
  f.login_session_id,
  to_jsonb(string_to_array(coalesce(f.requested_scope, ''), '|')),
  to_jsonb(string_to_array(coalesce(f.requested_at_audience, ''), '|')),
  CASE
    WHEN ch.challenge IS NOT NULL AND coalesce(ch.error, '') NOT IN ('', '{}', 'null') THEN 129
    WHEN ch.challenge IS NOT NULL AND ch.was_used THEN 6
    WHEN ch.challenge IS NOT NULL THEN 5
    WHEN c.challenge IS NOT NULL THEN 4
    WHEN f.login_handled AND coalesce(f.login_error, '') NOT IN ('', '{}', 'null') THEN 128
    WHEN f.login_handled AND f.login_was_used THEN 3
    WHEN f.login_handled THEN 2
    ELSE 1
  END,
  coalesce(f.login_remember, false), coalesce(f.login_remember_for, 0), false,
  CASE WHEN coalesce(f.login_error, '') NOT IN ('', '{}', 'null') THEN f.login_error END,
  coalesce(f.acr, ''), '[]'::jsonb, f.login_authenticated_at, coalesce(f.login_was_used, false),
  coalesce(f.forced_subject_identifier, ''),
  coalesce(nullif(f.context, ''), '{}')::jsonb,
  NULL,
  c.challenge, coalesce(c.skip, false), c.verifier, c.csrf,
  to_jsonb(string_to_array(coalesce(ch.granted_scope, ''), '|')),
  to_jsonb(string_to_array(coalesce(ch.granted_at_audience, ''), '|')),
  coalesce(ch.remember, false), ch.remember_for, ch.handled_at,
  CASE WHEN coalesce(ch.error, '') NOT IN ('', '{}', 'null') THEN ch.error END,
  coalesce(nullif(ch.session_access_token, ''), '{}')::jsonb,
  coalesce(nullif(ch.session_id_token, ''), '{}')::jsonb,
  coalesce(ch.was_used, false),
  (SELECT id FROM networks)
FROM logins f
LEFT JOIN hydra_oauth2_consent_request c ON c.challenge = f.consent_challenge
LEFT JOIN hydra_oauth2_consent_request_handled ch ON ch.challenge = f.consent_challenge;

CREATE UNIQUE INDEX hydra_oauth2_flow_consent_challenge_id_idx ON hydra_oauth2_flow (consent_challenge_id);
CREATE UNIQUE INDEX hydra_oauth2_flow_login_verifier_idx ON hydra_oauth2_flow (login_verifier);
CREATE UNIQUE INDEX hydra_oauth2_flow_consent_verifier_idx ON hydra_oauth2_flow (consent_verifier);
CREATE INDEX hydra_oauth2_flow_client_id_idx ON hydra_oauth2_flow (client_id, nid);
CREATE INDEX hydra_oauth2_flow_login_session_id_idx ON hydra_oauth2_flow (login_session_id);
CREATE INDEX hydra_oauth2_flow_subject_idx ON hydra_oauth2_flow (subject, nid);
CREATE INDEX hydra_oauth2_flow_previous_consents_idx
  ON hydra_oauth2_flow (subject, client_id, nid, consent_skip, consent_error, consent_remember);

ALTER TABLE hydra_oauth2_flow ADD CONSTRAINT hydra_oauth2_flow_nid_fk
  FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT NOT VALID;
ALTER TABLE hydra_oauth2_flow ADD CONSTRAINT hydra_oauth2_flow_client_id_fk
  FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE NOT VALID;
ALTER TABLE hydra_oauth2_flow ADD CONSTRAINT hydra_oauth2_flow_login_session_id_fk
  FOREIGN KEY (login_session_id) REFERENCES hydra_oauth2_authentication_session (id) ON DELETE SET NULL NOT VALID;
