package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPartitions(t *testing.T) {
	t.Parallel()
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()

	parts, err := s.Partitions(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"emt:default"}, parts)

	require.NoError(t, s.AddPartition(ctx, "tenant:acme"))
	require.NoError(t, s.AddPartition(ctx, "tenant:acme"), "adding a partition again does nothing")
	require.NoError(t, s.AddPartition(ctx, "it's"))
	parts, err = s.Partitions(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"emt:default", "it's", "tenant:acme"}, parts)

	// Node's naming: the sanitised name, _active and _archived.
	var tables []string
	rows, err := admin.Query(ctx, `SELECT relname::text FROM pg_class WHERE relname LIKE 'emt_%tenant_acme%' AND relkind IN ('r', 'p') ORDER BY 1`)
	require.NoError(t, err)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{
		"emt_messages_tenant_acme", "emt_messages_tenant_acme_active", "emt_messages_tenant_acme_archived",
		"emt_processors_tenant_acme", "emt_projections_tenant_acme",
		"emt_streams_tenant_acme", "emt_streams_tenant_acme_active", "emt_streams_tenant_acme_archived",
	}, tables)

	err = s.AddPartition(ctx, "tenant_acme")
	assert.ErrorIs(t, err, postgres.ErrInvalidPartition, "a name whose tables another partition has")
	assert.ErrorIs(t, s.AddPartition(ctx, strings.Repeat("x", postgres.MaxPartitionNameLength+1)), postgres.ErrInvalidPartition)
	assert.ErrorIs(t, s.AddPartition(ctx, ""), postgres.ErrInvalidPartition)
	require.NoError(t, s.AddPartition(ctx, strings.Repeat("y", postgres.MaxPartitionNameLength)))

	res, err := s.AppendToStream(ctx, "order-1", oneEvent("Placed"), eventstore.InPartition("tenant:acme"))
	require.NoError(t, err)
	var partition string
	require.NoError(t, admin.QueryRow(ctx, "SELECT tableoid::regclass::text FROM emt_messages WHERE message_id = $1", res.Events[0].MessageID).Scan(&partition))
	assert.Equal(t, "emt_messages_tenant_acme_active", partition)

	t.Run("Missing", func(t *testing.T) {
		_, err := s.AppendToStream(ctx, "order-1", oneEvent("Placed"), eventstore.InPartition("tenant:none"))
		require.ErrorIs(t, err, postgres.ErrPartitionNotFound)
		assert.Contains(t, err.Error(), "AddPartition")
		parts, err := s.Partitions(ctx)
		require.NoError(t, err)
		assert.NotContains(t, parts, "tenant:none")
	})
	t.Run("AutoCreate", func(t *testing.T) {
		auto, err := postgres.Open(ctx, db, postgres.WithAutoCreatePartitions())
		require.NoError(t, err)
		defer func() { _ = auto.Close() }()
		res, err := auto.AppendToStream(ctx, "order-1", oneEvent("Placed"), eventstore.InPartition("tenant:new"))
		require.NoError(t, err)
		assert.Equal(t, int64(1), res.NextExpectedVersion)
		parts, err := s.Partitions(ctx)
		require.NoError(t, err)
		assert.Contains(t, parts, "tenant:new")
	})
}

func TestArchiveStream(t *testing.T) {
	t.Parallel()
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()
	first, err := s.AppendToStream(ctx, "cart-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}, {Type: "B", Data: []byte(`{}`)}})
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "cart-2", oneEvent("Other"))
	require.NoError(t, err)

	require.NoError(t, s.ArchiveStream(ctx, "cart-1"))

	assert.Empty(t, collect(t, s.ReadStream(ctx, "cart-1")), "an archived stream is out of stream reads")
	requireVersion(t, s, "cart-1", 0)
	for _, e := range collect(t, s.ReadAll(ctx, eventstore.Position{})) {
		assert.NotEqual(t, "cart-1", e.StreamName, "and out of read all")
	}
	var archived int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM emt_messages_emt_default_archived WHERE stream_id = 'cart-1' AND global_position = ANY($1)`,
		[]int64{first.Events[0].GlobalPosition, first.Events[1].GlobalPosition}).Scan(&archived))
	assert.Equal(t, 2, archived, "its events are kept in the archived sub-partition, with their positions")
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM emt_streams_emt_default_archived WHERE stream_id = 'cart-1'`).Scan(&archived))
	assert.Equal(t, 1, archived)

	res, err := s.AppendToStream(ctx, "cart-1", oneEvent("Again"), eventstore.ExpectNoStream())
	require.NoError(t, err, "the name starts a new stream")
	assert.True(t, res.Created)
	assert.Equal(t, int64(1), res.NextExpectedVersion)

	err = s.ArchiveStream(ctx, "cart-1")
	require.Error(t, err, "Node's schema keeps one archived copy per name")
	assert.Contains(t, err.Error(), "archived already")
	err = s.ArchiveStream(ctx, "cart-404")
	assert.ErrorIs(t, err, eventstore.ErrStreamNotFound)
}

