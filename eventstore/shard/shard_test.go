package shard_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/shard"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The domain of the tests: accounts that take deposits.
type (
	AccountEvent interface{ isAccountEvent() }
	Deposited    struct {
		Amount int `json:"amount"`
	}
	Deposit struct{ Amount int }
	Balance struct {
		Total    int `json:"total"`
		Deposits int `json:"deposits"`
	}
)

func (Deposited) isAccountEvent() {}

var accountEvents = emmett.NewEvents[AccountEvent](Deposited{})

var accounts = emmett.Decider[int, Deposit, AccountEvent]{
	Decide: func(c Deposit, _ int) ([]AccountEvent, error) {
		if c.Amount <= 0 {
			return nil, errors.New("a deposit must be positive")
		}
		return []AccountEvent{Deposited{Amount: c.Amount}}, nil
	},
	Evolve: func(s int, e AccountEvent) int {
		if d, ok := e.(Deposited); ok {
			s += d.Amount
		}
		return s
	},
	InitialState: func() int { return 0 },
}

// balances is the read model: one document per account.
func balances(name string) *projection.DocumentProjection[Balance, AccountEvent] {
	return projection.SingleStream(name, accountEvents, func(b *Balance, e emmett.Recorded[AccountEvent]) *Balance {
		if b == nil {
			b = &Balance{}
		}
		b.Total += e.Event.(Deposited).Amount
		b.Deposits++
		return b
	})
}

func deposit(amount int) []eventstore.EventData {
	data, err := eventstore.Encode(accountEvents, []AccountEvent{Deposited{Amount: amount}}, emmett.Metadata{})
	if err != nil {
		panic(err)
	}
	return data
}

func streamsOf(t *testing.T, s eventstore.Store, opts ...eventstore.ReadOption) map[string]int {
	t.Helper()
	out := map[string]int{}
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}, opts...) {
		require.NoError(t, err)
		out[e.StreamName]++
	}
	return out
}

func TestRouting(t *testing.T) {
	ctx := context.Background()
	one, two := memory.New(), memory.New()
	shards := map[string]*memory.Store{"one": one, "two": two}
	var asked []string
	r, err := shard.New(shards,
		shard.WithPartitions(map[string]string{"tenant-a": "one", eventstore.DefaultPartition: "one"}),
		shard.WithResolver(func(_ context.Context, p string) (string, error) {
			asked = append(asked, p)
			switch p {
			case "tenant-b":
				return "two", nil
			case "tenant-x":
				return "three", nil
			case "tenant-broken":
				return "", errors.New("the tenant table is down")
			}
			return "", shard.ErrNoShard
		}))
	require.NoError(t, err)

	for p, want := range map[string]string{"tenant-a": "one", "tenant-b": "two", eventstore.DefaultPartition: "one"} {
		name, err := r.ShardOf(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, want, name, p)
	}
	assert.Equal(t, []string{"tenant-b"}, asked, "the hook is asked only for what the map does not hold")
	got, err := r.For(ctx, "tenant-b")
	require.NoError(t, err)
	assert.Same(t, two, got)

	_, err = r.ShardOf(ctx, "tenant-unknown")
	assert.ErrorIs(t, err, shard.ErrNoShard)
	_, err = r.ShardOf(ctx, "tenant-x")
	assert.ErrorIs(t, err, shard.ErrUnknownShard)
	_, err = r.ShardOf(ctx, "tenant-broken")
	assert.ErrorContains(t, err, "the tenant table is down")

	// Appends and reads go to the partition's shard only.
	_, err = r.AppendToStream(ctx, "account-1", deposit(5), eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	_, err = r.AppendToStream(ctx, "account-2", deposit(7), eventstore.InPartition("tenant-b"))
	require.NoError(t, err)
	_, err = r.AppendToStream(ctx, "account-3", deposit(9)) // the default partition
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"account-1": 1, "account-3": 1}, streamsOf(t, one))
	assert.Equal(t, map[string]int{"account-2": 1}, streamsOf(t, two))

	v, exists, err := r.StreamVersion(ctx, "account-2", eventstore.InPartition("tenant-b"))
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, int64(1), v)
	_, exists, err = r.StreamVersion(ctx, "account-2", eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	assert.False(t, exists, "tenant A's shard does not hold tenant B's stream")

	var read []int
	for e, err := range r.ReadStream(ctx, "account-2", eventstore.InPartition("tenant-b")) {
		require.NoError(t, err)
		read = append(read, int(e.StreamPosition))
	}
	assert.Equal(t, []int{1}, read)

	_, err = r.AppendToStream(ctx, "account-9", deposit(1), eventstore.InPartition("tenant-unknown"))
	assert.ErrorIs(t, err, shard.ErrNoShard)
	for _, err := range r.ReadStream(ctx, "account-9", eventstore.InPartition("tenant-unknown")) {
		assert.ErrorIs(t, err, shard.ErrNoShard)
	}
	_, _, err = r.StreamVersion(ctx, "account-9", eventstore.InPartition("tenant-unknown"))
	assert.ErrorIs(t, err, shard.ErrNoShard)

	// The global log: per partition, or per shard; never across shards.
	assert.Equal(t, map[string]int{"account-2": 1}, streamsOf(t, r, eventstore.InPartition("tenant-b")))
	assert.Equal(t, map[string]int{"account-1": 1}, streamsOf(t, r, eventstore.InPartition("tenant-a")))
	for _, err := range r.ReadAll(ctx, eventstore.Position{}) {
		assert.ErrorIs(t, err, shard.ErrNoGlobalOrder)
	}
	_, err = r.ResolvePosition(ctx, eventstore.Position{GlobalPosition: 1})
	assert.ErrorIs(t, err, shard.ErrNoGlobalOrder)

	var names []string
	for name := range r.All() {
		names = append(names, name)
	}
	assert.Equal(t, []string{"one", "two"}, names)
	assert.Equal(t, names, r.Names())
	s, ok := r.Shard("two")
	assert.True(t, ok)
	assert.Same(t, two, s)
}

