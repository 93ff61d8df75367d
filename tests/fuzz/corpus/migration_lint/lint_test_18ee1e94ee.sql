CREATE TABLE f (c int REFERENCES clients);
WITH s AS (SELECT id FROM clients) INSERT INTO public.f SELECT id FROM s;