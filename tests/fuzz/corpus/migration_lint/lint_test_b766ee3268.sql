CREATE TABLE items (id int PRIMARY KEY, order_id int);
ALTER TABLE items ADD CONSTRAINT items_fk FOREIGN KEY (order_id) REFERENCES orders (id);