// Command emmett is the command-line tool of Emmett for Go: it creates and
// upgrades the schema, reads and appends to streams, follows the global log,
// and shows processors' checkpoints and replication slots.
//
//	emmett [-sqlite PATH | -postgres URL] COMMAND [ARGUMENTS]
//
// The store is the SQLite file given by -sqlite (or EMMETT_SQLITE_PATH), or
// the PostgreSQL database given by -postgres (or EMMETT_POSTGRES_URL).
// migrate and append create a SQLite file that does not exist; the commands
// that only read refuse it. Events are printed as JSON lines, in the form
// the HTTP API serves them, and positions (checkpoints included) as
// eventstore.Position writes them ("4", "1907:42").
//
// Commands:
//
//	migrate                          create or upgrade Emmett's schema
//	read STREAM [-from N] [-limit N] [-partition P]
//	                                 print a stream's events
//	version STREAM [-partition P]    print a stream's version (0 when it does not exist)
//	append STREAM -type T [-data JSON] [-expect V|any|no_stream|stream_exists] [-partition P]
//	                                 append one event; its data from stdin without -data
//	tail [-after POSITION] [-limit N] [-follow]
//	                                 print the global log, and go on with new events with -follow
//	processors                       list processors and their checkpoints
//	slot PROCESSOR [-drop]           show (or drop) a processor's logical replication slot (PostgreSQL)
//	publication [-name P] [-drop]    show (or drop) the replication feed's publication (PostgreSQL);
//	                                 it is dropped only once no pgoutput slot of the database remains
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the tool with args and returns the exit code: 0 on success, 1 on
// a failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	t := &tool{stdin: stdin, stdout: stdout, stderr: stderr}
	if err := t.main(ctx, args); err != nil {
		fmt.Fprintln(stderr, "emmett:", err)
		if _, usage := err.(usageError); usage {
			return 2
		}
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) + " (emmett -h for help)" }
