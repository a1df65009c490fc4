package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveUI runs emmett ui on a free port until the test ends, and returns
// the console's URL.
func serveUI(t *testing.T, store, at string, uiFlags ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{store, at, "ui", "-addr", "127.0.0.1:0"}, uiFlags...), strings.NewReader(""), w, io.Discard)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "ui stops when interrupted")
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	m := regexp.MustCompile(`console on (http://\S+/) \((read-only|actions allowed)\)`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	return m[1]
}

func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func TestUI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ui.db")
	ok := okOn(t, "-sqlite", db)
	ok("append", "cart-1", "-type", "Opened", "-data", `{"by":"ann"}`)
	base := serveUI(t, "-sqlite", db)

	code, body := getPage(t, base+"streams")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "cart-1")
	code, body = getPage(t, base+"slots")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Replication slots are PostgreSQL")
	res, err := http.PostForm(base+"parked/discard", url.Values{"id": {"1"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "read-only")

	// With -allow-actions the discard is carried out: there is no parked
	// event 1 to discard.
	base = serveUI(t, "-sqlite", db, "-allow-actions")
	res, err = http.PostForm(base+"parked/discard", url.Values{"id": {"1"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestUIPostgres(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ok := okOn(t, "-postgres", dbURL)
	ok("append", "cart-1", "-type", "Opened", "-data", `{"by":"ann"}`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var database string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_database()`).Scan(&database))
	slot := replication.SlotName(database, "client_summary")
	_, err = conn.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot) })
	_, err = conn.Exec(ctx, `INSERT INTO emt_processors (processor_id, version, partition, status, last_processed_checkpoint, last_processed_transaction_id, processor_instance_id)
VALUES ('client_summary', 1, 'emt:default', 'stopped', '', '0', 'emt:unknown')`)
	require.NoError(t, err)
	ok("append", "cart-1", "-type", "Closed", "-data", `{}`) // WAL the slot retains

	base := serveUI(t, "-postgres", dbURL)
	code, body := getPage(t, base+"slots")
	require.Equal(t, http.StatusOK, code, body)
	assert.Regexp(t, `<th scope="row">`+slot+`</th><td>client_summary</td><td>no</td><td>reserved</td><td class="num">\d`, body)
	code, body = getPage(t, base+"streams")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "cart-1")
	code, body = getPage(t, base+"processors")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `<tr data-id="client_summary">`)
}
