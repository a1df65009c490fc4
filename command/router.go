package command

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/emmett-go/emmett/eventstore"
)

// ErrNoRoute is returned by Router.Send for a command whose type has no
// handler.
var ErrNoRoute = errors.New("command: no handler for the command's type")

// Router sends commands, in process, to the handlers registered for their
// types (with Route or RouteDecider). Workflows dispatch their commands
// through one. It is safe for concurrent use.
type Router struct {
	mu     sync.RWMutex
	routes map[reflect.Type]route
	ifaces []reflect.Type // the interface types among routes, in order of registration
}

type route func(ctx context.Context, cmd any, opts []eventstore.AppendOption) error

// NewRouter returns a router without routes.
func NewRouter() *Router { return &Router{routes: map[reflect.Type]route{}} }

// Route registers handle for the commands of type T: a concrete type, or
// an interface type that serves every command implementing it which has no
// route of its own. A later route for T replaces the earlier one. Send
// passes its append options (an idempotency key, metadata) on to handle,
// which should give them to its handler's append.
func Route[T any](r *Router, handle func(ctx context.Context, cmd T, opts ...eventstore.AppendOption) error) {
	t := reflect.TypeFor[T]()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.routes[t]; !ok && t.Kind() == reflect.Interface {
		r.ifaces = append(r.ifaces, t)
	}
	r.routes[t] = func(ctx context.Context, cmd any, opts []eventstore.AppendOption) error {
		return handle(ctx, cmd.(T), opts...)
	}
}

// RouteDecider registers h for the commands of type T (which must be
// assignable to h's command type C; RouteDecider panics otherwise), each
// handled on the stream that stream names.
func RouteDecider[T, S, C, E any](r *Router, h *DeciderHandler[S, C, E], stream func(T) string) {
	t, c := reflect.TypeFor[T](), reflect.TypeFor[C]()
	if !t.AssignableTo(c) {
		panic(fmt.Sprintf("command: RouteDecider: %v is not a command of the handler (%v)", t, c))
	}
	Route(r, func(ctx context.Context, cmd T, opts ...eventstore.AppendOption) error {
		_, err := h.Handle(ctx, stream(cmd), any(cmd).(C), opts...)
		return err
	})
}

// Send hands cmd to the handler registered for its type (its dynamic type,
// or else the first interface registered that it implements), with opts
// for its append; the handler's error is returned as it is. A command
// without a route fails with an error matching ErrNoRoute.
func (r *Router) Send(ctx context.Context, cmd any, opts ...eventstore.AppendOption) error {
	h, err := r.lookup(cmd)
	if err != nil {
		return err
	}
	return h(ctx, cmd, opts)
}

// Handles reports whether cmd has a route.
func (r *Router) Handles(cmd any) bool {
	_, err := r.lookup(cmd)
	return err == nil
}

func (r *Router) lookup(cmd any) (route, error) {
	if cmd == nil {
		return nil, fmt.Errorf("%w: nil command", ErrNoRoute)
	}
	t := reflect.TypeOf(cmd)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h, ok := r.routes[t]; ok {
		return h, nil
	}
	for _, i := range r.ifaces {
		if t.Implements(i) {
			return r.routes[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrNoRoute, t)
}
