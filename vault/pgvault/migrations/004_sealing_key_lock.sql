-- A write holds its key's row in tokengate_sealing_keys (FOR KEY SHARE, as
-- a foreign key check would) until it commits, so that `caddy tokengate
-- keys disable`, which deletes the id and then counts the records sealed
-- with it, waits for a write in flight and counts it: without it, a gateway
-- still on the old keyset (a rolling reload) could write a record sealed
-- with the key while the count ran, and the id was forgotten under it
-- (pgvault ForgetSealingKey). A write that comes after the delete waits for
-- it and records the id again, so the next start with a keyset lacking the
-- key refuses.
CREATE OR REPLACE FUNCTION tokengate_record_sealing_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k bigint := tokengate_sealing_key_id(NEW.data->>'sealed');
BEGIN
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM tokengate_sealing_keys WHERE key_id = k FOR KEY SHARE;
    IF NOT FOUND THEN
        INSERT INTO tokengate_sealing_keys (key_id) VALUES (k) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

ALTER FUNCTION tokengate_record_sealing_key() SET search_path FROM CURRENT;

---- create above / drop below ----

CREATE OR REPLACE FUNCTION tokengate_record_sealing_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k bigint := tokengate_sealing_key_id(NEW.data->>'sealed');
BEGIN
    IF k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tokengate_sealing_keys WHERE key_id = k) THEN
        INSERT INTO tokengate_sealing_keys (key_id) VALUES (k) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

ALTER FUNCTION tokengate_record_sealing_key() SET search_path FROM CURRENT;
