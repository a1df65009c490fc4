package eventstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emmett-go/emmett/emmett"
)

// CheckFailure is one kind of stored event a check could not read: a type
// name at a schema version, how many there are, where the first is, and
// why.
type CheckFailure struct {
	// Type and Version are the stored type name and schema version.
	Type    string
	Version int
	// Count is the number of such events checked; First is the position of
	// the first.
	Count int64
	First Position
	// Err is why the first could not be read.
	Err error
}

// CheckResult is what Check found.
type CheckResult struct {
	// Read is the number of events read; Checked the number checked (all
	// of them, or a sample: see CheckEvery).
	Read, Checked int64
	// Failures lists the kinds of events that could not be read, by type
	// and version.
	Failures []CheckFailure
}

// ErrUnreadableEvents is matched by CheckResult.Err when a check found
// events that the code can no longer read.
var ErrUnreadableEvents = errors.New("eventstore: stored events the code cannot read")

// Err returns an error matching ErrUnreadableEvents that lists the
// failures, or nil when there are none.
func (r CheckResult) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	var b strings.Builder
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  %s version %d: %d event(s), the first at %s: %v", f.Type, f.Version, f.Count, f.First, f.Err)
	}
	return fmt.Errorf("%w (%d of %d checked):%s", ErrUnreadableEvents, r.failed(), r.Checked, b.String())
}

func (r CheckResult) failed() int64 {
	var n int64
	for _, f := range r.Failures {
		n += f.Count
	}
	return n
}

// CheckOption configures Check.
type CheckOption func(*checkConfig)

type checkConfig struct{ every int64 }

// CheckEvery makes Check decode one event in n (the 1st, the n+1th, ...)
// rather than every one: a sample, for a large store.
func CheckEvery(n int) CheckOption {
	return func(c *checkConfig) { c.every = max(int64(n), 1) }
}

// Check reads every event of the store's global log and decodes it
// through the registry (its upcasters and renamed types included),
// returning the kinds of events it cannot read: a type the registry no
// longer has, a schema version it cannot take up to the current one, data
// that does not decode. Run it in CI against a copy of production data, or
// in a test with the application's registry, so that a change that would
// break reading stored events fails before it ships; the error of the
// result's Err lists them. The error returned is the store's.
func Check[E any](ctx context.Context, store GlobalReader, events *emmett.Events[E], opts ...CheckOption) (CheckResult, error) {
	return check(ctx, store, func(e emmett.RecordedEvent) error {
		_, err := events.DecodeRecorded(e)
		return err
	}, opts)
}

// CheckSchema is Check against a registry's Schema, without its code:
// each event's type and schema version must be ones the schema reads (its
// data is not decoded). The command-line tool's emmett check runs it.
func CheckSchema(ctx context.Context, store GlobalReader, schema emmett.Schema, opts ...CheckOption) (CheckResult, error) {
	return check(ctx, store, func(e emmett.RecordedEvent) error { return schema.Reads(e.Type, e.SchemaVersion) }, opts)
}

func check(ctx context.Context, store GlobalReader, read func(emmett.RecordedEvent) error, opts []CheckOption) (CheckResult, error) {
	cfg := checkConfig{every: 1}
	for _, o := range opts {
		o(&cfg)
	}
	type kind struct {
		typ     string
		version int
	}
	var res CheckResult
	index := map[kind]int{}
	for e, err := range store.ReadAll(ctx, Position{}) {
		if err != nil {
			return res, err
		}
		res.Read++
		if (res.Read-1)%cfg.every != 0 {
			continue
		}
		res.Checked++
		if err := read(e); err != nil {
			k := kind{e.Type, max(e.SchemaVersion, 1)}
			i, ok := index[k]
			if !ok {
				i = len(res.Failures)
				index[k] = i
				res.Failures = append(res.Failures, CheckFailure{Type: k.typ, Version: k.version, First: PositionOf(e), Err: err})
			}
			res.Failures[i].Count++
		}
	}
	slices.SortStableFunc(res.Failures, func(a, b CheckFailure) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), cmp.Compare(a.Version, b.Version))
	})
	return res, nil
}
