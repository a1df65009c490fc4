package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	emt "github.com/emmett-go/emmett/emmett" // emmett is the tests' name for running the tool
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
)

// catchUp runs a processor until it has caught up with the log as it is
// when the command starts (or reached -until): the projection of a Wasm
// module (-wasm), here; without -wasm, it waits for the instance that runs
// the processor (the application) to get there.
func (t *tool) catchUp(ctx context.Context, args []string) error {
	var module, collection, until, startAfter, startTime, onFailure string
	var startEnd, useReplication bool
	var batch int
	var timeout time.Duration
	pos, err := parse("catch-up", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&module, "wasm", "", "run the projection of this Wasm module as the processor")
		fs.StringVar(&collection, "collection", "", "with -wasm: the collection of its documents (default: the processor's name)")
		fs.StringVar(&onFailure, "on-failure", "stop", "with -wasm: stop, skip or park an event the module keeps failing on")
		fs.StringVar(&until, "until", "", "run until this position (default: the end of the log when the command starts)")
		fs.StringVar(&startAfter, "start-after", "", "with -wasm, a processor without a checkpoint starts after this position")
		fs.StringVar(&startTime, "start-time", "", "with -wasm, a processor without a checkpoint starts at the events stored from this time (RFC 3339)")
		fs.BoolVar(&startEnd, "start-end", false, "with -wasm, a processor without a checkpoint starts at the end of the log")
		fs.BoolVar(&useReplication, "replication", false, "the processor reads PostgreSQL's logical replication feed (its slot), not the polling feed")
		fs.IntVar(&batch, "batch", 0, "the most events per batch of the polling feed (default 500)")
		fs.DurationVar(&timeout, "timeout", 0, "give up after this long (default: never)")
	})
	if err != nil {
		return err
	}
	id := pos[0]
	opts, err := catchUpOptions(module != "", onFailure, startAfter != "", startTime, startEnd)
	if err != nil {
		return err
	}
	target, err := eventstore.ParsePosition(until)
	if err != nil {
		return usageError("catch-up: -until: " + err.Error())
	}
	after, err := eventstore.ParsePosition(startAfter)
	if err != nil {
		return usageError("catch-up: -start-after: " + err.Error())
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	src, err := catchUpSource(s, id, useReplication, batch)
	if err != nil {
		return err
	}
	if c, ok := src.(interface{ Close() error }); ok {
		defer c.Close()
	}
	// An event's bare globalPosition means that event on every store.
	if until == "" {
		target, err = s.Head(ctx)
	} else {
		target, err = s.ResolvePosition(ctx, target)
	}
	if err != nil {
		return fmt.Errorf("catch-up: -until: %w", err)
	}
	if startAfter != "" {
		if after, err = s.ResolvePosition(ctx, after); err != nil {
			return fmt.Errorf("catch-up: -start-after: %w", err)
		}
		opts = append(opts, projection.StartAfter(after))
	}

	if module == "" {
		// Nothing runs here: wait for the instance that runs the processor.
		p := projection.NewReactorProcessor(s.Processors(), src, id, nil, func(context.Context, emt.RecordedEvent) error {
			return errors.New("emmett catch-up runs no handler")
		})
		if err := p.WaitFor(ctx, target); err != nil {
			return t.catchUpError(id, err)
		}
		return t.printCheckpoint(ctx, s, id)
	}

	m, err := wasm.LoadFile(ctx, module, wasmOptions...)
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	var projOpts []wasm.ProjectionOption
	if collection != "" {
		projOpts = append(projOpts, wasm.WithCollection(collection))
	}
	if t.upgrade != nil {
		// The module reads events in the current form of their types,
		// as read and tail print them.
		projOpts = append(projOpts, wasm.WithUpgrade(t.upgrade))
	}
	proj, err := wasm.NewProjection(m, id, projOpts...)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(t.stderr, nil))
	p := projection.NewProjectionProcessor(s.Processors(), src, proj, append(opts, projection.WithLogger(logger))...)
	if err := p.RunUntil(ctx, target); err != nil {
		return t.catchUpError(id, err)
	}
	return t.printCheckpoint(ctx, s, id)
}

// wasmOptions are the options catch-up loads a module with: none, but in
// tests, which share their compilation cache.
var wasmOptions []wasm.Option

// catchUpOptions are the processor options of the flags but -start-after
// (which the caller resolves); the start options and -on-failure go with
// -wasm only.
func catchUpOptions(runs bool, onFailure string, startAfter bool, startTime string, startEnd bool) ([]projection.ProcessorOption, error) {
	var opts []projection.ProcessorOption
	starts := 0
	if startAfter {
		starts++ // the position is resolved by the store
	}
	if startTime != "" {
		at, err := time.Parse(time.RFC3339Nano, startTime)
		if err != nil {
			return nil, usageError("catch-up: -start-time: " + err.Error())
		}
		opts, starts = append(opts, projection.StartFromTime(at)), starts+1
	}
	if startEnd {
		opts, starts = append(opts, projection.StartFromEnd()), starts+1
	}
	switch {
	case starts > 1:
		return nil, usageError("catch-up: one of -start-after, -start-time and -start-end")
	case starts > 0 && !runs:
		return nil, usageError("catch-up: the start options go with -wasm: without it, the processor runs elsewhere")
	}
	policy := map[string]projection.FailurePolicy{"stop": projection.StopOnFailure, "skip": projection.SkipOnFailure, "park": projection.ParkOnFailure}
	f, ok := policy[onFailure]
	switch {
	case !ok:
		return nil, usageError(fmt.Sprintf("catch-up: -on-failure %q: stop, skip or park", onFailure))
	case f != projection.StopOnFailure && !runs:
		return nil, usageError("catch-up: -on-failure goes with -wasm: without it, the processor runs elsewhere")
	}
	return append(opts, projection.WithFailurePolicy(f)), nil
}

// catchUpSource is the feed the processor reads: the store's polling feed,
// or its logical replication slot.
func catchUpSource(s store, id string, useReplication bool, batch int) (projection.Source, error) {
	if useReplication {
		pg, ok := s.(*postgres.Store)
		if !ok {
			return nil, usageError("catch-up: -replication is PostgreSQL's: give -postgres URL")
		}
		var opts []replication.Option
		if batch > 0 {
			opts = append(opts, replication.WithBatchSize(batch))
		}
		return replication.NewSource(pg, id, opts...)
	}
	var opts []projection.PollOption
	if batch > 0 {
		opts = append(opts, projection.PollBatchSize(batch))
	}
	return s.Source(opts...), nil
}

func (t *tool) catchUpError(id string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("processor %s did not catch up in time (-timeout)", id)
	}
	return err
}

// printCheckpoint prints the processor's stored checkpoint.
func (t *tool) printCheckpoint(ctx context.Context, s store, id string) error {
	cp, _, err := s.Processors().ReadCheckpoint(ctx, id)
	if err != nil {
		return err
	}
	return t.printEvent(map[string]any{"processor": id, "checkpoint": cp.String()})
}
