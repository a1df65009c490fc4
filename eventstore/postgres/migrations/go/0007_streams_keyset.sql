-- Emmett for Go, migration 0007, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- Lists a partition's streams by name, a page at a time (ListStreams, the
-- operations console): the names in byte order (the "C" collation), so
-- that the streams with a prefix are one range of the index, whatever the
-- database's collation, and a page after a name starts where the index
-- holds it: the cost of a page does not grow with its depth.
CREATE INDEX IF NOT EXISTS emt_streams_name_keyset
    ON emt_streams (partition, is_archived, (stream_id COLLATE "C"));
