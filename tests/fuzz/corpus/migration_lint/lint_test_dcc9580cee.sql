ALTER TABLE users ADD COLUMN c uuid;
ALTER TABLE users ALTER COLUMN c SET DEFAULT gen_random_uuid();