// Package cli is the emmett command-line tool (cmd/emmett) as a library, so
// that an application can build the tool with what only its own code
// knows: its registries of events. Built with them (WithUpgrade), read and
// tail print each event in the current form of its type, through the
// upcasters, and -raw prints the form it is stored in; check reads every
// stored event against the registries (WithSchema), without a schema file.
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr,
//			cli.WithUpgrade(app.Events().Upgrade), cli.WithSchema(app.Events().Schema()))
//		stop()
//		os.Exit(code)
//	}
//
// See cmd/emmett for the commands.
package cli

import (
	"context"
	"fmt"
	"io"

	events "github.com/emmett-go/emmett/emmett"
)

// Option configures the tool.
type Option func(*tool)

// WithUpgrade makes read and tail print each event in the current form of
// its type, and catch-up -wasm pass it so to the module (wasm.WithUpgrade): upgrade takes a stored event's type name, schema version and
// data to the current ones (an application registry's
// emmett.Events.Upgrade; emmett.UpgradeAny for several registries). An
// event it cannot upgrade fails the command, naming the event; -raw
// prints events as stored.
func WithUpgrade(upgrade events.UpgradeFunc) Option {
	return func(t *tool) { t.upgrade = upgrade }
}

// WithSchema gives check the application's registry (its
// emmett.Events.Schema(); append the Types of several): check then reads
// the store's events against it when no -schema file is given.
func WithSchema(schema events.Schema) Option {
	return func(t *tool) { t.schema = &schema }
}

// Main runs the tool with args (the command line without the program's
// name) and returns the exit code: 0 on success, 1 on a failure, 2 on a
// usage error. Errors are written to stderr, the commands' output to
// stdout.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts ...Option) int {
	t := &tool{stdin: stdin, stdout: stdout, stderr: stderr}
	for _, opt := range opts {
		opt(t)
	}
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
