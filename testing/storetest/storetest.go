// Package storetest is the conformance suite every event store backend runs.
//
// A backend's test calls Run with a function that gives the store under test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Config{
//			New: func(t *testing.T) eventstore.Store { return memory.New() },
//		})
//	}
//
// Every case is a named subtest. Cases use stream names of their own, so New
// may return one shared store to all of them (as the PostgreSQL tests do) or a
// fresh store each time.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
)

// Config describes the backend under test.
type Config struct {
	// New returns the store a subtest runs against. Required.
	New func(t *testing.T) eventstore.Store
	// MaxEventBytes is the event size limit the store was configured with;
	// eventstore.DefaultMaxEventBytes when 0.
	MaxEventBytes int
	// LargeStreamEvents is the length of the stream read back through the
	// iterator; 50,000 when 0, 10,000 under -short. From 50,000 on, the
	// case also checks that the read holds a bounded part of the stream,
	// by the heap of the whole process: the test that runs the suite must
	// not run in parallel with others then.
	LargeStreamEvents int
	// Writers is the number of concurrent appenders; 32 when 0.
	Writers int
	// CreatePartition makes a partition usable, for backends where a
	// partition must be created before use; nil when none needs creating.
	CreatePartition func(ctx context.Context, store eventstore.Store, partition string) error
}

func (c Config) maxEventBytes() int {
	if c.MaxEventBytes > 0 {
		return c.MaxEventBytes
	}
	return eventstore.DefaultMaxEventBytes
}

func (c Config) largeStreamEvents() int {
	switch {
	case c.LargeStreamEvents > 0:
		return c.LargeStreamEvents
	case testing.Short():
		return 10_000
	default:
		return boundedFrom
	}
}

func (c Config) writers() int {
	if c.Writers > 0 {
		return c.Writers
	}
	return 32
}

// Run runs the whole suite, each case as a named subtest.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil {
		t.Fatal("storetest.Run: Config.New is required")
	}
	t.Run("ExpectedVersion", func(t *testing.T) { testExpectedVersions(t, cfg) })
	t.Run("AppendResult", func(t *testing.T) { testAppendResult(t, cfg) })
	t.Run("ReadStream", func(t *testing.T) { testReadStream(t, cfg) })
	t.Run("ReadAll", func(t *testing.T) { testReadAll(t, cfg) })
	t.Run("Metadata", func(t *testing.T) { testMetadata(t, cfg) })
	t.Run("SchemaVersions", func(t *testing.T) { testSchemaVersions(t, cfg) })
	t.Run("IdempotentAppends", func(t *testing.T) { testIdempotentAppends(t, cfg) })
	t.Run("Partitions", func(t *testing.T) { testPartitions(t, cfg) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, cfg) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelledContext(t, cfg) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, cfg) })
	t.Run("LargeStream", func(t *testing.T) { testLargeStream(t, cfg) })
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// streamName returns a stream name unique to this test run: the given
// category, a '-', then the test's name and a random suffix.
func streamName(t *testing.T, category string) string {
	name := strings.Trim(unsafeChars.ReplaceAllString(t.Name(), "_"), "_")
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	return category + "-" + name + "_" + randomHex(6)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
