package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type (
	noteEvent interface{ isNoteEvent() }
	noted     struct {
		Text string `json:"text"`
	}
	noteDoc struct {
		Texts []string `json:"texts"`
	}
)

func (noted) isNoteEvent() {}

var noteEvents = emmett.NewEvents[noteEvent](noted{})

var notes = projection.SingleStream("replica_notes", noteEvents, func(d *noteDoc, e emmett.Recorded[noteEvent]) *noteDoc {
	if d == nil {
		d = &noteDoc{}
	}
	d.Texts = append(d.Texts, e.Event.(noted).Text)
	return d
})

func note(t *testing.T, text string) []eventstore.EventData {
	t.Helper()
	data, err := eventstore.Encode(noteEvents, []noteEvent{noted{Text: text}}, emmett.Metadata{})
	require.NoError(t, err)
	return data
}

// readTexts reads a stream's texts through store, with ctx.
func readTexts(ctx context.Context, store eventstore.StreamReader, stream string) ([]string, error) {
	var out []string
	for e, err := range store.ReadStream(ctx, stream) {
		if err != nil {
			return out, err
		}
		var n noted
		if err := json.Unmarshal(e.Data, &n); err != nil {
			return out, err
		}
		out = append(out, n.Text)
	}
	return out, nil
}

// startReplica starts a primary and a hot standby of its own (pg_basebackup
// -R), and opens stores on the database "replica" of each.
func startReplica(t testing.TB, ctx context.Context, opts ...postgres.Option) (primarySrv, standbySrv *pgtest.Server, primary, standby *postgres.Store) {
	t.Helper()
	// Commits flushed at once: with synchronous_commit off (pgtest's
	// default), WAL reaches the standby only when the WAL writer flushes
	// it, up to 3 × wal_writer_delay (200 ms) later.
	primarySrv = pgtest.NewServer(t, pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	standbySrv, err := primarySrv.StartStandby(pgtest.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = standbySrv.Close() })
	require.NoError(t, primarySrv.CreateDatabase(ctx, "replica"))
	primary, err = postgres.Open(ctx, primarySrv.URL("replica"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = primary.Close() })
	require.NoError(t, standbySrv.WaitReplayed(ctx, primarySrv))
	standby, err = postgres.Open(ctx, standbySrv.URL("replica"), postgres.WithoutMigration(), postgres.WithReadAllWait(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = standby.Close() })
	return primarySrv, standbySrv, primary, standby
}

