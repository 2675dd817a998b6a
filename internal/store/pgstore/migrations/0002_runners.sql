-- 0002: runner registry, pool version routing, named leases.

CREATE TABLE runners (
    id           text        PRIMARY KEY,
    pool         text        NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 1),
    address      text        NOT NULL DEFAULT '',
    -- actor names the runner's program defines
    names        text[]      NOT NULL DEFAULT '{}',
    draining     boolean     NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- ListRunners of one pool.
CREATE INDEX runners_pool ON runners (pool, id);

-- Actors of one runner in bytewise ID order (COLLATE "C", whatever the
-- database's locale, so "by ID" means what it means in the embedded store):
-- ActorsOnRunner is a range scan and the per-runner counts of ListRunners
-- an index-only GROUP BY. actors.runner_id is NOT NULL with '' meaning "not
-- placed" (0001), so the partial predicate is runner_id <> ''. This
-- supersedes 0001's actors_runner (runner_id only).
CREATE INDEX actors_runner_id ON actors (runner_id, id COLLATE "C") WHERE runner_id <> '';
DROP INDEX actors_runner;

CREATE TABLE pool_configs (
    pool       text             PRIMARY KEY,
    ready      bigint[]         NOT NULL DEFAULT '{}',
    draining   bigint[]         NOT NULL DEFAULT '{}',
    drain_rate double precision NOT NULL DEFAULT 0 CHECK (drain_rate >= 0),
    updated_at timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
