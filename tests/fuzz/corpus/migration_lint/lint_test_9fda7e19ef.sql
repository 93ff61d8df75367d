-- cutover:no-transaction
CREATE INDEX CONCURRENTLY i ON users (email);