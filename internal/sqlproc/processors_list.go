package sqlproc

// ListProcessorsSQL reads every processor's row of emt_processors (the
// same columns on SQLite and PostgreSQL), for projection.ProcessorLister.
const ListProcessorsSQL = `SELECT processor_id, partition, status, last_processed_checkpoint, processor_instance_id, last_updated
FROM emt_processors ORDER BY processor_id, partition, version`
