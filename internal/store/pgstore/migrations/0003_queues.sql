-- 0003: durable queues, schedules and workflow history.

-- Per-actor queue counters. queue_seq is the last sequence number handed
-- out (Enqueue increments it with UPDATE ... RETURNING, so seqs never
-- repeat, even after every message was acknowledged); queue_len is the
-- number of messages queued now (Enqueue's max check and QueueLen read it;
-- acks and destroy lower it in the same transaction).
ALTER TABLE actors
    ADD COLUMN queue_seq bigint NOT NULL DEFAULT 0 CHECK (queue_seq >= 0),
    ADD COLUMN queue_len bigint NOT NULL DEFAULT 0 CHECK (queue_len >= 0);

-- DueActors: sleeping live actors with queued messages, and nothing else.
CREATE INDEX actors_queue_wake ON actors (id)
    WHERE runner_id = '' AND destroyed_at IS NULL AND queue_len > 0;

CREATE TABLE actor_queue (
    actor_id    text        NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    seq         bigint      NOT NULL CHECK (seq > 0),
    name        text        NOT NULL,
    body        bytea       NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, seq)
);

-- ListQueue filtered by message name.
CREATE INDEX actor_queue_name ON actor_queue (actor_id, name, seq);

CREATE TABLE actor_schedules (
    actor_id   text        NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    id         text        NOT NULL,
    due_at     timestamptz NOT NULL,
    action     text        NOT NULL,
    args       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, id)
);

-- DueActors: schedules due by now, in due order (actor_id included so the
-- scan is index-only).
CREATE INDEX actor_schedules_due ON actor_schedules (due_at, actor_id);

CREATE TABLE workflow_steps (
    actor_id    text        NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    workflow    text        NOT NULL,
    name        text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq >= 0),
    status      text        NOT NULL CHECK (status IN ('completed', 'failed', 'running')),
    result      bytea,
    error       text        NOT NULL DEFAULT '',
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (actor_id, workflow, name)
);

-- ListWorkflowSteps of one run, by seq.
CREATE INDEX workflow_steps_seq ON workflow_steps (actor_id, workflow, seq);
