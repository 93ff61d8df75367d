-- cutover:no-transaction
CREATE TABLE f (c int REFERENCES clients (id));
INSERT INTO f SELECT id FROM clients;