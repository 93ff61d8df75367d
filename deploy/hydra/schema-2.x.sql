-- Ory Hydra 2.x on PostgreSQL: the shape a green database has after the
-- 1.11 -> 2.x migration, written from Hydra's 2.x migrations (up to 2.2).
-- Used as a test fixture and as the target the migration set must reach.
--
-- What changed from 1.11 (see schema-1.11.sql):
--   * `networks` holds one row; every table gains `nid uuid NOT NULL`
--     referencing it (ON DELETE CASCADE ON UPDATE RESTRICT), and uniqueness
--     that was per installation becomes per (key, nid);
--   * hydra_client loses its serial `pk` and is keyed by (id, nid); every
--     reference to a client is the pair (client_id, nid);
--   * login and consent requests (and their handled halves) are merged into
--     hydra_oauth2_flow, keyed by login_challenge, with consent_challenge_id
--     = the 1.x consent `challenge` (unique, NULL until consent starts);
--     list-valued columns of the flow are jsonb;
--   * token tables keep signature / request_id / active / challenge_id
--     unchanged; challenge_id now references
--     hydra_oauth2_flow(consent_challenge_id) ON DELETE CASCADE, and they
--     gain expires_at.
-- So signatures, request ids and consent challenge ids captured on a 1.11
-- blue identify the same rows on a 2.x green.
--
-- This file is embedded into cutover::hydra_fixture at build time inside a
-- C++ raw string delimited by "cutover_sql": it must never contain that word
-- right after a closing parenthesis.

