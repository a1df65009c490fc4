-- Emmett for Go, migration 0004, on top of the Emmett for Node 0.42 schema.
-- Never edit this file once released: its hash is recorded in dmb_migrations.

-- A parked event keeps the schema version it was stored at
-- (message_schema_version), so that a retry decodes it through the
-- registry's upcasters as its first delivery did.
ALTER TABLE emt_parked_messages ADD COLUMN IF NOT EXISTS message_schema_version TEXT NOT NULL DEFAULT '1';
