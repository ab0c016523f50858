-- The keys that sealed the records: their Tink key ids, never key material
-- (vault.KeyRecorder). A gateway's start checks that its keyset holds every
-- one; caddy tokengate migrate refuses to mix records of other keys in.
--
-- A trigger records the id of every row written, whoever writes it (a
-- gateway of any release, migrate, reseal, a hand-made INSERT): a
-- gateway's in-memory list would miss rows written by a release that does
-- not record. It reads the id from the first 8 base64 characters of
-- data->>'sealed' (6 bytes: the record format byte 0x02, then Tink's 0x01
-- and the 4-byte key id; a record of the first format starts with Tink's
-- prefix itself; see vault.SealingKeyID), and writes only an id not yet
-- there, so a write with a known key costs one index lookup.
CREATE TABLE tokengate_sealing_keys (
    key_id      bigint      PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Facts about the vault itself. sealing_keys_complete is set when every
-- record is in tokengate_sealing_keys: here, when there were no records yet;
-- otherwise once a gateway's background scan has been through the rows
-- written before this migration.
CREATE TABLE tokengate_vault_meta (
    name  text PRIMARY KEY,
    value text NOT NULL
);

CREATE FUNCTION tokengate_sealing_key_id(sealed text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    b bytea;
    o int := 0;
BEGIN
    IF sealed IS NULL OR sealed !~ '^[A-Za-z0-9+/]{8}' THEN
        RETURN NULL;
    END IF;
    b := decode(substr(sealed, 1, 8), 'base64');
    IF get_byte(b, 0) = 2 THEN
        o := 1;
    END IF;
    IF get_byte(b, o) > 1 OR length(b) < o + 5 THEN
        RETURN NULL;
    END IF;
    RETURN (get_byte(b, o + 1)::bigint << 24) | (get_byte(b, o + 2)::bigint << 16) | (get_byte(b, o + 3)::bigint << 8) | get_byte(b, o + 4)::bigint;
END
$$;

CREATE FUNCTION tokengate_record_sealing_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k bigint := tokengate_sealing_key_id(NEW.data->>'sealed');
BEGIN
    IF k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tokengate_sealing_keys WHERE key_id = k) THEN
        INSERT INTO tokengate_sealing_keys (key_id) VALUES (k) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- Both functions keep the search_path they were created with: pg_restore
-- (and any session) may run the trigger with another one (pg_restore
-- empties it), where the unqualified names above would not resolve.
ALTER FUNCTION tokengate_sealing_key_id(text) SET search_path FROM CURRENT;
ALTER FUNCTION tokengate_record_sealing_key() SET search_path FROM CURRENT;

CREATE TRIGGER tokengate_records_sealing_key AFTER INSERT OR UPDATE OF data ON tokengate_records
    FOR EACH ROW EXECUTE FUNCTION tokengate_record_sealing_key();

INSERT INTO tokengate_vault_meta (name, value)
    SELECT 'sealing_keys_complete', now()::text WHERE NOT EXISTS (SELECT 1 FROM tokengate_records);

---- create above / drop below ----

DROP TRIGGER tokengate_records_sealing_key ON tokengate_records;
DROP FUNCTION tokengate_record_sealing_key();
DROP FUNCTION tokengate_sealing_key_id(text);
DROP TABLE tokengate_vault_meta;
DROP TABLE tokengate_sealing_keys;
