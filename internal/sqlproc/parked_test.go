package sqlproc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParkedSQLPlaceholders(t *testing.T) {
	pg := NewParkedEvents(Store{Backend: "postgres", Dollar: true})
	assert.Equal(t, "DELETE FROM emt_parked_messages WHERE processor_id = $1 AND id = $2", pg.st.sql(unparkSQL))
	lite := NewParkedEvents(Store{Backend: "sqlite"})
	assert.Equal(t, unparkSQL, lite.st.sql(unparkSQL), "SQLite takes ? as it is")
}

func TestParkedWhere(t *testing.T) {
	for _, c := range []struct {
		processor string
		id        int64
		cond      string
		args      []any
	}{
		{"", 0, "", nil},
		{"p", 0, " WHERE processor_id = ?", []any{"p"}},
		{"", 7, " WHERE id = ?", []any{int64(7)}},
		{"p", 7, " WHERE processor_id = ? AND id = ?", []any{"p", int64(7)}},
	} {
		cond, args := where(c.processor, c.id)
		assert.Equal(t, c.cond, cond)
		assert.Equal(t, c.args, args)
	}
}

func TestTextTimeScans(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	parse := func(s string) (time.Time, error) { return time.Parse("2006-01-02 15:04:05.000000", s) }
	for _, src := range []any{"2026-01-02 03:04:05.000006", []byte("2026-01-02 03:04:05.000006"), at.In(time.FixedZone("x", 3600))} {
		var got time.Time
		require.NoError(t, textTime{&got, parse}.Scan(src), "%T", src)
		assert.True(t, at.Equal(got), "%T: %v", src, got)
		assert.Equal(t, time.UTC, got.Location())
	}
	var got time.Time
	assert.Error(t, textTime{&got, parse}.Scan(42))
	assert.Error(t, textTime{&got, parse}.Scan("yesterday"))
}
