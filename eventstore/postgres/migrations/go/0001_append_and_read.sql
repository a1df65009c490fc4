-- Emmett for Go, migration 0001, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- Reading the global log in (transaction_id, global_position) order.
CREATE INDEX IF NOT EXISTS emt_messages_transaction_global_idx
    ON emt_messages (transaction_id, global_position);

-- Appends events to a stream in one call, checking the expected version
-- before anything is written or any sequence value taken:
--   p_expected_version  -1 any, -2 no stream, -3 stream exists, >= 0 exact.
-- Returns one row: success, and on success the stream's new version, whether
-- the stream was created, the transaction id, the events' global positions
-- (in stream order) and their created time; on a conflict (success false)
-- stream_version is the stream's actual version (0 when it does not exist).
-- Concurrent appends to one stream queue on its row in emt_streams; nothing
-- else is locked.
CREATE OR REPLACE FUNCTION emt_go_append_to_stream(
    p_stream_id          text,
    p_partition          text,
    p_stream_type        text,
    p_expected_version   bigint,
    p_message_ids        text[],
    p_message_types      text[],
    p_messages_data      jsonb[],
    p_messages_metadata  jsonb[],
    p_notify             boolean DEFAULT FALSE
) RETURNS TABLE (
    success          boolean,
    stream_version   bigint,
    created_stream   boolean,
    transaction_id   xid8,
    global_positions bigint[],
    created          timestamptz
) LANGUAGE plpgsql AS $emt_go_append_to_stream$
#variable_conflict use_column
DECLARE
    v_count     bigint := cardinality(p_messages_data);
    v_before    bigint;
    v_created   boolean := FALSE;
    v_tx        xid8;
    v_positions bigint[];
    v_attempt   int := 0;
BEGIN
    LOOP
        v_attempt := v_attempt + 1;
        -- An existing stream: move its version on, if it is the expected one.
        -- The row stays locked until the transaction ends, so appends to one
        -- stream queue here.
        IF p_expected_version = -1 OR p_expected_version = -3 OR p_expected_version > 0 THEN
            UPDATE emt_streams AS s
               SET stream_position = s.stream_position + v_count
             WHERE s.stream_id = p_stream_id
               AND s.partition = p_partition
               AND s.is_archived = FALSE
               AND (p_expected_version < 0 OR s.stream_position = p_expected_version)
            RETURNING s.stream_position - v_count INTO v_before;
            EXIT WHEN FOUND;
        END IF;
        -- A new stream. Of two appends creating it at once, the second waits
        -- for the first and then inserts nothing.
        IF p_expected_version IN (-1, -2, 0) THEN
            INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
            VALUES (p_stream_id, v_count, p_partition, p_stream_type, '{}', FALSE)
            ON CONFLICT DO NOTHING;
            IF FOUND THEN
                v_before := 0;
                v_created := TRUE;
                EXIT;
            END IF;
            -- Created meanwhile by another append: with any version, append
            -- to it after all.
            CONTINUE WHEN p_expected_version = -1 AND v_attempt < 10;
        END IF;
        -- A version conflict: nothing was written. This statement sees what
        -- committed meanwhile, so it reports the version that won.
        RETURN QUERY
            SELECT FALSE,
                   COALESCE((SELECT s.stream_position FROM emt_streams AS s
                              WHERE s.stream_id = p_stream_id
                                AND s.partition = p_partition
                                AND s.is_archived = FALSE), 0::bigint),
                   FALSE, NULL::xid8, NULL::bigint[], NULL::timestamptz;
        RETURN;
    END LOOP;

    v_tx := pg_current_xact_id();
    WITH inserted AS (
        INSERT INTO emt_messages (stream_id, stream_position, partition, message_data, message_metadata,
                                  message_schema_version, message_type, message_kind, message_id, transaction_id)
        SELECT p_stream_id, v_before + m.ord, p_partition, m.data, m.metadata, '1', m.type, 'E', m.id, v_tx
          FROM unnest(p_message_ids, p_message_types, p_messages_data, p_messages_metadata)
               WITH ORDINALITY AS m(id, type, data, metadata, ord)
        RETURNING emt_messages.global_position AS gp, emt_messages.stream_position AS sp
    )
    SELECT array_agg(i.gp ORDER BY i.sp) INTO v_positions FROM inserted AS i;

    IF p_notify THEN
        PERFORM pg_notify('emt_messages', p_partition);
    END IF;

    RETURN QUERY SELECT TRUE, v_before + v_count, v_created, v_tx, v_positions, now();
END;
$emt_go_append_to_stream$;
