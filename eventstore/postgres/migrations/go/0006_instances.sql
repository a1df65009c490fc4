-- Emmett for Go, migration 0006, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- The heartbeat rows of the instances of applications that spread their
-- processors across instances (projection.Group): one row per live
-- instance of a group, with the processors it can run (a JSON array of
-- their ids), when it joined, its last heartbeat and when it stops
-- counting as live. Expired rows are ignored, and deleted by the next
-- heartbeat of their group. A table of Emmett for Go's own.
CREATE TABLE IF NOT EXISTS emt_instances (
    group_id       TEXT        NOT NULL,
    instance_id    TEXT        NOT NULL,
    processors     TEXT        NOT NULL DEFAULT '[]',
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (group_id, instance_id)
);