// A primary and a hot standby of its own (pg_basebackup -R): appends on
// the primary, reads on the standby that carry the append's position see
// it; with the standby's replay paused, such reads fall back to the
// primary, or fail with ErrReplicaBehind, as configured.
func TestReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, standbySrv, primary, standby := startReplica(t, ctx, postgres.WithProjections(notes))
	admin, err := pgx.Connect(ctx, standbySrv.URL("replica"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })

	const wait = 300 * time.Millisecond
	replica := postgres.NewReplica(primary, standby, postgres.WithReplicaWait(wait)) // falls back to the primary
	strict := postgres.NewReplica(primary, standby, postgres.WithReplicaWait(wait), postgres.WithoutPrimaryFallback())

	t.Run("read your writes", func(t *testing.T) {
		for i := range 20 {
			stream := fmt.Sprintf("note-ryw%d", i)
			res, err := replica.AppendToStream(ctx, stream, note(t, "hello"))
			require.NoError(t, err)
			rctx := eventstore.WithMinPosition(ctx, res.Position)
			require.NoError(t, strict.WaitFor(rctx, res.Position))
			texts, err := readTexts(rctx, strict, stream)
			require.NoError(t, err)
			assert.Equal(t, []string{"hello"}, texts, "read on the standby")
			doc, found, err := notes.Collection(strict.Documents()).Get(rctx, stream)
			require.NoError(t, err)
			require.True(t, found, "the inline projection's document, on the standby")
			assert.Equal(t, []string{"hello"}, doc.Texts)
			v, exists, err := strict.StreamVersion(rctx, stream)
			require.NoError(t, err)
			assert.True(t, exists)
			assert.Equal(t, int64(1), v)
		}
		// A bare global position ("42", as clients send it) is resolved on
		// the primary.
		res, err := replica.AppendToStream(ctx, "note-bare", note(t, "bare"))
		require.NoError(t, err)
		bare, err := eventstore.ParsePosition(strconv.FormatInt(res.Position.GlobalPosition, 10))
		require.NoError(t, err)
		texts, err := readTexts(eventstore.WithMinPosition(ctx, bare), strict, "note-bare")
		require.NoError(t, err)
		assert.Equal(t, []string{"bare"}, texts)
		// The log, on the standby.
		n := 0
		for _, err := range strict.ReadAll(eventstore.WithMinPosition(ctx, res.Position), eventstore.Position{}) {
			require.NoError(t, err)
			n++
		}
		assert.Equal(t, 21, n)
	})

	// Pause the standby's replay: it keeps receiving WAL, and applies none.
	_, err = admin.Exec(ctx, "SELECT pg_wal_replay_pause()")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var state string
		return admin.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state) == nil && state == "paused"
	}, 30*time.Second, 10*time.Millisecond)
	paused, err := replica.AppendToStream(ctx, "note-paused", note(t, "while paused"))
	require.NoError(t, err)
	pctx := eventstore.WithMinPosition(ctx, paused.Position)

	t.Run("paused: falls back to the primary", func(t *testing.T) {
		fallback := replica
		texts, err := readTexts(ctx, fallback, "note-paused")
		require.NoError(t, err)
		assert.Empty(t, texts, "without a position, the standby is read as it is")
		start := time.Now()
		texts, err = readTexts(pctx, fallback, "note-paused")
		require.NoError(t, err)
		assert.Equal(t, []string{"while paused"}, texts, "read on the primary")
		assert.GreaterOrEqual(t, time.Since(start), wait, "after waiting for the standby")
		doc, found, err := notes.Collection(fallback.Documents()).Get(pctx, "note-paused")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []string{"while paused"}, doc.Texts)
	})

	t.Run("paused: times out", func(t *testing.T) {
		_, err := readTexts(pctx, strict, "note-paused")
		require.ErrorIs(t, err, postgres.ErrReplicaBehind)
		assert.ErrorIs(t, err, eventstore.ErrUnavailable)
		_, _, err = notes.Collection(strict.Documents()).Get(pctx, "note-paused")
		assert.ErrorIs(t, err, postgres.ErrReplicaBehind)
		_, _, err = strict.StreamVersion(pctx, "note-paused")
		assert.ErrorIs(t, err, postgres.ErrReplicaBehind)
		assert.ErrorIs(t, strict.WaitFor(ctx, paused.Position), postgres.ErrReplicaBehind)
		sync, err := strict.Sync(ctx)
		require.NoError(t, err)
		assert.ErrorIs(t, strict.WaitFor(ctx, sync), postgres.ErrReplicaBehind, "an LSN past the paused replay")
	})

	t.Run("paused: the HTTP event feed", func(t *testing.T) {
		get := func(r *postgres.Replica, position string) *httptest.ResponseRecorder {
			h := httpapi.ReadYourWrites(httpapi.NewStreams(r))
			req := httptest.NewRequest(http.MethodGet, "/streams/note-paused", nil)
			if position != "" {
				req.Header.Set(httpapi.MinPositionHeader, position)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}
		var page httpapi.StreamPage
		w := get(replica, "")
		assert.Equal(t, http.StatusNotFound, w.Code, "the standby, behind, has no such stream yet: %s", w.Body.String())
		w = get(replica, paused.Position.String())
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
		assert.Len(t, page.Events, 1, "the primary, after the wait")
		w = get(strict, paused.Position.String())
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	})

	_, err = admin.Exec(ctx, "SELECT pg_wal_replay_resume()")
	require.NoError(t, err)

	t.Run("resumed: the standby catches up", func(t *testing.T) {
		texts, err := readTexts(pctx, strict, "note-paused")
		require.NoError(t, err)
		assert.Equal(t, []string{"while paused"}, texts)
		// A document written on the primary (as a processor does), read
		// on the standby after Sync's position.
		require.NoError(t, notes.Collection(replica.Documents()).Put(ctx, "written", noteDoc{Texts: []string{"direct"}}))
		sync, err := replica.Sync(ctx)
		require.NoError(t, err)
		assert.NotZero(t, sync.LSN)
		doc, found, err := notes.Collection(strict.Documents()).Get(eventstore.WithMinPosition(ctx, sync), "written")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []string{"direct"}, doc.Texts)
		var inRecovery bool
		require.NoError(t, admin.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery))
		assert.True(t, inRecovery, "the reads were the standby's")
	})

	t.Run("standby down", func(t *testing.T) {
		res, err := replica.AppendToStream(ctx, "note-down", note(t, "while down"))
		require.NoError(t, err)
		require.NoError(t, standbySrv.Stop())
		dctx := eventstore.WithMinPosition(ctx, res.Position)
		texts, err := readTexts(dctx, replica, "note-down")
		require.NoError(t, err)
		assert.Equal(t, []string{"while down"}, texts, "read on the primary")
		_, err = readTexts(dctx, strict, "note-down")
		assert.ErrorIs(t, err, eventstore.ErrUnavailable)
		_, err = readTexts(ctx, replica, "note-down")
		assert.ErrorIs(t, err, eventstore.ErrUnavailable, "without a position, the standby's error")
	})
}

