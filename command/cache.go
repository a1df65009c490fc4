package command

import (
	"container/list"
	"sync"

	"github.com/emmett-go/emmett/aggregate"
)

// WithStateCache makes the handler keep the states of the last size
// streams it handled (the least recently used one goes first), each with
// the stream version it was built to. A command on a cached stream is
// decided on the cached state without reading the stream, and appended
// with the cached version as the expected version: when another writer
// (another process, or a command of another handler) appended meanwhile,
// the append is refused, the handler reads the events appended since the
// cached version, folds them in and decides again. A decision that
// appends nothing (a rejection, or nothing to do) has no append to check
// it: the handler reads what was appended since, and decides again on
// the current state, before it answers. So every answer is the one the
// stream's current state gives, as without the cache, and a stream that
// only this handler writes costs no read at all.
//
// The states must be values: Evolve returns a new state without changing
// the one it is given, and neither Decide nor the caller of Handle
// changes a state (Result.State is shared with the cache). A Decider
// whose state holds a map or a slice it changes in place must not be
// cached.
//
// The cache relies on streams being append-only: the events up to a
// cached version never change. A stream archived and then started anew
// under the same name (postgres.Store.ArchiveStream) breaks that: do not
// cache the states of streams that are archived and reused.
//
// A state leaves the cache while a command uses it, and goes back with
// the version the command reached; a command that fails on anything but
// the decision (a lost connection) leaves its stream out, and the next
// one replays it whole. Commands with an idempotency key always replay
// the whole stream, where the first handling's events are found.
func WithStateCache(size int) Option { return func(c *config) { c.cacheSize = size } }

// stateCache is a handler's least-recently-used cache of stream states.
type stateCache[S any] struct {
	mu      sync.Mutex
	size    int
	entries map[cacheKey]*list.Element
	lru     list.List // of *cacheEntry[S], the most recently used first
}

type cacheKey struct{ partition, stream string }

type cacheEntry[S any] struct {
	key   cacheKey
	state aggregate.State[S]
}

func newStateCache[S any](size int) *stateCache[S] {
	if size <= 0 {
		return nil
	}
	return &stateCache[S]{size: size, entries: make(map[cacheKey]*list.Element, size)}
}

// take removes the state of key from the cache and returns it: the
// command that took it owns it until put gives it back.
func (c *stateCache[S]) take(key cacheKey) (aggregate.State[S], bool) {
	return c.get(key, true)
}

// get returns the state of key, taking it out of the cache when remove.
func (c *stateCache[S]) get(key cacheKey, remove bool) (aggregate.State[S], bool) {
	if c == nil {
		return aggregate.State[S]{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return aggregate.State[S]{}, false
	}
	if remove {
		delete(c.entries, key)
		c.lru.Remove(el)
	}
	return el.Value.(*cacheEntry[S]).state, true
}

// peek returns the state of key the cache holds, leaving it there.
func (c *stateCache[S]) peek(key cacheKey) (aggregate.State[S], bool) {
	return c.get(key, false)
}

// put caches the state of key, unless the cache holds a later version of
// it already (a concurrent command on the same stream put it back first).
func (c *stateCache[S]) put(key cacheKey, state aggregate.State[S]) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry[S])
		if e.state.Version < state.Version {
			e.state = state
		}
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry[S]{key: key, state: state})
	if c.lru.Len() > c.size {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry[S]).key)
	}
}
