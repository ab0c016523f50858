-- Every gateway keeps recently read records (and the builtin network token
-- service's states) in memory. A change or delete committed by any of them
-- is announced on the channel tokengate_changes, so the others drop their
-- copy within milliseconds instead of serving it until their cache TTL.
-- Inserts are not announced: misses are never cached. A payload too long for
-- NOTIFY (8000 bytes) is announced as {} ("drop everything"), so no change
-- can fail for want of an announcement.
CREATE FUNCTION tokengate_announce(payload text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(payload) > 7900 THEN
        payload := '{}';
    END IF;
    PERFORM pg_notify('tokengate_changes', payload);
END
$$;

CREATE FUNCTION tokengate_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tokengate_announce(json_build_object('tenant', OLD.tenant, 'token', OLD.token)::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION tokengate_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tokengate_announce(json_build_object('name', OLD.name, 'id', OLD.id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tokengate_records_changed AFTER UPDATE OR DELETE ON tokengate_records
    FOR EACH ROW EXECUTE FUNCTION tokengate_record_changed();
CREATE TRIGGER tokengate_kv_changed AFTER UPDATE OR DELETE ON tokengate_kv
    FOR EACH ROW EXECUTE FUNCTION tokengate_state_changed();

---- create above / drop below ----

DROP TRIGGER tokengate_kv_changed ON tokengate_kv;
DROP TRIGGER tokengate_records_changed ON tokengate_records;
DROP FUNCTION tokengate_state_changed();
DROP FUNCTION tokengate_record_changed();
DROP FUNCTION tokengate_announce(text);
