// Package shard spreads the partitions (tenants) of an application over
// several event stores, on different database servers: a Router maps each
// partition to the store of its shard, through a static map and a hook,
// and is itself an eventstore.Store that sends every call to the store of
// the call's partition (eventstore.InPartition).
//
// One command handler built on a Router serves every tenant: its load and
// its append go to the tenant's shard. Inline projections run in each
// shard's own transaction, as the shard's store is configured; their
// documents live on the shard (Router.For returns the shard's store, with
// its Documents). Asynchronous processors run per shard: one processor per
// shard (Build), each reading the global log of its own store, and a
// tenant's read-your-writes waits for its shard's (PerShard.For).
//
// # No global order across shards
//
// Each shard has a global log of its own, with its own positions: there is
// no order between an event of one shard and an event of another, and a
// position means something only on the shard that gave it. ReadAll on a
// Router reads one partition's shard (InPartition); without a partition it
// fails with ErrNoGlobalOrder unless there is one shard. Read every shard
// with Router.All to see everything, shard by shard.
package shard

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

var (
	// ErrNoShard is matched by the error of a call whose partition no
	// shard holds: it is not in the static map, and the hook (if any)
	// does not know it either.
	ErrNoShard = errors.New("shard: no shard for partition")
	// ErrUnknownShard is matched by the error of New for a static map or
	// a default naming a shard that is not given, and of a call whose hook
	// names one.
	ErrUnknownShard = errors.New("shard: unknown shard")
	// ErrNoGlobalOrder is matched by the error of a Router's ReadAll and
	// ResolvePosition without a partition when there are several shards:
	// there is no order across shards, read each shard on its own.
	ErrNoGlobalOrder = errors.New("shard: no global order across shards")
)

// Resolver maps a partition to the name of its shard: the hook for
// partitions the static map does not hold (tenants created at run time,
// whose shard a table of the application's own records). It returns an
// error matching ErrNoShard for a partition it does not know. A Router
// calls it on every call whose partition is not in the map, so it should
// be cheap (cache what it looks up).
type Resolver func(ctx context.Context, partition string) (shard string, err error)

type config struct {
	partitions map[string]string
	resolve    Resolver
	fallback   string
}

// Option configures a Router.
type Option func(*config)

// WithPartitions maps partitions to shard names, statically. Given more
// than once, the maps are merged (the later wins for a partition given
// twice).
func WithPartitions(m map[string]string) Option {
	return func(c *config) {
		if c.partitions == nil {
			c.partitions = map[string]string{}
		}
		maps.Copy(c.partitions, m)
	}
}

// WithResolver sets the hook that maps a partition the static map does not
// hold to its shard.
func WithResolver(r Resolver) Option { return func(c *config) { c.resolve = r } }

// WithDefaultShard sends the partitions that neither the map nor the hook
// know to the named shard, instead of failing with ErrNoShard.
func WithDefaultShard(name string) Option { return func(c *config) { c.fallback = name } }

// Router sends each call to the store of its partition's shard. It is an
// eventstore.Store over stores of any backend, of one type S: with S a
// *postgres.Store, For and All give the shards' own stores, with their
// documents, processors and sources. A Router is safe for concurrent use
// as its stores are; it does not own them (close them yourself).
type Router[S eventstore.Store] struct {
	shards map[string]S
	names  []string
	cfg    config
}

var _ eventstore.Store = (*Router[eventstore.Store])(nil)

// New returns a Router over the named shards. The partitions of the static
// map (WithPartitions) and the default shard (WithDefaultShard) must name
// given shards: the error matches ErrUnknownShard otherwise.
func New[S eventstore.Store](shards map[string]S, opts ...Option) (*Router[S], error) {
	if len(shards) == 0 {
		return nil, errors.New("shard: no shards")
	}
	r := &Router[S]{shards: maps.Clone(shards), names: slices.Sorted(maps.Keys(shards))}
	for _, o := range opts {
		if o != nil {
			o(&r.cfg)
		}
	}
	for p, name := range r.cfg.partitions {
		if _, ok := r.shards[name]; !ok {
			return nil, fmt.Errorf("%w %q (of partition %q)", ErrUnknownShard, name, p)
		}
	}
	if name := r.cfg.fallback; name != "" {
		if _, ok := r.shards[name]; !ok {
			return nil, fmt.Errorf("%w %q (the default shard)", ErrUnknownShard, name)
		}
	}
	return r, nil
}

// ShardOf returns the name of the shard of a partition: the static map's,
// else the hook's, else the default shard's. The error matches ErrNoShard
// when none knows it, and ErrUnknownShard when the hook names a shard the
// Router does not have.
func (r *Router[S]) ShardOf(ctx context.Context, partition string) (string, error) {
	if name, ok := r.cfg.partitions[partition]; ok {
		return name, nil
	}
	if r.cfg.resolve != nil {
		name, err := r.cfg.resolve(ctx, partition)
		switch {
		case err == nil:
			if _, ok := r.shards[name]; !ok {
				return "", fmt.Errorf("%w %q (the hook's, for partition %q)", ErrUnknownShard, name, partition)
			}
			return name, nil
		case !errors.Is(err, ErrNoShard):
			return "", fmt.Errorf("shard: partition %q: %w", partition, err)
		}
	}
	if r.cfg.fallback != "" {
		return r.cfg.fallback, nil
	}
	return "", fmt.Errorf("%w %q", ErrNoShard, partition)
}

