package httpapi

import (
	"net/http"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// CommandOption configures a command endpoint; see Command.
type CommandOption interface{ applyCommand(*commandConfig) }

// StreamsOption configures the event streaming handler; see NewStreams.
type StreamsOption interface{ applyStreams(*streamsConfig) }

// Option configures both command endpoints and the event streaming handler.
type Option interface {
	CommandOption
	StreamsOption
}

// config is what both kinds of handler share.
type config struct {
	problems     *Problems
	maxBodyBytes int64
	authorize    Authorizer
}

type sharedOption func(*config)

func (o sharedOption) applyCommand(c *commandConfig) { o(&c.config) }
func (o sharedOption) applyStreams(c *streamsConfig) { o(&c.config) }

// WithProblems sets how errors are mapped to problem details and logged
// (see Problems); the built-in mapping when not given.
func WithProblems(p *Problems) Option {
	return sharedOption(func(c *config) { c.problems = p })
}

// WithMaxBodyBytes limits request bodies to n bytes; DefaultMaxBodyBytes
// (1 MiB) when not given or when n <= 0. A larger body is answered 413,
// before it is read when the request's Content-Length is over the limit.
func WithMaxBodyBytes(n int64) Option {
	return sharedOption(func(c *config) { c.maxBodyBytes = n })
}

// WithAuthorizer runs auth on every request, before anything is read from
// or written to the store. On the event streaming endpoints it runs once,
// before the request body is read.
//
// On a command endpoint it runs twice:
//
//   - first with an OpReceiveCommand action (no stream), before the
//     request is decoded: the request alone (its credentials, r.Pattern
//     and r.PathValue) decides, and a refused request is never decoded, so
//     nothing the decode function reads (read models, a price service) is
//     read for it;
//   - then, once decode has named the stream, with an OpCommand action on
//     that stream, before the command handler reads it.
//
// An Authorizer that decides by stream allows OpReceiveCommand (or checks
// there what the request alone tells) and decides on OpCommand.
//
// Without an Authorizer every request is allowed, except that appends over
// the event streaming endpoints stay disabled until AllowAppend is given.
func WithAuthorizer(auth Authorizer) Option {
	return sharedOption(func(c *config) { c.authorize = auth })
}

type streamsOption func(*streamsConfig)

func (o streamsOption) applyStreams(c *streamsConfig) { o(c) }

// WithSource makes the live endpoints follow new events through src (for
// the in-memory store, store.Source(), woken at
// once by each append). Without it, a store that is a backend.Log is
// polled every second; another store has no live endpoints (501).
func WithSource(src projection.Source) StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.source = src })
}

// AllowAppend enables POST /streams/{stream}, which appends events to any
// stream the Authorizer allows. Without it, appends are answered 405.
func AllowAppend() StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.allowAppend = true })
}

// WithAppendValidator makes appends over HTTP (see AllowAppend) call
// validate with the decoded events before appending them; an error refuses
// the append (wrap emmett.ErrValidation for a 400). Use it to accept only
// the event types (and data) that the stream's readers can decode, for
// example with emmett.Events.Has and Decode.
func WithAppendValidator(validate func(r *http.Request, stream string, events []eventstore.EventData) error) StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.validateAppend = validate })
}

// WithUpgrade makes the pages and live streams serve each event in the
// current form of its type: upgrade takes a stored event's type name,
// schema version and data to the current ones. Pass the method of the
// application's registry, emmett.Events.Upgrade, whose upcasters then
// apply to what other services read. Without it, events are served as
// stored; either way, each carries its schemaVersion.
func WithUpgrade(upgrade emmett.UpgradeFunc) StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.upgrade = upgrade })
}

// WithPartition makes every read and append use the given partition of the
// store. The live endpoints follow what their source gives: configure the
// source for the same partition.
func WithPartition(partition string) StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.partition = partition })
}

// WithPageSize sets the number of events in a page when the request does not
// say (def, 100 by default) and the most a request may ask for (max, 1000 by
// default); larger requests are cut to max.
func WithPageSize(def, max int) StreamsOption {
	return streamsOption(func(c *streamsConfig) {
		if def > 0 {
			c.pageSize = def
		}
		if max > 0 {
			c.maxPageSize = max
		}
	})
}

// WithHeartbeat sets how long a live stream may stay silent before the
// handler writes a comment line to keep the connection (and proxies) alive;
// 15 seconds by default.
func WithHeartbeat(d time.Duration) StreamsOption {
	return streamsOption(func(c *streamsConfig) {
		if d > 0 {
			c.heartbeat = d
		}
	})
}

// WithReconnectDelay makes live streams tell clients, in the SSE retry
// field, to wait d before reconnecting after the connection is lost.
// Without it, clients use their own default (about 3 seconds for
// browsers).
func WithReconnectDelay(d time.Duration) StreamsOption {
	return streamsOption(func(c *streamsConfig) { c.retry = d })
}

// WithWriteTimeout bounds each write to a live stream: a client that stops
// reading for longer is disconnected. One minute by default. It overrides
// the http.Server's WriteTimeout for live streams, which would otherwise
// end every stream after that time, and a stream has no write deadline
// between its writes, however long it stays silent (see NewServer).
func WithWriteTimeout(d time.Duration) StreamsOption {
	return streamsOption(func(c *streamsConfig) {
		if d > 0 {
			c.writeTimeout = d
		}
	})
}
