-- Hydra 1.11 -> 2.x, step 12 (one transaction): the 1.11 login and consent
-- tables go (their rows live on in hydra_oauth2_flow since 0009, and nothing
-- references them since 0010), and the indexes built under temporary names
-- in 0007 take over the names 2.x gives them. The 1.11 indexes they replace
-- are renamed to *_v1 first and dropped concurrently by 0013, so that no
-- index is dropped under a name 2.x uses. All catalog-only: DROP TABLE and
-- the renames hold their locks for milliseconds.
SET lock_timeout = '5s';

DROP TABLE hydra_oauth2_consent_request_handled, hydra_oauth2_consent_request,
  hydra_oauth2_authentication_request_handled, hydra_oauth2_authentication_request;

ALTER INDEX hydra_oauth2_access_requested_at_idx RENAME TO hydra_oauth2_access_requested_at_idx_v1;
ALTER INDEX hydra_oauth2_access_requested_at_nid_idx RENAME TO hydra_oauth2_access_requested_at_idx;
ALTER INDEX hydra_oauth2_access_client_id_idx RENAME TO hydra_oauth2_access_client_id_idx_v1;
ALTER INDEX hydra_oauth2_access_client_id_nid_idx RENAME TO hydra_oauth2_access_client_id_idx;
ALTER INDEX hydra_oauth2_access_request_id_idx RENAME TO hydra_oauth2_access_request_id_idx_v1;
ALTER INDEX hydra_oauth2_access_request_id_nid_idx RENAME TO hydra_oauth2_access_request_id_idx;

ALTER INDEX hydra_oauth2_refresh_requested_at_idx RENAME TO hydra_oauth2_refresh_requested_at_idx_v1;
ALTER INDEX hydra_oauth2_refresh_requested_at_nid_idx RENAME TO hydra_oauth2_refresh_requested_at_idx;
ALTER INDEX hydra_oauth2_refresh_client_id_idx RENAME TO hydra_oauth2_refresh_client_id_idx_v1;
ALTER INDEX hydra_oauth2_refresh_client_id_nid_idx RENAME TO hydra_oauth2_refresh_client_id_idx;
ALTER INDEX hydra_oauth2_refresh_request_id_idx RENAME TO hydra_oauth2_refresh_request_id_idx_v1;
ALTER INDEX hydra_oauth2_refresh_request_id_nid_idx RENAME TO hydra_oauth2_refresh_request_id_idx;

ALTER INDEX hydra_oauth2_code_requested_at_idx RENAME TO hydra_oauth2_code_requested_at_idx_v1;
ALTER INDEX hydra_oauth2_code_requested_at_nid_idx RENAME TO hydra_oauth2_code_requested_at_idx;
ALTER INDEX hydra_oauth2_code_client_id_idx RENAME TO hydra_oauth2_code_client_id_idx_v1;
ALTER INDEX hydra_oauth2_code_client_id_nid_idx RENAME TO hydra_oauth2_code_client_id_idx;
ALTER INDEX hydra_oauth2_code_request_id_idx RENAME TO hydra_oauth2_code_request_id_idx_v1;
ALTER INDEX hydra_oauth2_code_request_id_nid_idx RENAME TO hydra_oauth2_code_request_id_idx;

ALTER INDEX hydra_oauth2_oidc_requested_at_idx RENAME TO hydra_oauth2_oidc_requested_at_idx_v1;
ALTER INDEX hydra_oauth2_oidc_requested_at_nid_idx RENAME TO hydra_oauth2_oidc_requested_at_idx;
ALTER INDEX hydra_oauth2_oidc_client_id_idx RENAME TO hydra_oauth2_oidc_client_id_idx_v1;
ALTER INDEX hydra_oauth2_oidc_client_id_nid_idx RENAME TO hydra_oauth2_oidc_client_id_idx;
ALTER INDEX hydra_oauth2_oidc_request_id_idx RENAME TO hydra_oauth2_oidc_request_id_idx_v1;
ALTER INDEX hydra_oauth2_oidc_request_id_nid_idx RENAME TO hydra_oauth2_oidc_request_id_idx;

ALTER INDEX hydra_oauth2_pkce_requested_at_idx RENAME TO hydra_oauth2_pkce_requested_at_idx_v1;
ALTER INDEX hydra_oauth2_pkce_requested_at_nid_idx RENAME TO hydra_oauth2_pkce_requested_at_idx;
ALTER INDEX hydra_oauth2_pkce_client_id_idx RENAME TO hydra_oauth2_pkce_client_id_idx_v1;
ALTER INDEX hydra_oauth2_pkce_client_id_nid_idx RENAME TO hydra_oauth2_pkce_client_id_idx;
ALTER INDEX hydra_oauth2_pkce_request_id_idx RENAME TO hydra_oauth2_pkce_request_id_idx_v1;
ALTER INDEX hydra_oauth2_pkce_request_id_nid_idx RENAME TO hydra_oauth2_pkce_request_id_idx;

ALTER INDEX hydra_oauth2_logout_request_client_id_idx RENAME TO hydra_oauth2_logout_request_client_id_idx_v1;
ALTER INDEX hydra_oauth2_logout_request_client_id_nid_idx RENAME TO hydra_oauth2_logout_request_client_id_idx;
