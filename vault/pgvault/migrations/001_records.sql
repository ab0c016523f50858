-- The vault: one row per card. Only sealed data and keyed fingerprints are
-- stored; data holds the rest of the record as JSON.
CREATE TABLE tokengate_records (
    tenant           text        NOT NULL,
    token            text        NOT NULL,
    fingerprint      text        NOT NULL,
    network_provider text        NOT NULL DEFAULT '',
    network_id       text        NOT NULL DEFAULT '',
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant, token),
    UNIQUE (tenant, fingerprint)
);
CREATE INDEX tokengate_records_network ON tokengate_records (network_provider, network_id) WHERE network_id <> '';

-- Other components' state (the builtin network token service's).
CREATE TABLE tokengate_kv (
    name text  NOT NULL,
    id   text  NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (name, id)
);

---- create above / drop below ----

DROP TABLE tokengate_kv;
DROP TABLE tokengate_records;
