-- dumbo migration name: dumbo:migrationTable:001
-- rendered verbatim from @event-driven-io/emmett-postgresql@0.42.0 (dumbo 0.12.7) via combineMigrations(); exactly the text that is executed and hashed

  CREATE TABLE IF NOT EXISTS dmb_migrations (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    application VARCHAR(255) NOT NULL DEFAULT 'default',
    sql_hash VARCHAR(64) NOT NULL,
    timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
  );

