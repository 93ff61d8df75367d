CREATE TABLE audit (id bigint, at timestamptz);
CREATE INDEX audit_at ON audit (at);
CREATE UNIQUE INDEX audit_id ON public.audit (id);