// An insert position just past a page's header is the end of the record
// before the header.
func TestRecordEnd(t *testing.T) {
	const page, segment = 8192, 16 << 20
	for lsn, want := range map[uint64]uint64{
		3*segment + 40:          3 * segment,
		3*segment + 5*page + 24: 3*segment + 5*page,
		3*segment + 5*page + 40: 3*segment + 5*page + 40, // a record can end there
		3*segment + 5*page + 96: 3*segment + 5*page + 96,
		3*segment + 5*page:      3*segment + 5*page,
	} {
		assert.Equal(t, want, postgres.RecordEnd(lsn, page, segment), "%X", lsn)
	}
}

// BenchmarkReplicaReadYourWrites: an append on the primary, then a read of
// its stream that carries the append's position, from the primary or from
// the standby (waiting until it has replayed the append; never falling
// back). The difference is the replication lag a reader of its own writes
// waits for.
func BenchmarkReplicaReadYourWrites(b *testing.B) {
	ctx := context.Background()
	_, _, primary, standby := startReplica(b, ctx)
	replica := postgres.NewReplica(primary, standby, postgres.WithReplicaWait(10*time.Second), postgres.WithoutPrimaryFallback())
	data, err := eventstore.Encode(noteEvents, []noteEvent{noted{Text: "hello"}}, emmett.Metadata{})
	require.NoError(b, err)
	runs := 0 // each run of a benchmark writes streams of its own
	for _, from := range []string{"primary", "standby"} {
		b.Run("read="+from, func(b *testing.B) {
			runs++
			var reader eventstore.StreamReader = primary
			if from == "standby" {
				reader = replica
			}
			for i := 0; b.Loop(); i++ {
				stream := fmt.Sprintf("note-%s%d-%d", from, runs, i)
				res, err := replica.AppendToStream(ctx, stream, data)
				if err != nil {
					b.Fatal(err)
				}
				texts, err := readTexts(eventstore.WithMinPosition(ctx, res.Position), reader, stream)
				if err != nil || len(texts) != 1 {
					b.Fatal(texts, err)
				}
			}
		})
	}
}
