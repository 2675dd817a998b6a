-- 0006: what the engine remembers of a pool while it has no runner
-- (store.PoolActivity): the actor names its runners define and the last
-- demand (a request or due work that found no live runner), which the
-- operator turns into a scale-up from zero.

CREATE TABLE pool_activity (
    pool      text        PRIMARY KEY CHECK (length(pool) BETWEEN 1 AND 256),
    names     text[]      NOT NULL DEFAULT '{}',
    demand_at timestamptz
);
