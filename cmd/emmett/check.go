package main

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
// JSON of its emmett.Schema: it fails, listing them, when events are of a
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
	if schemaPath == "" {
		return usageError("check: -schema FILE is required (the JSON of the application's emmett.Events.Schema())")
	}
	if every < 1 {
		return usageError(fmt.Sprintf("check: -every %d: check one event in N, N at least 1", every))
	}
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	var schema events.Schema
	if err := json.Unmarshal(data, &schema); err != nil {
		return fmt.Errorf("check: %s is not a registry's schema: %w", schemaPath, err)
	}
	if len(schema.Types) == 0 {
		return fmt.Errorf("check: %s names no event type", schemaPath)
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
