-- 0001: actor directory, state and KV.

CREATE TABLE actors (
    id             text        PRIMARY KEY,
    namespace      text        NOT NULL,
    name           text        NOT NULL,
    -- store.EncodeKey of the key parts: unambiguous for any part content.
    key_serialized bytea       NOT NULL,
    pool           text        NOT NULL DEFAULT '',
    crash_policy   text        NOT NULL DEFAULT '',
    input          bytea,
    generation     bigint      NOT NULL DEFAULT 0 CHECK (generation >= 0),
    runner_id      text        NOT NULL DEFAULT '',
    initialized    boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    sleep_at       timestamptz,
    destroyed_at   timestamptz
);

-- (namespace, name, key) is unique among live actors.
CREATE UNIQUE INDEX actors_live_key
    ON actors (namespace, name, key_serialized)
    WHERE destroyed_at IS NULL;

-- ListActors: one name, ordered by (created_at, id), keyset-paginated.
CREATE INDEX actors_list ON actors (namespace, name, created_at, id);

-- Placement lookups (actors of one runner).
CREATE INDEX actors_runner ON actors (runner_id) WHERE runner_id <> '';

CREATE TABLE actor_state (
    actor_id   text        PRIMARY KEY REFERENCES actors (id) ON DELETE CASCADE,
    state      bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE actor_kv (
    actor_id text  NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    key      bytea NOT NULL,
    value    bytea NOT NULL,
    PRIMARY KEY (actor_id, key)
);
