package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/console"
	events "github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5/pgxpool"
)

type tool struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	sqlitePath, postgresURL string

	// upgrade and schema are the application's registries, when the tool
	// is built with them (WithUpgrade, WithSchema).
	upgrade events.UpgradeFunc
	schema  *events.Schema
	// console are the options of emmett ui's console (WithConsole).
	console []console.Option
}

// store is what the commands need of either backend.
type store interface {
	eventstore.Store
	backend.Log
	Processors() projection.CheckpointStore
	Source(opts ...projection.PollOption) projection.Source
	Close() error
}

const usage = `usage: emmett [-sqlite PATH | -postgres URL] COMMAND [ARGUMENTS]

commands:
  migrate                          create or upgrade Emmett's schema
  read STREAM [-from N] [-limit N] [-partition P] [-raw]
                                   print a stream's events as JSON lines: in the current form of
                                   their types in a tool built with the application's registries
                                   (package cli), as stored with -raw or without them
  version STREAM [-partition P]    print a stream's version (0 when it does not exist)
  append STREAM -type T [-data JSON] [-expect V|any|no_stream|stream_exists] [-partition P]
                                   append one event; its data from stdin without -data
  tail [-after POSITION] [-limit N] [-follow] [-raw]
                                   print the global log; -follow goes on with new events
  processors                       list processors and their checkpoints
  parked [PROCESSOR] [-retry ID|all [-wait D]] [-discard ID] [-json]
                                   list the events processors parked (every processor's without
                                   PROCESSOR); -retry asks the instance running the processor to
                                   retry one or all, -discard drops one
  projections [NAME] [-json]       list the recorded versions of projections (of NAME only with it):
                                   status (active, building, inactive), processor and checkpoint
  projections NAME -drop-version N [-wait D]
                                   drop version N of NAME (not the active one): its collections,
                                   checkpoint, parked events and record; waits at most D (30s) for
                                   an instance still running it to stop
  projections NAME -activate N [-wait D]
                                   make the retired version N of NAME the active one again
  catch-up PROCESSOR [-until POSITION] [-replication] [-timeout D]
        [-wasm MODULE [-collection C] [-on-failure stop|skip|park] [-batch N]
         [-start-after POSITION | -start-time TIME | -start-end]]
                                   with -wasm, run the Wasm module's projection as PROCESSOR until it
                                   has processed the log as it is now (or up to -until), then stop;
                                   without, wait for the instance running PROCESSOR to get there
  check [-schema FILE] [-every N]  check that every stored event (one in N) is of a type and schema
                                   version the registry of FILE reads (the JSON of an application's
                                   emmett.Events.Schema()), or the registries the tool was built with;
                                   fails listing the others
  slot PROCESSOR [-drop]           show (or drop) a processor's replication slot (PostgreSQL)
  ui [-addr HOST:PORT] [-group G]... [-allow-actions]
                                   serve the operations console (package console) on 127.0.0.1:8089:
                                   streams, the live log, processors and their lag, replication slots,
                                   parked events, projection versions; read-only unless -allow-actions
                                   (which lets whoever reaches it act: keep it on a local address)
  publication [-name P] [-drop]    show (or drop) the replication feed's publication (PostgreSQL);
                                   it is dropped only once no pgoutput slot of the database remains

The store is the SQLite file of -sqlite (or EMMETT_SQLITE_PATH), or the
PostgreSQL database of -postgres (or EMMETT_POSTGRES_URL). migrate and
append create a SQLite file that does not exist; the other commands refuse it.
`

func (t *tool) main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("emmett", flag.ContinueOnError)
	fs.SetOutput(t.stderr)
	fs.Usage = func() { fmt.Fprint(t.stderr, usage) }
	fs.StringVar(&t.sqlitePath, "sqlite", os.Getenv("EMMETT_SQLITE_PATH"), "SQLite database file")
	fs.StringVar(&t.postgresURL, "postgres", os.Getenv("EMMETT_POSTGRES_URL"), "PostgreSQL connection string")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError(err.Error())
	}
	if fs.NArg() == 0 {
		return usageError("no command")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	commands := map[string]func(context.Context, []string) error{
		"migrate":     t.migrate,
		"read":        t.read,
		"version":     t.version,
		"append":      t.append,
		"tail":        t.tail,
		"processors":  t.processors,
		"parked":      t.parked,
		"projections": t.projections,
		"catch-up":    t.catchUp,
		"check":       t.check,
		"slot":        t.slot,
		"publication": t.publication,
		"ui":          t.ui,
	}
	f, ok := commands[cmd]
	if !ok {
		return usageError(fmt.Sprintf("unknown command %q", cmd))
	}
	return f(ctx, rest)
}

