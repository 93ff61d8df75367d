ANALYZE users;
REINDEX INDEX users_email;