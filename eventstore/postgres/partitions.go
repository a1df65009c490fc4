package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5"
)

// MaxPartitionNameLength is the longest partition name, in bytes, that
// AddPartition accepts: the longest for which every table named after it
// (emt_messages_<name>_archived and the like) fits PostgreSQL's 63-byte
// identifiers, which would otherwise be cut short and collide.
const MaxPartitionNameLength = 63 - len("emt_messages__archived")

func validatePartition(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case strings.IndexByte(name, 0) >= 0:
		reason = "contains a NUL byte"
	}
	if reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidPartition, name, reason)
	}
	return nil
}

var unsafeTableChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitizeName is emt_sanitize_name: the table name part made of a
// partition name.
func sanitizeName(name string) string { return unsafeTableChars.ReplaceAllString(name, "_") }

// AddPartition creates a partition (a tenant or a module) if it does not
// exist, with Emmett for Node's emt_add_partition: emt_messages_<name> and
// emt_streams_<name>, each split into _active and _archived, and
// emt_processors_<name> and emt_projections_<name>, where <name> is the
// partition name with every character but ASCII letters, digits and '_'
// replaced by '_'.
//
// Two partition names that differ only in such characters ("a:b" and "a_b")
// would share tables; AddPartition refuses the second with an error matching
// ErrInvalidPartition, as it does a name longer than MaxPartitionNameLength.
//
// Creating a partition is DDL: it briefly locks the tables against appends.
func (s *Store) AddPartition(ctx context.Context, name string) error {
	if err := validatePartition(name); err != nil {
		return err
	}
	if len(name) > MaxPartitionNameLength {
		return fmt.Errorf("%w %q: %d bytes long, the limit is %d", ErrInvalidPartition, name, len(name), MaxPartitionNameLength)
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One creator of a set of tables at a time.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('emt_partition:' || emt_sanitize_name($1), 0))", name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT emt_add_partition($1)", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: adding partition %q: %w", name, err)
	}
	partitions, err := s.Partitions(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(partitions, name) {
		return fmt.Errorf("%w %q: its tables (emt_messages_%s, …) belong to another partition", ErrInvalidPartition, name, sanitizeName(name))
	}
	return nil
}

// Partitions lists the partitions of the store (those of emt_messages), in
// name order.
func (s *Store) Partitions(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = 'emt_messages'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing partitions: %w", err)
	}
	bounds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: listing partitions: %w", err)
	}
	var out []string
	for _, b := range bounds {
		out = append(out, partitionValues(b)...)
	}
	slices.Sort(out)
	return out, nil
}

// partitionValues reads the values of a list partition's bound:
//
//	FOR VALUES IN ('emt:default', 'it''s')
//
// gives emt:default and it's.
func partitionValues(bound string) []string {
	_, list, ok := strings.Cut(bound, "IN (")
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < len(list); i++ {
		if list[i] != '\'' {
			continue
		}
		var b strings.Builder
		for i++; i < len(list); i++ {
			if list[i] == '\'' {
				if i+1 < len(list) && list[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(list[i])
		}
		out = append(out, b.String())
	}
	return out
}

// ArchiveStream moves a stream's events and its row in emt_streams to the
// archived sub-partitions (is_archived = true): from then on reads, versions
// and ReadAll do not see it, and an append to the same name starts a new
// stream. The partition is the one InPartition gives (the default one
// otherwise). A stream that does not exist gives an error matching
// eventstore.ErrStreamNotFound.
//
// Emmett for Node's schema keeps one archived copy per stream name: a stream
// archived, created again and archived again gives an error.
func (s *Store) ArchiveStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) error {
	o := backend.ResolveRead(opts...)
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return err
	}
	if err := validatePartition(o.Partition); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The stream row first: it locks out appends, which queue on it.
		tag, err := tx.Exec(ctx, `UPDATE emt_streams SET is_archived = TRUE
WHERE stream_id = $1 AND partition = $2 AND is_archived = FALSE`, stream, o.Partition)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return eventstore.ErrStreamNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE emt_messages SET is_archived = TRUE
WHERE stream_id = $1 AND partition = $2 AND is_archived = FALSE`, stream, o.Partition)
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return fmt.Errorf("postgres: archiving stream %q in partition %q: %w", stream, o.Partition, err)
	case pgError(err) != nil && pgError(err).Code == codeUniqueViolation:
		return fmt.Errorf("postgres: archiving stream %q in partition %q: a stream of that name is archived already: %w", stream, o.Partition, err)
	}
	return fmt.Errorf("postgres: archiving stream %q in partition %q: %w", stream, o.Partition, err)
}