// open opens the store. A command that only reads passes create false: a
// SQLite file that does not exist is then refused, rather than created
// empty (a mistyped path would otherwise print nothing and leave a new
// file behind). migrate and append create it.
func (t *tool) open(ctx context.Context, create bool) (store, error) {
	switch {
	case t.postgresURL != "" && t.sqlitePath != "":
		return nil, usageError("give -sqlite or -postgres, not both")
	case t.postgresURL != "":
		return postgres.Open(ctx, t.postgresURL)
	case t.sqlitePath != "":
		if !create {
			if err := sqliteExists(t.sqlitePath); err != nil {
				return nil, err
			}
		}
		return sqlite.Open(ctx, t.sqlitePath)
	}
	return nil, usageError("no store: give -sqlite PATH or -postgres URL")
}

// sqliteExists returns an error naming path when it is a SQLite database
// file (a file name, or a "file:" URI) that does not exist. An in-memory
// database always exists.
func sqliteExists(path string) error {
	name, ok := sqliteFile(path)
	if !ok {
		return nil
	}
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no SQLite database at %s (emmett -sqlite %s migrate creates one)", path, path)
	}
	return nil // another error is Open's to report
}

// sqliteFile returns the file a -sqlite path names, and false for an
// in-memory database: a file name up to its driver parameters ('?'), or
// the path of a "file:" URI after its authority, before its query, with
// percent-escapes decoded (https://www.sqlite.org/uri.html).
func sqliteFile(path string) (string, bool) {
	name, _, _ := strings.Cut(path, "?")
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		rest, query, _ := strings.Cut(rest, "?")
		rest, _, _ = strings.Cut(rest, "#")
		if auth, ok := strings.CutPrefix(rest, "//"); ok {
			rest = ""
			if i := strings.IndexByte(auth, '/'); i >= 0 {
				rest = auth[i:]
			}
		}
		for _, kv := range strings.Split(query, "&") {
			if kv == "mode=memory" || kv == "vfs=memdb" {
				return "", false
			}
		}
		var err error
		if name, err = url.PathUnescape(rest); err != nil {
			name = rest
		}
	}
	if name == "" || name == ":memory:" {
		return "", false
	}
	return name, true
}

// parse parses a command's flags; positional arguments may come before or
// after them.
func parse(name string, args []string, npos int, define func(*flag.FlagSet)) ([]string, error) {
	return parseRange(name, args, npos, npos, define)
}

// parseOptional is parse for a command taking one optional positional
// argument: it returns it, or "" without it.
func parseOptional(name string, args []string, define func(*flag.FlagSet)) (string, error) {
	pos, err := parseRange(name, args, 0, 1, define)
	if err != nil || len(pos) == 0 {
		return "", err
	}
	return pos[0], nil
}

// openPostgres opens the PostgreSQL store of a command that only
// PostgreSQL has (what names what it works on, for the usage error).
func (t *tool) openPostgres(ctx context.Context, cmd, what string) (*postgres.Store, error) {
	if t.postgresURL == "" {
		return nil, usageError(fmt.Sprintf("%s: %s are PostgreSQL's: give -postgres URL", cmd, what))
	}
	return postgres.Open(ctx, t.postgresURL)
}

// parseRange is parse for a command taking from minPos to maxPos
// positional arguments.
func parseRange(name string, args []string, minPos, maxPos int, define func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(name + ": " + err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(pos) < minPos || len(pos) > maxPos && minPos == maxPos:
		return nil, usageError(fmt.Sprintf("%s takes %d argument(s), got %d", name, minPos, len(pos)))
	case len(pos) > maxPos:
		return nil, usageError(fmt.Sprintf("%s takes at most %d argument(s), got %d", name, maxPos, len(pos)))
	}
	return pos, nil
}

func (t *tool) migrate(ctx context.Context, args []string) error {
	if _, err := parse("migrate", args, 0, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	s, err := t.open(ctx, true) // opening a store creates or upgrades its schema
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintln(t.stdout, "schema up to date")
	return nil
}

// printRecorded prints a stored event as JSON: in the current form of its
// type when the tool has the application's registries, unless raw.
func (t *tool) printRecorded(e events.RecordedEvent, raw bool) error {
	if t.upgrade != nil && !raw {
		var err error
		if e, err = e.Upgraded(t.upgrade); err != nil {
			return fmt.Errorf("%w (-raw prints it as stored)", err)
		}
	}
	return t.printEvent(eventstore.NewJSONEvent(e))
}

func (t *tool) printEvent(e any) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(t.stdout, "%s\n", line)
	return err
}

