-- Emmett for Go, migration 0005, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- Message ids are unique in a stream: an append repeated with the same
-- message ids (a retry after an unknown outcome) clashes on this index,
-- and the store returns the first append's result instead of storing the
-- events twice. Archived copies of a stream keep their ids (is_archived is
-- part of the key).
CREATE UNIQUE INDEX IF NOT EXISTS emt_messages_stream_message_id
    ON emt_messages (stream_id, partition, is_archived, message_id);
