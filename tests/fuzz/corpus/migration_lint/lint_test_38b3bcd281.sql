CREATE TABLE f (c int, CONSTRAINT f_fk FOREIGN KEY (c) REFERENCES clients (id));
COPY f FROM '/tmp/f.csv';