SET lock_timeout = '5s';
CREATE TABLE flow (id int PRIMARY KEY,
  client_id int REFERENCES clients (id));
INSERT INTO flow SELECT id, id FROM old_flow;