func (t *tool) read(ctx context.Context, args []string) error {
	var from, limit int64
	var partition string
	var raw bool
	pos, err := parse("read", args, 1, func(fs *flag.FlagSet) {
		fs.Int64Var(&from, "from", 1, "first stream position")
		fs.Int64Var(&limit, "limit", 0, "most events (0: all)")
		fs.StringVar(&partition, "partition", eventstore.DefaultPartition, "partition")
		fs.BoolVar(&raw, "raw", false, rawUsage)
	})
	if err != nil {
		return err
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	for e, err := range s.ReadStream(ctx, pos[0], eventstore.FromVersion(from), eventstore.MaxCount(limit), eventstore.InPartition(partition)) {
		if err != nil {
			return err
		}
		if err := t.printRecorded(e, raw); err != nil {
			return err
		}
	}
	return nil
}

const rawUsage = "print events as stored, not upgraded by the application's registry"

func (t *tool) version(ctx context.Context, args []string) error {
	var partition string
	pos, err := parse("version", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&partition, "partition", eventstore.DefaultPartition, "partition")
	})
	if err != nil {
		return err
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	v, _, err := s.StreamVersion(ctx, pos[0], eventstore.InPartition(partition))
	if err != nil {
		return err
	}
	fmt.Fprintln(t.stdout, v)
	return nil
}

// parseExpected reads an expected version: a number, any, no_stream or
// stream_exists.
func parseExpected(s string) (eventstore.ExpectedVersion, error) {
	switch s {
	case "", "any":
		return eventstore.ExpectAny(), nil
	case "no_stream":
		return eventstore.ExpectNoStream(), nil
	case "stream_exists":
		return eventstore.ExpectStreamExists(), nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return eventstore.ExpectedVersion{}, usageError(fmt.Sprintf("-expect %q: a version, any, no_stream or stream_exists", s))
	}
	return eventstore.ExpectVersion(v), nil
}

func (t *tool) append(ctx context.Context, args []string) error {
	var typ, data, expect, partition string
	pos, err := parse("append", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&typ, "type", "", "event type (required)")
		fs.StringVar(&data, "data", "", "event data as JSON (default: read from stdin)")
		fs.StringVar(&expect, "expect", "any", "expected version")
		fs.StringVar(&partition, "partition", eventstore.DefaultPartition, "partition")
	})
	if err != nil {
		return err
	}
	if typ == "" {
		return usageError("append: -type is required")
	}
	expected, err := parseExpected(expect)
	if err != nil {
		return err
	}
	body := []byte(data)
	if data == "" {
		if body, err = io.ReadAll(io.LimitReader(t.stdin, eventstore.DefaultMaxEventBytes+1)); err != nil {
			return err
		}
	}
	s, err := t.open(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.AppendToStream(ctx, pos[0], []eventstore.EventData{{Type: typ, Data: []byte(strings.TrimSpace(string(body)))}},
		expected, eventstore.InPartition(partition))
	if err != nil {
		return err
	}
	return t.printEvent(map[string]any{"nextExpectedVersion": res.NextExpectedVersion, "position": res.Position.String(), "created": res.Created})
}