// For returns the store of a partition's shard (see ShardOf): the store
// whose documents hold the partition's read models, and whose processors
// project its events.
func (r *Router[S]) For(ctx context.Context, partition string) (S, error) {
	name, err := r.ShardOf(ctx, partition)
	if err != nil {
		var zero S
		return zero, err
	}
	return r.shards[name], nil
}

// Shard returns the store of the named shard, and whether there is one.
func (r *Router[S]) Shard(name string) (S, bool) {
	s, ok := r.shards[name]
	return s, ok
}

// Names returns the names of the shards, in order.
func (r *Router[S]) Names() []string { return slices.Clone(r.names) }

// All returns the shards, by name in order: run a processor per shard
// over it, or read each shard's log.
func (r *Router[S]) All() iter.Seq2[string, S] {
	return func(yield func(string, S) bool) {
		for _, name := range r.names {
			if !yield(name, r.shards[name]) {
				return
			}
		}
	}
}

// AppendToStream appends to the stream in the store of the partition's
// shard (eventstore.InPartition; eventstore.DefaultPartition when not
// given).
func (r *Router[S]) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	s, err := r.For(ctx, backend.ResolveAppend(opts...).Partition)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.AppendToStream(ctx, stream, events, opts...)
}

// ReadStream reads the stream from the store of the partition's shard.
func (r *Router[S]) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	s, err := r.For(ctx, backend.ResolveRead(opts...).Partition)
	if err != nil {
		return func(yield func(emmett.RecordedEvent, error) bool) { yield(emmett.RecordedEvent{}, err) }
	}
	return s.ReadStream(ctx, stream, opts...)
}

// StreamVersion returns the stream's version in the store of the
// partition's shard.
func (r *Router[S]) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	s, err := r.For(ctx, backend.ResolveRead(opts...).Partition)
	if err != nil {
		return 0, false, err
	}
	return s.StreamVersion(ctx, stream, opts...)
}

// ReadAll reads the global log of the partition's shard, restricted to
// the partition (eventstore.InPartition). Without a partition it reads
// the one shard's whole log, or, with several shards, fails with
// ErrNoGlobalOrder: read each shard's log through All.
func (r *Router[S]) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	s, err := r.global(ctx, backend.ResolveReadAll(opts...).Partition, "ReadAll")
	if err != nil {
		return func(yield func(emmett.RecordedEvent, error) bool) { yield(emmett.RecordedEvent{}, err) }
	}
	return s.ReadAll(ctx, after, opts...)
}

// ResolvePosition resolves p on the one shard; with several shards it
// fails with ErrNoGlobalOrder, as a position means something only on the
// shard that gave it: resolve it on that shard's store (For, Shard).
func (r *Router[S]) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	s, err := r.global(ctx, "", "ResolvePosition")
	if err != nil {
		return eventstore.Position{}, err
	}
	return s.ResolvePosition(ctx, p)
}

// global is the store of a read of the global log: the partition's shard,
// or the only one.
func (r *Router[S]) global(ctx context.Context, partition, op string) (S, error) {
	if partition != "" {
		return r.For(ctx, partition)
	}
	if len(r.names) == 1 {
		return r.shards[r.names[0]], nil
	}
	var zero S
	return zero, fmt.Errorf("%w: %s over %d shards; give a partition (eventstore.InPartition) or read each shard (Router.All)", ErrNoGlobalOrder, op, len(r.names))
}

// PerShard holds a value of each shard: a processor, a reader of its
// documents. Build makes one; For finds a partition's.
type PerShard[T any] struct {
	shardOf func(ctx context.Context, partition string) (string, error)
	values  map[string]T
	names   []string
}

// Build calls build for each shard of r, in name order, and keeps what it
// returns: one processor per shard, say, to run each and to wait for the
// one of a tenant's shard.
//
//	procs := shard.Build(router, func(name string, s *postgres.Store) *projection.Processor {
//		return projection.NewProjectionProcessor(s.Processors(), s.Source(), summaries)
//	})
//	for _, p := range procs.All() {
//		go p.Run(ctx)
//	}
//	p, err := procs.For(ctx, tenant) // then p.WaitFor(ctx, res.Position)
func Build[S eventstore.Store, T any](r *Router[S], build func(name string, store S) T) *PerShard[T] {
	p := &PerShard[T]{shardOf: r.ShardOf, values: make(map[string]T, len(r.names)), names: r.names}
	for name, s := range r.All() {
		p.values[name] = build(name, s)
	}
	return p
}

// For returns the value of a partition's shard (see Router.ShardOf).
func (p *PerShard[T]) For(ctx context.Context, partition string) (T, error) {
	name, err := p.shardOf(ctx, partition)
	if err != nil {
		var zero T
		return zero, err
	}
	return p.values[name], nil
}

// Get returns the value of the named shard, and whether there is one.
func (p *PerShard[T]) Get(name string) (T, bool) {
	v, ok := p.values[name]
	return v, ok
}

// All returns the values, by shard name in order.
func (p *PerShard[T]) All() iter.Seq2[string, T] {
	return func(yield func(string, T) bool) {
		for _, name := range p.names {
			if !yield(name, p.values[name]) {
				return
			}
		}
	}
}