CREATE TABLE schema_migration (
  version      varchar(48) NOT NULL,
  version_self integer     NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX schema_migration_version_idx ON schema_migration (version);
CREATE INDEX schema_migration_version_self_idx ON schema_migration (version_self);

-- One row: the network every other row belongs to.
CREATE TABLE networks (
  id         uuid      PRIMARY KEY,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL
);
INSERT INTO networks (id, created_at, updated_at) VALUES (gen_random_uuid(), now(), now());

CREATE TABLE hydra_client (
  id                                             varchar(255) NOT NULL,
  client_name                                    text         NOT NULL,
  client_secret                                  text         NOT NULL,
  redirect_uris                                  text         NOT NULL,
  grant_types                                    text         NOT NULL,
  response_types                                 text         NOT NULL,
  scope                                          text         NOT NULL,
  owner                                          text         NOT NULL,
  policy_uri                                     text         NOT NULL,
  tos_uri                                        text         NOT NULL,
  client_uri                                     text         NOT NULL,
  logo_uri                                       text         NOT NULL,
  contacts                                       text         NOT NULL,
  client_secret_expires_at                       integer      NOT NULL DEFAULT 0,
  sector_identifier_uri                          text         NOT NULL,
  jwks                                           text         NOT NULL,
  jwks_uri                                       text         NOT NULL,
  request_uris                                   text         NOT NULL,
  token_endpoint_auth_method                     varchar(25)  NOT NULL DEFAULT '',
  request_object_signing_alg                     varchar(10)  NOT NULL DEFAULT '',
  userinfo_signed_response_alg                   varchar(10)  NOT NULL DEFAULT '',
  subject_type                                   varchar(15)  NOT NULL DEFAULT '',
  allowed_cors_origins                           text         NOT NULL,
  audience                                       text         NOT NULL,
  created_at                                     timestamp    NOT NULL DEFAULT now(),
  updated_at                                     timestamp    NOT NULL DEFAULT now(),
  frontchannel_logout_uri                        text         NOT NULL DEFAULT '',
  frontchannel_logout_session_required           boolean      NOT NULL DEFAULT false,
  post_logout_redirect_uris                      text         NOT NULL DEFAULT '',
  backchannel_logout_uri                         text         NOT NULL DEFAULT '',
  backchannel_logout_session_required            boolean      NOT NULL DEFAULT false,
  metadata                                       text         NOT NULL DEFAULT '{}',
  token_endpoint_auth_signing_alg                varchar(10)  NOT NULL DEFAULT '',
  registration_access_token_signature            varchar(128) NOT NULL DEFAULT '',
  authorization_code_grant_access_token_lifespan  bigint       NULL,
  authorization_code_grant_id_token_lifespan      bigint       NULL,
  authorization_code_grant_refresh_token_lifespan bigint       NULL,
  client_credentials_grant_access_token_lifespan  bigint       NULL,
  implicit_grant_access_token_lifespan            bigint       NULL,
  implicit_grant_id_token_lifespan                bigint       NULL,
  jwt_bearer_grant_access_token_lifespan          bigint       NULL,
  password_grant_access_token_lifespan            bigint       NULL,
  password_grant_refresh_token_lifespan           bigint       NULL,
  refresh_token_grant_id_token_lifespan           bigint       NULL,
  refresh_token_grant_access_token_lifespan       bigint       NULL,
  refresh_token_grant_refresh_token_lifespan      bigint       NULL,
  skip_consent                                   boolean      NOT NULL DEFAULT false,
  nid                                            uuid         NOT NULL,
  PRIMARY KEY (id, nid),
  CONSTRAINT hydra_client_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT
);

-- 1.x's serial pk survives as pk_deprecated; keys are now uuids.
CREATE TABLE hydra_jwk (
  pk            uuid         PRIMARY KEY,
  pk_deprecated integer      NULL,
  sid           varchar(255) NOT NULL,
  kid           varchar(255) NOT NULL,
  version       integer      NOT NULL DEFAULT 0,
  keydata       text         NOT NULL,
  created_at    timestamp    NOT NULL DEFAULT now(),
  nid           uuid         NOT NULL,
  CONSTRAINT hydra_jwk_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE UNIQUE INDEX hydra_jwk_sid_kid_nid_key ON hydra_jwk (sid, kid, nid);
CREATE INDEX hydra_jwk_nid_sid_created_at_idx ON hydra_jwk (nid, sid, created_at);

CREATE TABLE hydra_oauth2_authentication_session (
  id                           varchar(40)  PRIMARY KEY,
  authenticated_at             timestamp    NULL,
  subject                      varchar(255) NOT NULL,
  remember                     boolean      NOT NULL DEFAULT false,
  identity_provider_session_id varchar(40)  NULL,
  nid                          uuid         NOT NULL,
  CONSTRAINT hydra_oauth2_authentication_session_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE INDEX hydra_oauth2_authentication_session_subject_nid_idx
  ON hydra_oauth2_authentication_session (subject, nid);

-- Login + consent, one row per login challenge. state: 1 login initialized,
-- 2 login unused (accepted, not yet used), 3 login used, 4 consent
-- initialized, 5 consent unused, 6 consent used, 128 login error, 129
-- consent error.
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
  CONSTRAINT hydra_oauth2_flow_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_flow_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_flow_login_session_id_fk
    FOREIGN KEY (login_session_id) REFERENCES hydra_oauth2_authentication_session (id) ON DELETE SET NULL,
  CONSTRAINT hydra_oauth2_flow_state_check
    CHECK (state IN (1, 2, 3, 4, 5, 6, 128, 129)),
  CONSTRAINT hydra_oauth2_flow_consent_check
    CHECK (state < 4 OR state = 128 OR consent_challenge_id IS NOT NULL)
);
CREATE UNIQUE INDEX hydra_oauth2_flow_consent_challenge_id_idx ON hydra_oauth2_flow (consent_challenge_id);
CREATE UNIQUE INDEX hydra_oauth2_flow_login_verifier_idx ON hydra_oauth2_flow (login_verifier);
CREATE UNIQUE INDEX hydra_oauth2_flow_consent_verifier_idx ON hydra_oauth2_flow (consent_verifier);
CREATE INDEX hydra_oauth2_flow_client_id_idx ON hydra_oauth2_flow (client_id, nid);
CREATE INDEX hydra_oauth2_flow_login_session_id_idx ON hydra_oauth2_flow (login_session_id);
CREATE INDEX hydra_oauth2_flow_subject_idx ON hydra_oauth2_flow (subject, nid);
CREATE INDEX hydra_oauth2_flow_previous_consents_idx
  ON hydra_oauth2_flow (subject, client_id, nid, consent_skip, consent_error, consent_remember);

-- Token tables: one shape, five tables (see the header for what changed).
CREATE TABLE hydra_oauth2_access (
  signature          varchar(255) PRIMARY KEY,
  request_id         varchar(40)  NOT NULL,
  requested_at       timestamp    NOT NULL DEFAULT now(),
  client_id          varchar(255) NOT NULL,
  scope              text         NOT NULL,
  granted_scope      text         NOT NULL,
  form_data          text         NOT NULL,
  session_data       text         NOT NULL,
  subject            varchar(255) NOT NULL DEFAULT '',
  active             boolean      NOT NULL DEFAULT true,
  requested_audience text         NULL DEFAULT '',
  granted_audience   text         NULL DEFAULT '',
  challenge_id       varchar(40)  NULL,
  nid                uuid         NOT NULL,
  expires_at         timestamp    NULL,
  CONSTRAINT hydra_oauth2_access_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_access_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_access_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow (consent_challenge_id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_access_requested_at_idx ON hydra_oauth2_access (requested_at, nid);
CREATE INDEX hydra_oauth2_access_client_id_idx ON hydra_oauth2_access (client_id, nid);
CREATE INDEX hydra_oauth2_access_challenge_id_idx ON hydra_oauth2_access (challenge_id);
CREATE INDEX hydra_oauth2_access_client_id_subject_nid_idx ON hydra_oauth2_access (client_id, subject, nid);
CREATE INDEX hydra_oauth2_access_request_id_idx ON hydra_oauth2_access (request_id, nid);

CREATE TABLE hydra_oauth2_refresh (
  signature          varchar(255) PRIMARY KEY,
  request_id         varchar(40)  NOT NULL,
  requested_at       timestamp    NOT NULL DEFAULT now(),
  client_id          varchar(255) NOT NULL,
  scope              text         NOT NULL,
  granted_scope      text         NOT NULL,
  form_data          text         NOT NULL,
  session_data       text         NOT NULL,
  subject            varchar(255) NOT NULL DEFAULT '',
  active             boolean      NOT NULL DEFAULT true,
  requested_audience text         NULL DEFAULT '',
  granted_audience   text         NULL DEFAULT '',
  challenge_id       varchar(40)  NULL,
  nid                uuid         NOT NULL,
  expires_at         timestamp    NULL,
  CONSTRAINT hydra_oauth2_refresh_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_refresh_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_refresh_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow (consent_challenge_id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_refresh_requested_at_idx ON hydra_oauth2_refresh (requested_at, nid);
CREATE INDEX hydra_oauth2_refresh_client_id_idx ON hydra_oauth2_refresh (client_id, nid);
CREATE INDEX hydra_oauth2_refresh_challenge_id_idx ON hydra_oauth2_refresh (challenge_id);
CREATE INDEX hydra_oauth2_refresh_client_id_subject_nid_idx ON hydra_oauth2_refresh (client_id, subject, nid);
CREATE INDEX hydra_oauth2_refresh_request_id_idx ON hydra_oauth2_refresh (request_id, nid);

CREATE TABLE hydra_oauth2_code (
  signature          varchar(255) PRIMARY KEY,
  request_id         varchar(40)  NOT NULL,
  requested_at       timestamp    NOT NULL DEFAULT now(),
  client_id          varchar(255) NOT NULL,
  scope              text         NOT NULL,
  granted_scope      text         NOT NULL,
  form_data          text         NOT NULL,
  session_data       text         NOT NULL,
  subject            varchar(255) NOT NULL DEFAULT '',
  active             boolean      NOT NULL DEFAULT true,
  requested_audience text         NULL DEFAULT '',
  granted_audience   text         NULL DEFAULT '',
  challenge_id       varchar(40)  NULL,
  nid                uuid         NOT NULL,
  expires_at         timestamp    NULL,
  CONSTRAINT hydra_oauth2_code_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_code_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_code_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow (consent_challenge_id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_code_requested_at_idx ON hydra_oauth2_code (requested_at, nid);
CREATE INDEX hydra_oauth2_code_client_id_idx ON hydra_oauth2_code (client_id, nid);
CREATE INDEX hydra_oauth2_code_challenge_id_idx ON hydra_oauth2_code (challenge_id);
CREATE INDEX hydra_oauth2_code_client_id_subject_nid_idx ON hydra_oauth2_code (client_id, subject, nid);
CREATE INDEX hydra_oauth2_code_request_id_idx ON hydra_oauth2_code (request_id, nid);

CREATE TABLE hydra_oauth2_oidc (
  signature          varchar(255) PRIMARY KEY,
  request_id         varchar(40)  NOT NULL,
  requested_at       timestamp    NOT NULL DEFAULT now(),
  client_id          varchar(255) NOT NULL,
  scope              text         NOT NULL,
  granted_scope      text         NOT NULL,
  form_data          text         NOT NULL,
  session_data       text         NOT NULL,
  subject            varchar(255) NOT NULL DEFAULT '',
  active             boolean      NOT NULL DEFAULT true,
  requested_audience text         NULL DEFAULT '',
  granted_audience   text         NULL DEFAULT '',
  challenge_id       varchar(40)  NULL,
  nid                uuid         NOT NULL,
  expires_at         timestamp    NULL,
  CONSTRAINT hydra_oauth2_oidc_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_oidc_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_oidc_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow (consent_challenge_id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_oidc_requested_at_idx ON hydra_oauth2_oidc (requested_at, nid);
CREATE INDEX hydra_oauth2_oidc_client_id_idx ON hydra_oauth2_oidc (client_id, nid);
CREATE INDEX hydra_oauth2_oidc_challenge_id_idx ON hydra_oauth2_oidc (challenge_id);
CREATE INDEX hydra_oauth2_oidc_client_id_subject_nid_idx ON hydra_oauth2_oidc (client_id, subject, nid);
CREATE INDEX hydra_oauth2_oidc_request_id_idx ON hydra_oauth2_oidc (request_id, nid);

CREATE TABLE hydra_oauth2_pkce (
  signature          varchar(255) PRIMARY KEY,
  request_id         varchar(40)  NOT NULL,
  requested_at       timestamp    NOT NULL DEFAULT now(),
  client_id          varchar(255) NOT NULL,
  scope              text         NOT NULL,
  granted_scope      text         NOT NULL,
  form_data          text         NOT NULL,
  session_data       text         NOT NULL,
  subject            varchar(255) NOT NULL DEFAULT '',
  active             boolean      NOT NULL DEFAULT true,
  requested_audience text         NULL DEFAULT '',
  granted_audience   text         NULL DEFAULT '',
  challenge_id       varchar(40)  NULL,
  nid                uuid         NOT NULL,
  expires_at         timestamp    NULL,
  CONSTRAINT hydra_oauth2_pkce_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_pkce_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_pkce_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow (consent_challenge_id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_pkce_requested_at_idx ON hydra_oauth2_pkce (requested_at, nid);
CREATE INDEX hydra_oauth2_pkce_client_id_idx ON hydra_oauth2_pkce (client_id, nid);
CREATE INDEX hydra_oauth2_pkce_challenge_id_idx ON hydra_oauth2_pkce (challenge_id);
CREATE INDEX hydra_oauth2_pkce_client_id_subject_nid_idx ON hydra_oauth2_pkce (client_id, subject, nid);
CREATE INDEX hydra_oauth2_pkce_request_id_idx ON hydra_oauth2_pkce (request_id, nid);


CREATE TABLE hydra_oauth2_obfuscated_authentication_session (
  subject            varchar(255) NOT NULL,
  client_id          varchar(255) NOT NULL,
  subject_obfuscated varchar(255) NOT NULL,
  nid                uuid         NOT NULL,
  PRIMARY KEY (subject, client_id, nid),
  CONSTRAINT hydra_oauth2_obfuscated_authentication_session_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_obfuscated_authentication_session_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX hydra_oauth2_obfuscated_authentication_session_so_nid_idx
  ON hydra_oauth2_obfuscated_authentication_session (client_id, subject_obfuscated, nid);

CREATE TABLE hydra_oauth2_logout_request (
  challenge    varchar(36)  PRIMARY KEY,
  verifier     varchar(36)  NOT NULL,
  subject      varchar(255) NOT NULL,
  sid          varchar(36)  NOT NULL,
  client_id    varchar(255) NULL,
  request_url  text         NOT NULL,
  redir_url    text         NOT NULL,
  was_used     boolean      NOT NULL DEFAULT false,
  accepted     boolean      NOT NULL DEFAULT false,
  rejected     boolean      NOT NULL DEFAULT false,
  rp_initiated boolean      NOT NULL DEFAULT false,
  expires_at   timestamp    NULL,
  requested_at timestamp    NULL,
  nid          uuid         NOT NULL,
  CONSTRAINT hydra_oauth2_logout_request_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_logout_request_client_id_fk
    FOREIGN KEY (client_id, nid) REFERENCES hydra_client (id, nid) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_logout_request_client_id_idx ON hydra_oauth2_logout_request (client_id, nid);
CREATE UNIQUE INDEX hydra_oauth2_logout_request_veri_idx ON hydra_oauth2_logout_request (verifier);

CREATE TABLE hydra_oauth2_jti_blacklist (
  signature  varchar(64) NOT NULL,
  expires_at timestamp   NOT NULL DEFAULT now(),
  nid        uuid        NOT NULL,
  PRIMARY KEY (signature, nid),
  CONSTRAINT hydra_oauth2_jti_blacklist_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE INDEX hydra_oauth2_jti_blacklist_expires_at_idx ON hydra_oauth2_jti_blacklist (expires_at, nid);

CREATE TABLE hydra_oauth2_trusted_jwt_bearer_issuer (
  id                uuid         PRIMARY KEY,
  issuer            varchar(255) NOT NULL,
  subject           varchar(255) NOT NULL,
  allow_any_subject boolean      NOT NULL DEFAULT false,
  scope             text         NOT NULL,
  key_set           varchar(255) NOT NULL,
  key_id            varchar(255) NOT NULL,
  created_at        timestamp    NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at        timestamp    NOT NULL DEFAULT CURRENT_TIMESTAMP,
  nid               uuid         NOT NULL,
  UNIQUE (issuer, subject, key_id, nid),
  CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_nid_fk
    FOREIGN KEY (nid) REFERENCES networks (id) ON DELETE CASCADE ON UPDATE RESTRICT,
  CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_key_fk
    FOREIGN KEY (key_set, key_id, nid) REFERENCES hydra_jwk (sid, kid, nid) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_trusted_jwt_bearer_issuer_nid_idx
  ON hydra_oauth2_trusted_jwt_bearer_issuer (id, nid);
CREATE INDEX hydra_oauth2_trusted_jwt_bearer_issuer_expires_at_idx
  ON hydra_oauth2_trusted_jwt_bearer_issuer (expires_at);

-- One representative row stands for "at 2.x" (the cutover never interprets it).
INSERT INTO schema_migration (version, version_self) VALUES ('20230809122501000001', 0);
