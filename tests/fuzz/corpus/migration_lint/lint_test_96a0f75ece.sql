CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$
DECLARE r record;
BEGIN
  SELECT * INTO r FROM users LIMIT 1;
END
$body$;