-- Emmett for Go, migration 0002, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- Finding an event by its global position alone: ResolvePosition, which
-- gives a bare global position ("42", as clients hand back an event's
-- globalPosition) the transaction id that ReadAll orders by first.
CREATE INDEX IF NOT EXISTS emt_messages_global_position_idx
    ON emt_messages (global_position);
