-- Emmett for Go, migration 0008, on top of 0007.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- 0007's index led with (partition, is_archived), which an append's lookup
-- of its stream row constrains too: where the planner's estimates were
-- rough (a generic plan, a young table) it scanned that index, which holds
-- every stream of the partition and, until vacuum, every version of their
-- rows (each append writes a new one), instead of the primary key. The
-- rows of one leaf of emt_streams all have one partition and one
-- is_archived (it is partitioned by both, LIST), so an index of the names
-- alone serves ListStreams as well, once the leaf is chosen; and an
-- append's `stream_id = $1`, in the database's collation, cannot use it.
DROP INDEX IF EXISTS emt_streams_name_keyset;
CREATE INDEX IF NOT EXISTS emt_streams_name_c ON emt_streams ((stream_id COLLATE "C"));
