// Command emmett is the command-line tool of Emmett for Go: it creates and
// upgrades the schema, reads and appends to streams, follows the global log,
// shows processors' checkpoints, parked events, projections' versions and
// replication slots, retries and discards parked events, drops and
// activates versions of projections, and runs a Wasm projection (or waits
// for a processor) until it has caught up.
//
//	emmett [-sqlite PATH | -postgres URL] COMMAND [ARGUMENTS]
//
// The store is the SQLite file given by -sqlite (or EMMETT_SQLITE_PATH), or
// the PostgreSQL database given by -postgres (or EMMETT_POSTGRES_URL).
// migrate and append create a SQLite file that does not exist; the commands
// that only read refuse it. Events are printed as JSON lines, in the form
// the HTTP API serves them, and positions (checkpoints included) as
// eventstore.Position writes them ("4", "1907:42"). tail -after takes such
// a position or an event's bare globalPosition ("42"), which means that
// event on every store; one at which the store has no event is refused.
//
// Parked events (see projection.ParkOnFailure) are retried by the instance
// that runs their processor: parked -retry stores the request, which that
// instance finds within its projection.WithWatchInterval (1 s by
// default), or when it next starts; -wait waits for the outcome.
//
// Projections have versions (see projection.Versions): projections lists
// them with their processors' checkpoints; -drop-version removes a retired
// version's read model (projection.DropVersion: the active one is refused,
// and it first waits for an instance still running the version to stop);
// -activate goes back to a retired version (projection.ActivateVersion),
// whose processor then catches up from its checkpoint.
//
// Without an application's registry, read and tail print events as they
// are stored. An application that builds the tool with its registry
// (package cli, cli.WithUpgrade) prints them in the current form of their
// type, with their schema version; -raw prints the stored form.
//
// Commands:
//
//	migrate                          create or upgrade Emmett's schema
//	read STREAM [-from N] [-limit N] [-partition P] [-raw]
//	                                 print a stream's events (as stored with -raw)
//	version STREAM [-partition P]    print a stream's version (0 when it does not exist)
//	append STREAM -type T [-data JSON] [-expect V|any|no_stream|stream_exists] [-partition P]
//	                                 append one event; its data from stdin without -data
//	tail [-after POSITION] [-limit N] [-follow] [-raw]
//	                                 print the global log, and go on with new events with -follow
//	processors                       list processors and their checkpoints
//	parked [PROCESSOR] [-retry ID|all [-wait D]] [-discard ID] [-json]
//	                                 list the events processors parked (every processor's without
//	                                 PROCESSOR); -retry asks the instance running the processor to
//	                                 retry one or all, -discard drops one
//	projections [NAME] [-json]       list the recorded versions of projections (of NAME only with it):
//	                                 status (active, building, inactive), processor and checkpoint
//	projections NAME -drop-version N [-wait D]
//	                                 drop version N of NAME (not the active one): its collections,
//	                                 checkpoint, parked events and record; waits at most D (30s) for
//	                                 an instance still running it to stop
//	projections NAME -activate N [-wait D]
//	                                 make the retired version N of NAME the active one again
//	catch-up PROCESSOR [-until POSITION] [-replication] [-timeout D]
//	      [-wasm MODULE [-collection C] [-on-failure stop|skip|park] [-batch N]
//	       [-start-after POSITION | -start-time TIME | -start-end]]
//	                                 with -wasm, run the Wasm module's projection as PROCESSOR until it
//	                                 has processed the log as it is now (or up to -until), then stop;
//	                                 without, wait for the instance running PROCESSOR to get there
//	check [-schema FILE] [-every N]  check that every stored event (one in N) is of a type and schema
//	                                 version the application's registry reads: the JSON of its
//	                                 emmett.Events.Schema() in FILE, or the registry the tool was
//	                                 built with (cli.WithSchema)
//	slot PROCESSOR [-drop]           show (or drop) a processor's logical replication slot (PostgreSQL)
//	publication [-name P] [-drop]    show (or drop) the replication feed's publication (PostgreSQL);
//	                                 it is dropped only once no pgoutput slot of the database remains
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/emmett-go/emmett/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
