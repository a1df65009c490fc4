package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
)

// WithConsole gives emmett ui options of the console (console.New): an
// application's authorizer (console.WithAuthorizer), the groups of its
// processors (console.WithMembership needs the store: see -group).
func WithConsole(opts ...console.Option) Option {
	return func(t *tool) { t.console = append(t.console, opts...) }
}

// defaultUIAddr is where emmett ui listens without -addr: this machine
// only.
const defaultUIAddr = "127.0.0.1:8089"

// ui serves the operations console (package console) until interrupted.
func (t *tool) ui(ctx context.Context, args []string) error {
	var addr string
	var groups multiFlag
	var allowActions bool
	if _, err := parse("ui", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&addr, "addr", defaultUIAddr, "address to serve the console on")
		fs.Var(&groups, "group", "show the live instances of this group of processors (repeatable)")
		fs.BoolVar(&allowActions, "allow-actions", false,
			"let whoever reaches the console retry and discard parked events and drop or activate versions (read-only without)")
	}); err != nil {
		return err
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	opts := []console.Option{}
	if t.upgrade != nil {
		opts = append(opts, console.WithUpgrade(t.upgrade))
	}
	if allowActions {
		opts = append(opts, console.WithAuthorizer(func(*http.Request, console.Action) error { return nil }))
	}
	if m, ok := s.(interface{ Membership() projection.Membership }); ok && len(groups) > 0 {
		opts = append(opts, console.WithMembership(m.Membership(), groups...))
	}
	if pg, ok := s.(*postgres.Store); ok {
		opts = append(opts, console.WithSlots(func(ctx context.Context) ([]console.Slot, error) { return slots(ctx, pg) }))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: console.New(s, append(opts, t.console...)...), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	mode := "read-only"
	if allowActions {
		mode = "actions allowed"
	}
	fmt.Fprintf(t.stdout, "console on http://%s/ (%s); Ctrl-C stops it\n", ln.Addr(), mode)
	stop := context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown) // live feeds end with the server's connections
		_ = srv.Close()
	})
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// slotsSQL reads the pgoutput slots of the database, read-only (unlike
// replication's Source.Status, which sets its feed up first).
const slotsSQL = `SELECT slot_name::text, active, coalesce(wal_status, ''),
	coalesce(pg_current_wal_lsn() - restart_lsn, 0)::bigint, coalesce(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::bigint,
	current_database()::text
FROM pg_replication_slots WHERE database = current_database() AND plugin = 'pgoutput' ORDER BY slot_name`

// slots returns the replication slots of the database, each with the
// processor whose slot name it has (replication.SlotName).
func slots(ctx context.Context, s *postgres.Store) ([]console.Slot, error) {
	rows, err := s.Pool().Query(ctx, slotsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []console.Slot
	var database string
	for rows.Next() {
		var sl console.Slot
		if err := rows.Scan(&sl.Name, &sl.Active, &sl.WALStatus, &sl.RetainedBytes, &sl.LagBytes, &database); err != nil {
			return nil, err
		}
		out = append(out, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	procs, err := s.ListProcessors(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		for _, p := range procs {
			if replication.SlotName(database, p.ID) == out[i].Name {
				out[i].Processor = p.ID
			}
		}
	}
	return out, nil
}

// multiFlag is a flag given any number of times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