func TestNew(t *testing.T) {
	_, err := shard.New(map[string]*memory.Store{})
	assert.Error(t, err)
	_, err = shard.New(map[string]*memory.Store{"one": memory.New()}, shard.WithPartitions(map[string]string{"a": "two"}))
	assert.ErrorIs(t, err, shard.ErrUnknownShard)
	_, err = shard.New(map[string]*memory.Store{"one": memory.New()}, shard.WithDefaultShard("two"))
	assert.ErrorIs(t, err, shard.ErrUnknownShard)

	// One shard has a global order: ReadAll and ResolvePosition go to it.
	ctx := context.Background()
	one := memory.New()
	r, err := shard.New(map[string]*memory.Store{"one": one}, shard.WithDefaultShard("one"))
	require.NoError(t, err)
	res, err := r.AppendToStream(ctx, "account-1", deposit(3), eventstore.InPartition("anyone"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"account-1": 1}, streamsOf(t, r))
	p, err := r.ResolvePosition(ctx, eventstore.Position{GlobalPosition: res.Position.GlobalPosition})
	require.NoError(t, err)
	assert.Equal(t, res.Position, p)
}

// The hook's ErrNoShard falls through to the default shard.
func TestResolverFallsBackToDefault(t *testing.T) {
	r, err := shard.New(map[string]*memory.Store{"one": memory.New(), "two": memory.New()},
		shard.WithResolver(func(context.Context, string) (string, error) { return "", shard.ErrNoShard }),
		shard.WithDefaultShard("two"))
	require.NoError(t, err)
	name, err := r.ShardOf(context.Background(), "whoever")
	require.NoError(t, err)
	assert.Equal(t, "two", name)
}

// One command handler serves the tenants of every shard; inline
// projections run in each shard's store; a processor per shard projects
// the shard's events.
func TestCommandsAndProcessorsPerShard(t *testing.T) {
	ctx := context.Background()
	inline := balances("balances")
	async := balances("async_balances")
	shards := map[string]*memory.Store{
		"one": memory.New(memory.WithProjections(inline)),
		"two": memory.New(memory.WithProjections(inline)),
	}
	r, err := shard.New(shards, shard.WithPartitions(map[string]string{"tenant-a": "one", "tenant-b": "two"}))
	require.NoError(t, err)

	h := command.NewDeciderHandler(r, accounts, accountEvents)
	for i := range 3 {
		for _, tenant := range []string{"tenant-a", "tenant-b"} {
			res, err := h.Handle(ctx, fmt.Sprintf("account-%s", tenant), Deposit{Amount: 10 * (i + 1)}, eventstore.InPartition(tenant))
			require.NoError(t, err)
			assert.Equal(t, 10*(i+1)*(i+2)/2, res.State)
		}
	}
	_, err = h.Handle(ctx, "account-c", Deposit{Amount: 1}, eventstore.InPartition("tenant-c"))
	assert.ErrorIs(t, err, shard.ErrNoShard)

	processors := shard.Build(r, func(_ string, s *memory.Store) *projection.Processor {
		return projection.NewProjectionProcessor(s.Processors(), s.Source(), async)
	})
	for name, p := range processors.All() {
		require.NoError(t, p.CatchUp(ctx), name)
	}
	p, err := processors.For(ctx, "tenant-b")
	require.NoError(t, err)
	two, _ := processors.Get("two")
	assert.Same(t, two, p)
	_, err = processors.For(ctx, "tenant-c")
	assert.ErrorIs(t, err, shard.ErrNoShard)
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		s, err := r.For(ctx, tenant)
		require.NoError(t, err)
		for _, p := range []*projection.DocumentProjection[Balance, AccountEvent]{inline, async} {
			b, found, err := p.Collection(s.Documents()).Get(ctx, "account-"+tenant)
			require.NoError(t, err)
			require.True(t, found, "%s of %s", p.Name(), tenant)
			assert.Equal(t, Balance{Total: 60, Deposits: 3}, b)
		}
	}
	// Each shard holds its own tenant's read models only.
	one, _ := r.Shard("one")
	_, found, err := inline.Collection(one.Documents()).Get(ctx, "account-tenant-b")
	require.NoError(t, err)
	assert.False(t, found)
}

// A Router with one shard is a conforming store: every call goes through
// it to the shard.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store {
			r, err := shard.New(map[string]*memory.Store{"only": memory.New()}, shard.WithDefaultShard("only"))
			require.NoError(t, err)
			return r
		},
		LargeStreamEvents: 10_000,
	})
}
