SELECT 1;
SELECT 'unterminated;
CREATE INDEX i ON users (email);