func TestBeforeCommitHook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var fail bool
	hook := func(ctx context.Context, tx pgx.Tx, partition string, res eventstore.AppendResult) error {
		if fail {
			return errors.New("read model refused")
		}
		for _, e := range res.Events {
			if _, err := tx.Exec(ctx, "INSERT INTO read_model (message_id, stream, position, partition) VALUES ($1, $2, $3, $4)",
				e.MessageID, e.StreamName, e.StreamPosition, partition); err != nil {
				return err
			}
		}
		return nil
	}
	s, db := openStore(t, postgres.WithBeforeCommit(hook))
	admin := adminPool(t, db)
	_, err := admin.Exec(ctx, "CREATE TABLE read_model (message_id text PRIMARY KEY, stream text, position bigint, partition text)")
	require.NoError(t, err)
	count := func() (n int) {
		require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM read_model").Scan(&n))
		return n
	}

	res, err := s.AppendToStream(ctx, "hooked-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}, {Type: "B", Data: []byte(`{}`)}})
	require.NoError(t, err)
	assert.Equal(t, 2, count(), "the hook ran in the append's transaction")
	var position int64
	require.NoError(t, admin.QueryRow(ctx, "SELECT position FROM read_model WHERE message_id = $1", res.Events[1].MessageID).Scan(&position))
	assert.Equal(t, int64(2), position)

	_, err = s.AppendToStream(ctx, "hooked-1", oneEvent("C"), eventstore.ExpectVersion(1))
	require.ErrorIs(t, err, eventstore.ErrVersionConflict, "a conflict is a conflict with hooks too")

	fail = true
	_, err = s.AppendToStream(ctx, "hooked-1", oneEvent("C"))
	require.ErrorContains(t, err, "read model refused")
	assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown)
	requireVersion(t, s, "hooked-1", 2)
	assert.Equal(t, 2, count(), "a failing hook rolls the append back")
}

func TestAppendToStreamTx(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()

	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	res, err := s.AppendToStreamTx(ctx, tx, "tx-1", oneEvent("A"), eventstore.ExpectNoStream())
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.NextExpectedVersion)
	_, err = s.AppendToStreamTx(ctx, tx, "tx-1", oneEvent("B"), eventstore.ExpectVersion(5))
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	_, err = s.AppendToStreamTx(ctx, tx, "tx-1", oneEvent("B"), eventstore.ExpectVersion(1))
	require.NoError(t, err, "a conflict leaves the transaction usable")
	requireVersion(t, s, "tx-1", 0) // not committed yet
	require.NoError(t, tx.Rollback(ctx))
	requireVersion(t, s, "tx-1", 0)

	tx, err = s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = s.AppendToStreamTx(ctx, tx, "tx-1", oneEvent("A"), eventstore.ExpectNoStream())
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	requireVersion(t, s, "tx-1", 1)
}

func TestReadAllWaitsForOpenTransactions(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()

	// An unrelated transaction holds an id: events committed after it
	// began are not safe to read until it ends.
	open, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = open.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)
	res, err := s.AppendToStream(ctx, "late-1", oneEvent("A"))
	require.NoError(t, err)

	impatient, err := postgres.Open(ctx, db, postgres.WithReadAllWait(0))
	require.NoError(t, err)
	defer impatient.Close()
	assert.Empty(t, collect(t, impatient.ReadAll(ctx, eventstore.Position{})), "not yet safe to read")

	go func() { // ends while ReadAll waits
		<-time.After(100 * time.Millisecond)
		_ = open.Rollback(ctx)
	}()
	all := collect(t, s.ReadAll(ctx, eventstore.Position{}))
	require.Len(t, all, 1, "ReadAll waited for the open transaction")
	assert.Equal(t, res.Events[0].MessageID, all[0].MessageID)
}

