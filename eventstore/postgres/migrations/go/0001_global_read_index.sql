-- Emmett for Go, migration 0001, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- Reading the global log in (transaction_id, global_position) order: ReadAll
-- and the polling feed.
CREATE INDEX IF NOT EXISTS emt_messages_transaction_global_idx
    ON emt_messages (transaction_id, global_position);
