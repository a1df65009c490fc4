-- Emmett for Go, migration 0003, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- The events processors park (projection.ParkOnFailure): a copy of the
-- event, the processor's id, the last error, the attempts that failed, the
-- times of the first and last failures, and when a retry was asked for.
-- Rows are written in the transaction that moves the processor's
-- checkpoint past the event (emt_processors), and removed in the one that
-- applies it on a retry. A table of Emmett for Go's own: Node's tables
-- stay as Node made them.
CREATE TABLE IF NOT EXISTS emt_parked_messages (
    id                 BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    processor_id       TEXT        NOT NULL,
    message_id         TEXT        NOT NULL,
    stream_id          TEXT        NOT NULL,
    stream_position    BIGINT      NOT NULL,
    global_position    BIGINT      NOT NULL,
    transaction_id     XID8        NOT NULL,
    message_type       TEXT        NOT NULL,
    message_data       JSONB       NOT NULL,
    message_metadata   JSONB       NOT NULL DEFAULT '{}',
    created            TIMESTAMPTZ NOT NULL,
    error              TEXT        NOT NULL,
    attempts           INTEGER     NOT NULL,
    first_failed_at    TIMESTAMPTZ NOT NULL,
    last_failed_at     TIMESTAMPTZ NOT NULL,
    retry_requested_at TIMESTAMPTZ,
    UNIQUE (processor_id, message_id)
);
