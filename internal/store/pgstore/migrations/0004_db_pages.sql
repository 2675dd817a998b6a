-- 0004: the pages of each actor's SQL database (c.DB()). A page is a
-- fixed-size block of the SQLite file, numbered from 1; the database's
-- size is its highest page number. Pages change only in Commit, in the
-- same transaction (and under the same generation fence) as the actor's
-- state and KV; destroy deletes them.
CREATE TABLE actor_db_pages (
    actor_id text    NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    page_no  integer NOT NULL CHECK (page_no > 0),
    data     bytea   NOT NULL,
    PRIMARY KEY (actor_id, page_no)
);
