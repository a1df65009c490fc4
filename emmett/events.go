package emmett

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// EventTyper is implemented by event types that choose their own stored type
// name. Without it, an event is stored under its Go type name.
//
// The name is part of the stored data: once events are written under it, keep
// it, even when the Go type is renamed.
type EventTyper interface {
	// EventType returns the stable name events of this type are stored
	// under. NewEvents calls it once, on the sample it is given, so it
	// must not depend on the value's fields.
	EventType() string
}

// Events is a registry of one family of events: every Go type that implements
// E, with the stable type name each is stored under. It encodes events to JSON
// and decodes stored JSON back into the right Go type.
//
// A registry is immutable once built and safe for concurrent use.
type Events[E any] struct {
	byName  map[string]*eventType
	byType  map[reflect.Type]*eventType
	names   []string
	aliases map[string]string // old type name -> registered one (Renamed)
}

type eventType struct {
	name string
	typ  reflect.Type // the registered Go type (may be a pointer type)
	elem reflect.Type // the type decoded into (typ, or typ.Elem() for pointers)
	ptr  bool
	// up[v-1] takes the JSON of schema version v to v+1 (Upcast).
	up []Upcaster
	// write is the older version writes store, made by down (Downcast); 0
	// for the current one.
	write int
	down  func([]byte) ([]byte, error)
}

// current returns the type's current schema version.
func (et *eventType) current() int { return len(et.up) + 1 }

// NewEvents builds the registry of an event family from one sample value of
// each event type (a zero value is fine). The type name of each is the one its
// EventType method returns, or else its Go type name.
//
// NewEvents panics on a nil sample, an unnamed type or two types with the same
// name: the registry is built once, at start-up, from code, and such a mistake
// is a programming error.
func NewEvents[E any](samples ...E) *Events[E] {
	r := &Events[E]{
		byName: make(map[string]*eventType, len(samples)),
		byType: make(map[reflect.Type]*eventType, len(samples)),
	}
	for _, s := range samples {
		v := any(s)
		if v == nil {
			panic("emmett.NewEvents: nil sample event")
		}
		t := reflect.TypeOf(v)
		et := &eventType{typ: t, elem: t}
		if t.Kind() == reflect.Pointer {
			et.ptr, et.elem = true, t.Elem()
		}
		if typer, ok := v.(EventTyper); ok {
			et.name = typer.EventType()
		} else {
			et.name = et.elem.Name()
		}
		if et.name == "" {
			panic(fmt.Sprintf("emmett.NewEvents: event type %s has no name; give it an EventType method", t))
		}
		if prev, dup := r.byName[et.name]; dup {
			panic(fmt.Sprintf("emmett.NewEvents: type name %q used by both %s and %s", et.name, prev.typ, t))
		}
		if _, dup := r.byType[t]; dup {
			panic(fmt.Sprintf("emmett.NewEvents: %s registered twice", t))
		}
		r.byName[et.name] = et
		r.byType[t] = et
		r.names = append(r.names, et.name)
	}
	return r
}

// Names returns the registered type names, in registration order.
func (r *Events[E]) Names() []string { return slices.Clone(r.names) }

// Has reports whether typeName is registered, or is the old name of a
// renamed type (see Renamed).
func (r *Events[E]) Has(typeName string) bool {
	_, ok := r.lookup(typeName)
	return ok
}

// TypeName returns the type name event is stored under.
func (r *Events[E]) TypeName(event E) (string, error) {
	v := any(event)
	et, ok := r.byType[reflect.TypeOf(v)]
	if !ok {
		return "", &UnknownEventTypeError{GoType: fmt.Sprintf("%T", v), Known: r.Names()}
	}
	return et.name, nil
}

// Encode returns the type name and the JSON encoding of event.
func (r *Events[E]) Encode(event E) (typeName string, data []byte, err error) {
	name, err := r.TypeName(event)
	if err != nil {
		return "", nil, err
	}
	data, err = json.Marshal(event)
	if err != nil {
		return "", nil, fmt.Errorf("emmett: encoding event %q: %w", name, err)
	}
	return name, data, nil
}

// Decode decodes data of the current schema version stored under typeName
// into a value of the registered Go type (DecodeVersion decodes older
// versions). An unknown type name gives an error matching
// ErrUnknownEventType; data that does not decode gives a *DecodeError
// matching ErrMalformedEvent.
func (r *Events[E]) Decode(typeName string, data []byte) (E, error) {
	var zero E
	et, ok := r.lookup(typeName)
	if !ok {
		return zero, &UnknownEventTypeError{Type: typeName, Known: r.Names()}
	}
	return decode[E](et, typeName, data)
}

// decode decodes data of et's current schema version, stored under
// typeName, into a value of et's Go type.
func decode[E any](et *eventType, typeName string, data []byte) (E, error) {
	p := reflect.New(et.elem)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		var zero E
		return zero, &DecodeError{Type: typeName, Err: err}
	}
	if et.ptr {
		return p.Interface().(E), nil
	}
	return p.Elem().Interface().(E), nil
}

// DecodeRecorded decodes a recorded event's data into its Go type, keeping the
// envelope: from the schema version it was stored at (rec.SchemaVersion; 0
// for the current one) through the upcasters, and under its renamed type's
// name if it was stored under an old one.
func (r *Events[E]) DecodeRecorded(rec RecordedEvent) (Recorded[E], error) {
	ev, err := r.DecodeVersion(rec.Type, rec.SchemaVersion, rec.Data)
	if err != nil {
		return Recorded[E]{}, err
	}
	return Recorded[E]{Event: ev, RecordedEvent: rec}, nil
}