func TestReadInPages(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, postgres.WithPageSize(100))
	ctx := context.Background()
	batch := make([]eventstore.EventData, 250)
	for i := range batch {
		batch[i] = eventstore.EventData{Type: "Paged", Data: []byte(`{}`)}
	}
	_, err := s.AppendToStream(ctx, "paged-1", batch)
	require.NoError(t, err)

	for _, c := range []struct {
		name string
		opts []eventstore.ReadOption
		want []int64 // first and last position
		n    int
	}{
		{"All", nil, []int64{1, 250}, 250},
		{"PageBoundary", []eventstore.ReadOption{eventstore.MaxCount(200)}, []int64{1, 200}, 200},
		{"Range", []eventstore.ReadOption{eventstore.FromVersion(50), eventstore.ToVersion(201)}, []int64{50, 201}, 152},
		{"MaxCount", []eventstore.ReadOption{eventstore.FromVersion(99), eventstore.MaxCount(103)}, []int64{99, 201}, 103},
	} {
		t.Run(c.name, func(t *testing.T) {
			events := collect(t, s.ReadStream(ctx, "paged-1", c.opts...))
			require.Len(t, events, c.n)
			for i, e := range events {
				require.Equal(t, c.want[0]+int64(i), e.StreamPosition)
			}
			assert.Equal(t, c.want[1], events[len(events)-1].StreamPosition)
		})
	}
	t.Run("StopEarly", func(t *testing.T) {
		n := 0
		for _, err := range s.ReadStream(ctx, "paged-1") {
			require.NoError(t, err)
			if n++; n == 150 {
				break
			}
		}
		assert.Equal(t, 150, n)
	})
	t.Run("ReadAll", func(t *testing.T) {
		assert.Len(t, collect(t, s.ReadAll(ctx, eventstore.Position{})), 250)
		assert.Len(t, collect(t, s.ReadAll(ctx, eventstore.Position{}, eventstore.MaxCount(120))), 120)
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		n := 0
		for _, err = range s.ReadStream(ctx, "paged-1") {
			if err != nil {
				break
			}
			if n++; n == 120 {
				cancel()
			}
		}
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// TestAppendWhileArchiving: an append that waits on a stream being archived
// finds it gone when the archive commits (PostgreSQL reports a
// serialization failure, as the row moved to the archived partition): with
// any version it starts the stream anew, with an exact one it is a conflict.
func TestAppendWhileArchiving(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()
	for _, c := range []struct {
		stream   string
		expected eventstore.ExpectedVersion
	}{
		{"archiving-any", eventstore.ExpectAny()},
		{"archiving-exact", eventstore.ExpectVersion(1)},
	} {
		t.Run(c.stream, func(t *testing.T) {
			_, err := s.AppendToStream(ctx, c.stream, oneEvent("First"))
			require.NoError(t, err)
			tx, err := admin.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, "UPDATE emt_streams SET is_archived = TRUE WHERE stream_id = $1", c.stream)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, "UPDATE emt_messages SET is_archived = TRUE WHERE stream_id = $1", c.stream)
			require.NoError(t, err)

			type outcome struct {
				res eventstore.AppendResult
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := s.AppendToStream(ctx, c.stream, oneEvent("Second"), c.expected)
				done <- outcome{res, err}
			}()
			backendWaiting(t, admin, "Lock")
			require.NoError(t, tx.Commit(ctx))
			o := <-done
			if c.expected.IsAny() {
				require.NoError(t, o.err)
				assert.True(t, o.res.Created, "a new stream")
				assert.Equal(t, int64(1), o.res.NextExpectedVersion)
				return
			}
			var conflict *eventstore.VersionConflictError
			require.ErrorAs(t, o.err, &conflict)
			assert.Equal(t, int64(0), conflict.Actual)
		})
	}
}
