package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	events "github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// check reads the store's whole log (or a sample) and checks each event's
// type and schema version against an application's registry, given as the
// JSON of its emmett.Schema (or the schema the tool was built with,
// WithSchema): it fails, listing them, when events are of a
// type or version the registry can no longer read.
func (t *tool) check(ctx context.Context, args []string) error {
	var schemaPath string
	var every int
	if _, err := parse("check", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&schemaPath, "schema", "", "the JSON of the application registry's Schema()")
		fs.IntVar(&every, "every", 1, "check one event in N")
	}); err != nil {
		return err
	}
	if every < 1 {
		return usageError(fmt.Sprintf("check: -every %d: check one event in N, N at least 1", every))
	}
	var schema events.Schema
	switch {
	case schemaPath != "":
		data, err := os.ReadFile(schemaPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &schema); err != nil {
			return fmt.Errorf("check: %s is not a registry's schema: %w", schemaPath, err)
		}
		if len(schema.Types) == 0 {
			return fmt.Errorf("check: %s names no event type", schemaPath)
		}
	case t.schema != nil:
		schema = *t.schema
	default:
		return usageError("check: -schema FILE is required (the JSON of the application's emmett.Events.Schema())")
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := eventstore.CheckSchema(ctx, s, schema, eventstore.CheckEvery(every))
	if err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return err
	}
	fmt.Fprintf(t.stdout, "%d of %d events checked: every one is of a type and version the registry reads\n", res.Checked, res.Read)
	return nil
}