func (t *tool) tail(ctx context.Context, args []string) error {
	var after string
	var limit int64
	var follow, raw bool
	if _, err := parse("tail", args, 0, func(fs *flag.FlagSet) {
		fs.BoolVar(&raw, "raw", false, rawUsage)
		fs.StringVar(&after, "after", "", "position to start after, or an event's globalPosition (default: the beginning)")
		fs.Int64Var(&limit, "limit", 0, "most events (0: all)")
		fs.BoolVar(&follow, "follow", false, "go on with new events until interrupted")
	}); err != nil {
		return err
	}
	start, err := eventstore.ParsePosition(after)
	if err != nil {
		return usageError("tail: -after: " + err.Error())
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	// An event's bare globalPosition means that event on every store; a
	// position with no event is refused, not read as the beginning.
	if start, err = s.ResolvePosition(ctx, start); err != nil {
		return fmt.Errorf("tail: -after: %w", err)
	}
	printed := int64(0)
	errEnough := errors.New("enough")
	handle := func(_ context.Context, b projection.Batch) error {
		for _, e := range b.Events {
			if limit > 0 && printed == limit {
				return errEnough
			}
			if err := t.printRecorded(e, raw); err != nil {
				return err
			}
			printed++
		}
		if !follow || (limit > 0 && printed == limit) {
			return errEnough
		}
		return nil
	}
	if !follow {
		// One pass over what is there now.
		head, err := s.Head(ctx)
		if err != nil || head.IsZero() {
			return err
		}
		for e, err := range s.ReadAll(ctx, start) {
			if err != nil {
				return err
			}
			if eventstore.PositionOf(e).Compare(head) > 0 || (limit > 0 && printed == limit) {
				break
			}
			if err := t.printRecorded(e, raw); err != nil {
				return err
			}
			printed++
		}
		return nil
	}
	err = backend.NewPollingSource(s, backend.ResolvePoll()).Subscribe(ctx, start, handle)
	if errors.Is(err, errEnough) || (ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		return nil
	}
	return err
}

func (t *tool) processors(ctx context.Context, args []string) error {
	if _, err := parse("processors", args, 0, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	const query = `SELECT processor_id, partition, status, last_processed_checkpoint, processor_instance_id FROM emt_processors ORDER BY processor_id, partition`
	var rows [][5]string
	switch {
	case t.postgresURL != "":
		pool, err := pgxpool.New(ctx, t.postgresURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		r, err := pool.Query(ctx, query)
		if err != nil {
			return err
		}
		for r.Next() {
			var row [5]string
			if err := r.Scan(&row[0], &row[1], &row[2], &row[3], &row[4]); err != nil {
				return err
			}
			rows = append(rows, row)
		}
		if err := r.Err(); err != nil {
			return err
		}
	case t.sqlitePath != "":
		s, err := t.open(ctx, false) // upgrades the schema if needed
		if err != nil {
			return err
		}
		s.Close()
		db, err := sql.Open(sqlite.DriverName, t.sqlitePath)
		if err != nil {
			return err
		}
		defer db.Close()
		r, err := db.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var row [5]sql.NullString
			if err := r.Scan(&row[0], &row[1], &row[2], &row[3], &row[4]); err != nil {
				return err
			}
			rows = append(rows, [5]string{row[0].String, row[1].String, row[2].String, row[3].String, row[4].String})
		}
		if err := r.Err(); err != nil {
			return err
		}
	default:
		return usageError("no store: give -sqlite PATH or -postgres URL")
	}
	w := tabwriter.NewWriter(t.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROCESSOR\tPARTITION\tSTATUS\tCHECKPOINT\tINSTANCE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r[0], r[1], r[2], checkpoint(r[3]), r[4])
	}
	return w.Flush()
}

// checkpoint shows a stored checkpoint (zero-padded, as Emmett for Node
// stores it) the way every other command prints a position, the text of
// eventstore.Position ("4", "1907:42"); "-" for none. A text that is not a
// position is shown as it is.
func checkpoint(stored string) string {
	if stored == "" {
		return "-"
	}
	p, err := eventstore.ParsePosition(stored)
	if err != nil {
		return stored
	}
	return p.String()
}

func (t *tool) slot(ctx context.Context, args []string) error {
	var drop bool
	pos, err := parse("slot", args, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&drop, "drop", false, "drop the slot")
	})
	if err != nil {
		return err
	}
	s, err := t.openPostgres(ctx, "slot", "replication slots")
	if err != nil {
		return err
	}
	defer s.Close()
	src, err := replication.NewSource(s, pos[0])
	if err != nil {
		return err
	}
	if drop {
		if err := src.DropSlot(ctx); err != nil {
			return err
		}
		fmt.Fprintf(t.stdout, "slot %s dropped\n", src.Slot())
		return nil
	}
	st, err := src.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Exists {
		return fmt.Errorf("processor %q has no replication slot (%s)", pos[0], st.Slot)
	}
	return t.printEvent(map[string]any{
		"slot": st.Slot, "publication": st.Publication, "active": st.Active, "activePid": st.ActivePID,
		"walStatus": st.WALStatus, "safeWalSize": st.SafeWALSize, "retainedBytes": st.RetainedBytes, "lagBytes": st.LagBytes,
		"currentLsn": st.CurrentLSN.String(), "restartLsn": st.RestartLSN.String(), "confirmedFlushLsn": st.ConfirmedFlushLSN.String(),
	})
}

func (t *tool) publication(ctx context.Context, args []string) error {
	var name string
	var drop bool
	if _, err := parse("publication", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", replication.DefaultPublication, "publication")
		fs.BoolVar(&drop, "drop", false, "drop the publication")
	}); err != nil {
		return err
	}
	s, err := t.openPostgres(ctx, "publication", "publications")
	if err != nil {
		return err
	}
	defer s.Close()
	if drop {
		if err := replication.DropPublication(ctx, s, name); err != nil {
			return err
		}
		fmt.Fprintf(t.stdout, "publication %s dropped\n", name)
		return nil
	}
	var exists bool
	slots := []string{}
	err = s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1),
	coalesce((SELECT array_agg(slot_name::text ORDER BY slot_name) FROM pg_replication_slots WHERE database = current_database() AND plugin = 'pgoutput'), '{}')`,
		name).Scan(&exists, &slots)
	if err != nil {
		return err
	}
	return t.printEvent(map[string]any{"publication": name, "exists": exists, "pgoutputSlots": slots})
}
