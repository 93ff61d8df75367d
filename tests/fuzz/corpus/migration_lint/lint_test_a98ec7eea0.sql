CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  -- SELECT * FROM users would break; count(*) does not
  SELECT count(*) INTO n FROM users;
  EXECUTE 'SELECT * FROM users';
  RAISE NOTICE 'SELECT * %', n * 2;
END $$;