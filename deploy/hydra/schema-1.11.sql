-- Ory Hydra 1.11 on PostgreSQL: the shape of the database a 1.x deployment
-- runs on ("blue" in the reference story). Written from Hydra's 1.x
-- migrations (persistence/sql/migrations) as they stand after the last 1.11
-- migration; column names, types, defaults, foreign-key actions and index
-- names follow Hydra. Tables live in the connection's default schema.
--
-- Facts the cutover relies on (see shared DESIGN.md, "Hydra profile"):
--   * token tables hydra_oauth2_{access,refresh,code,oidc,pkce} are keyed by
--     `signature`; `request_id` groups a whole grant / refresh chain;
--   * deleting a client cascades to its flows, consents and tokens;
--   * deleting a consent request cascades to its handled row and from there
--     to every token issued under it (`challenge_id`).
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

-- OAuth 2.0 clients. 1.x keeps the serial `pk` as primary key; everything
-- else references the client through the unique `id`.
CREATE TABLE hydra_client (
  pk                                   serial       PRIMARY KEY,
  id                                   varchar(255) NOT NULL,
  client_name                          text         NOT NULL,
  client_secret                        text         NOT NULL,
  redirect_uris                        text         NOT NULL,
  grant_types                          text         NOT NULL,
  response_types                       text         NOT NULL,
  scope                                text         NOT NULL,
  owner                                text         NOT NULL,
  policy_uri                           text         NOT NULL,
  tos_uri                              text         NOT NULL,
  client_uri                           text         NOT NULL,
  logo_uri                             text         NOT NULL,
  contacts                             text         NOT NULL,
  client_secret_expires_at             integer      NOT NULL DEFAULT 0,
  sector_identifier_uri                text         NOT NULL,
  jwks                                 text         NOT NULL,
  jwks_uri                             text         NOT NULL,
  request_uris                         text         NOT NULL,
  token_endpoint_auth_method           varchar(25)  NOT NULL DEFAULT '',
  request_object_signing_alg           varchar(10)  NOT NULL DEFAULT '',
  userinfo_signed_response_alg         varchar(10)  NOT NULL DEFAULT '',
  subject_type                         varchar(15)  NOT NULL DEFAULT '',
  allowed_cors_origins                 text         NOT NULL,
  audience                             text         NOT NULL,
  created_at                           timestamp    NOT NULL DEFAULT now(),
  updated_at                           timestamp    NOT NULL DEFAULT now(),
  frontchannel_logout_uri              text         NOT NULL DEFAULT '',
  frontchannel_logout_session_required boolean      NOT NULL DEFAULT false,
  post_logout_redirect_uris            text         NOT NULL DEFAULT '',
  backchannel_logout_uri               text         NOT NULL DEFAULT '',
  backchannel_logout_session_required  boolean      NOT NULL DEFAULT false,
  metadata                             text         NOT NULL DEFAULT '{}',
  token_endpoint_auth_signing_alg      varchar(10)  NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX hydra_client_idx_id_uq ON hydra_client (id);

-- JSON Web Keys; keydata is AES-GCM encrypted and base64 encoded by Hydra.
CREATE TABLE hydra_jwk (
  pk         serial       PRIMARY KEY,
  sid        varchar(255) NOT NULL,
  kid        varchar(255) NOT NULL,
  version    integer      NOT NULL DEFAULT 0,
  keydata    text         NOT NULL,
  created_at timestamp    NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX hydra_jwk_idx_id_uq ON hydra_jwk (sid, kid);

-- Login sessions (the "remember me" cookie's server side).
CREATE TABLE hydra_oauth2_authentication_session (
  id               varchar(40)  PRIMARY KEY,
  authenticated_at timestamp    NULL,
  subject          varchar(255) NOT NULL,
  remember         boolean      NOT NULL DEFAULT false
);
CREATE INDEX hydra_oauth2_authentication_session_sub_idx
  ON hydra_oauth2_authentication_session (subject);

-- Login requests (one per /oauth2/auth round trip) and their handled half.
CREATE TABLE hydra_oauth2_authentication_request (
  challenge             varchar(40)  PRIMARY KEY,
  requested_scope       text         NOT NULL,
  verifier              varchar(40)  NOT NULL,
  csrf                  varchar(40)  NOT NULL,
  subject               varchar(255) NOT NULL,
  request_url           text         NOT NULL,
  skip                  boolean      NOT NULL,
  client_id             varchar(255) NOT NULL,
  requested_at          timestamp    NOT NULL DEFAULT now(),
  authenticated_at      timestamp    NULL,
  oidc_context          text         NOT NULL,
  login_session_id      varchar(40)  NULL,
  requested_at_audience text         NULL DEFAULT '',
  CONSTRAINT hydra_oauth2_authentication_request_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_authentication_request_login_session_id_fk
    FOREIGN KEY (login_session_id) REFERENCES hydra_oauth2_authentication_session (id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_authentication_request_client_id_idx
  ON hydra_oauth2_authentication_request (client_id);
CREATE INDEX hydra_oauth2_authentication_request_login_session_id_idx
  ON hydra_oauth2_authentication_request (login_session_id);
CREATE INDEX hydra_oauth2_authentication_request_subject_idx
  ON hydra_oauth2_authentication_request (subject);
CREATE UNIQUE INDEX hydra_oauth2_authentication_request_veri_idx
  ON hydra_oauth2_authentication_request (verifier);

CREATE TABLE hydra_oauth2_authentication_request_handled (
  challenge                 varchar(40)  PRIMARY KEY,
  subject                   varchar(255) NOT NULL,
  remember                  boolean      NOT NULL,
  remember_for              integer      NOT NULL,
  error                     text         NOT NULL,
  acr                       text         NOT NULL,
  requested_at              timestamp    NOT NULL DEFAULT now(),
  authenticated_at          timestamp    NULL,
  was_used                  boolean      NOT NULL,
  forced_subject_identifier varchar(255) NULL DEFAULT '',
  context                   text         NOT NULL DEFAULT '{}',
  CONSTRAINT hydra_oauth2_authentication_request_handled_challenge_fk
    FOREIGN KEY (challenge) REFERENCES hydra_oauth2_authentication_request (challenge) ON DELETE CASCADE
);

-- Consent requests and their handled half. The handled row is what tokens
-- point at (challenge_id), so withdrawing a consent revokes its tokens.
CREATE TABLE hydra_oauth2_consent_request (
  challenge                 varchar(40)  PRIMARY KEY,
  verifier                  varchar(40)  NOT NULL,
  client_id                 varchar(255) NOT NULL,
  subject                   varchar(255) NOT NULL,
  request_url               text         NOT NULL,
  skip                      boolean      NOT NULL,
  requested_scope           text         NOT NULL,
  csrf                      varchar(40)  NOT NULL,
  authenticated_at          timestamp    NULL,
  requested_at              timestamp    NOT NULL DEFAULT now(),
  oidc_context              text         NOT NULL,
  forced_subject_identifier varchar(255) NULL DEFAULT '',
  login_session_id          varchar(40)  NULL,
  login_challenge           varchar(40)  NULL,
  requested_at_audience     text         NULL DEFAULT '',
  acr                       text         NULL DEFAULT '',
  context                   text         NOT NULL DEFAULT '{}',
  CONSTRAINT hydra_oauth2_consent_request_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_consent_request_login_session_id_fk
    FOREIGN KEY (login_session_id) REFERENCES hydra_oauth2_authentication_session (id) ON DELETE SET NULL,
  CONSTRAINT hydra_oauth2_consent_request_login_challenge_fk
    FOREIGN KEY (login_challenge) REFERENCES hydra_oauth2_authentication_request (challenge) ON DELETE SET NULL
);
CREATE INDEX hydra_oauth2_consent_request_client_id_idx
  ON hydra_oauth2_consent_request (client_id);
CREATE INDEX hydra_oauth2_consent_request_subject_idx
  ON hydra_oauth2_consent_request (subject);
CREATE INDEX hydra_oauth2_consent_request_login_session_id_idx
  ON hydra_oauth2_consent_request (login_session_id);
CREATE INDEX hydra_oauth2_consent_request_login_challenge_idx
  ON hydra_oauth2_consent_request (login_challenge);
CREATE UNIQUE INDEX hydra_oauth2_consent_request_veri_idx
  ON hydra_oauth2_consent_request (verifier);

CREATE TABLE hydra_oauth2_consent_request_handled (
  challenge            varchar(40) PRIMARY KEY,
  granted_scope        text        NOT NULL,
  remember             boolean     NOT NULL,
  remember_for         integer     NOT NULL,
  error                text        NOT NULL,
  requested_at         timestamp   NOT NULL DEFAULT now(),
  session_access_token text        NOT NULL,
  session_id_token     text        NOT NULL,
  authenticated_at     timestamp   NULL,
  was_used             boolean     NOT NULL,
  granted_at_audience  text        NULL DEFAULT '',
  handled_at           timestamp   NULL,
  CONSTRAINT hydra_oauth2_consent_request_handled_challenge_fk
    FOREIGN KEY (challenge) REFERENCES hydra_oauth2_consent_request (challenge) ON DELETE CASCADE
);

-- Token tables: one shape, five tables. Revocation deletes access rows and
-- (1.x) deactivates refresh rows by request_id.
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
  CONSTRAINT hydra_oauth2_access_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_access_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_consent_request_handled (challenge) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_access_requested_at_idx ON hydra_oauth2_access (requested_at);
CREATE INDEX hydra_oauth2_access_client_id_idx ON hydra_oauth2_access (client_id);
CREATE INDEX hydra_oauth2_access_challenge_id_idx ON hydra_oauth2_access (challenge_id);
CREATE INDEX hydra_oauth2_access_client_id_subject_idx ON hydra_oauth2_access (client_id, subject);
CREATE INDEX hydra_oauth2_access_request_id_idx ON hydra_oauth2_access (request_id);

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
  CONSTRAINT hydra_oauth2_refresh_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_refresh_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_consent_request_handled (challenge) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_refresh_requested_at_idx ON hydra_oauth2_refresh (requested_at);
CREATE INDEX hydra_oauth2_refresh_client_id_idx ON hydra_oauth2_refresh (client_id);
CREATE INDEX hydra_oauth2_refresh_challenge_id_idx ON hydra_oauth2_refresh (challenge_id);
CREATE INDEX hydra_oauth2_refresh_client_id_subject_idx ON hydra_oauth2_refresh (client_id, subject);
CREATE INDEX hydra_oauth2_refresh_request_id_idx ON hydra_oauth2_refresh (request_id);

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
  CONSTRAINT hydra_oauth2_code_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_code_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_consent_request_handled (challenge) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_code_requested_at_idx ON hydra_oauth2_code (requested_at);
CREATE INDEX hydra_oauth2_code_client_id_idx ON hydra_oauth2_code (client_id);
CREATE INDEX hydra_oauth2_code_challenge_id_idx ON hydra_oauth2_code (challenge_id);
CREATE INDEX hydra_oauth2_code_client_id_subject_idx ON hydra_oauth2_code (client_id, subject);
CREATE INDEX hydra_oauth2_code_request_id_idx ON hydra_oauth2_code (request_id);

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
  CONSTRAINT hydra_oauth2_oidc_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_oidc_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_consent_request_handled (challenge) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_oidc_requested_at_idx ON hydra_oauth2_oidc (requested_at);
CREATE INDEX hydra_oauth2_oidc_client_id_idx ON hydra_oauth2_oidc (client_id);
CREATE INDEX hydra_oauth2_oidc_challenge_id_idx ON hydra_oauth2_oidc (challenge_id);
CREATE INDEX hydra_oauth2_oidc_client_id_subject_idx ON hydra_oauth2_oidc (client_id, subject);
CREATE INDEX hydra_oauth2_oidc_request_id_idx ON hydra_oauth2_oidc (request_id);

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
  CONSTRAINT hydra_oauth2_pkce_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE,
  CONSTRAINT hydra_oauth2_pkce_challenge_id_fk
    FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_consent_request_handled (challenge) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_pkce_requested_at_idx ON hydra_oauth2_pkce (requested_at);
CREATE INDEX hydra_oauth2_pkce_client_id_idx ON hydra_oauth2_pkce (client_id);
CREATE INDEX hydra_oauth2_pkce_challenge_id_idx ON hydra_oauth2_pkce (challenge_id);
CREATE INDEX hydra_oauth2_pkce_client_id_subject_idx ON hydra_oauth2_pkce (client_id, subject);
CREATE INDEX hydra_oauth2_pkce_request_id_idx ON hydra_oauth2_pkce (request_id);

-- Pairwise subject identifiers per (subject, client).
CREATE TABLE hydra_oauth2_obfuscated_authentication_session (
  subject            varchar(255) NOT NULL,
  client_id          varchar(255) NOT NULL,
  subject_obfuscated varchar(255) NOT NULL,
  PRIMARY KEY (subject, client_id),
  CONSTRAINT hydra_oauth2_obfuscated_authentication_session_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX hydra_oauth2_obfuscated_authentication_session_so_idx
  ON hydra_oauth2_obfuscated_authentication_session (client_id, subject_obfuscated);

-- Logout requests (RP- or OP-initiated).
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
  CONSTRAINT hydra_oauth2_logout_request_client_id_fk
    FOREIGN KEY (client_id) REFERENCES hydra_client (id) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_logout_request_client_id_idx ON hydra_oauth2_logout_request (client_id);
CREATE UNIQUE INDEX hydra_oauth2_logout_request_veri_idx ON hydra_oauth2_logout_request (verifier);

-- JWT assertion ids already seen (replay protection for private_key_jwt).
CREATE TABLE hydra_oauth2_jti_blacklist (
  signature  varchar(64) PRIMARY KEY,
  expires_at timestamp   NOT NULL DEFAULT now()
);
CREATE INDEX hydra_oauth2_jti_blacklist_expiry ON hydra_oauth2_jti_blacklist (expires_at);

-- RFC 7523 trust relationships (JWT bearer grant), keyed to a public key.
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
  UNIQUE (issuer, subject, key_id),
  CONSTRAINT hydra_oauth2_trusted_jwt_bearer_issuer_key_fk
    FOREIGN KEY (key_set, key_id) REFERENCES hydra_jwk (sid, kid) ON DELETE CASCADE
);
CREATE INDEX hydra_oauth2_trusted_jwt_bearer_issuer_expires_at_idx
  ON hydra_oauth2_trusted_jwt_bearer_issuer (expires_at);

-- Hydra's migrator records applied migrations here; one representative row
-- stands for "at 1.11" (the cutover never interprets it).
INSERT INTO schema_migration (version, version_self) VALUES ('20211226156000000000', 0);
