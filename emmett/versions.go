package emmett

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// The shape of a stored event changes over the years; its stored form
// never does (it is history). A registry holds what reads need to bring
// old forms up to date, as data: each event type has a schema version
// (stored with each event, message_schema_version in the SQL stores; 1
// for a type that never changed), and for each older version an upcaster
// that takes its JSON one version up. Decoding a stored event runs the
// chain from its version to the current one (v1 → v2 → v3), then decodes
// the current form into the Go type: every read path that decodes
// through the registry (aggregates and command handlers, processors on
// every feed) reads old events as current ones.
//
// A type stored under an old name (the Go type renamed, and its
// EventTyper name with it) decodes as the new one (Renamed). Writes store
// the current version, or an older one that a downcaster makes (Downcast),
// for a consumer that still expects it, such as another service on the
// same database.
//
// The methods that declare these (Upcast, Renamed, Downcast) return a new
// registry and leave the one they are called on unchanged: build the
// registry once, at start-up.

// ErrUnknownSchemaVersion is matched by the error of decoding an event
// stored at a schema version the registry cannot read: newer than the
// type's current version, or older with no upcaster.
var ErrUnknownSchemaVersion = errors.New("emmett: unknown event schema version")

// UpcastError reports an upcaster's failure on a stored event. It unwraps
// to the upcaster's error and matches ErrMalformedEvent.
type UpcastError struct {
	// Type is the event's type name; From the version the upcaster took.
	Type string
	From int
	// Err is the upcaster's error.
	Err error
}

// Error names the type, the versions and the cause.
func (e *UpcastError) Error() string {
	return fmt.Sprintf("emmett: upcasting event %q from version %d to %d: %v", e.Type, e.From, e.From+1, e.Err)
}

// Unwrap returns the upcaster's error.
func (e *UpcastError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformedEvent.
func (e *UpcastError) Is(target error) bool { return target == ErrMalformedEvent }

// Upcaster takes an event from one schema version to the next. Make one
// with UpcastJSON, from a Go function on the versions' types, or with
// UpcastFunc, from a function on their JSON.
type Upcaster struct {
	raw func(data []byte) ([]byte, error) // UpcastFunc
	// UpcastJSON's:
	oldType reflect.Type
	newOld  func() any             // a pointer to a new Old
	convert func(any) (any, error) // an Old value to a New one
}

// UpcastFunc returns an Upcaster that takes the JSON of the old version
// to the JSON of the next. f must not keep or change data.
func UpcastFunc(f func(data []byte) ([]byte, error)) Upcaster { return Upcaster{raw: f} }

// UpcastJSON returns an Upcaster written with Go types: the old form is
// decoded into Old and converted with f. A chain of them decodes a stored
// event once: each step's New is given to the next step (as its Old when
// the types match, through JSON otherwise), and the last step's New, when
// it is the registered type, is the decoded event, with no JSON in
// between.
func UpcastJSON[Old, New any](f func(Old) (New, error)) Upcaster {
	return Upcaster{
		oldType: reflect.TypeFor[Old](),
		newOld:  func() any { return new(Old) },
		convert: func(v any) (any, error) { return f(v.(Old)) },
	}
}

func (u Upcaster) valid() bool { return u.raw != nil || u.convert != nil }

// apply takes data one version up, as JSON.
func (u Upcaster) apply(data []byte) ([]byte, error) {
	if u.raw != nil {
		return u.raw(data)
	}
	v, err := u.typed(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// typed decodes data into Old and converts it.
func (u Upcaster) typed(data []byte) (any, error) {
	p := u.newOld()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	return u.convert(reflect.ValueOf(p).Elem().Interface())
}

// step converts v, a value of the previous step, with a typed upcaster: v
// itself when it is an Old, through JSON otherwise.
func (u Upcaster) step(v any) (any, error) {
	if reflect.TypeOf(v) == u.oldType {
		return u.convert(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return u.typed(data)
}

// clone returns a copy of r whose eventTypes can be changed.
func (r *Events[E]) clone() *Events[E] {
	c := &Events[E]{byName: make(map[string]*eventType, len(r.byName)), byType: make(map[reflect.Type]*eventType, len(r.byType)),
		names: r.names, aliases: maps.Clone(r.aliases)}
	copies := map[*eventType]*eventType{}
	for name, et := range r.byName {
		cp := *et
		cp.up = slices.Clone(et.up)
		copies[et] = &cp
		c.byName[name] = &cp
	}
	for t, et := range r.byType {
		c.byType[t] = copies[et]
	}
	return c
}

func (r *Events[E]) mustType(method, typeName string) *eventType {
	et, ok := r.byName[typeName]
	if !ok {
		panic(fmt.Sprintf("emmett.Events.%s: type %q is not registered", method, typeName))
	}
	return et
}

// Upcast returns a registry that reads events of typeName stored at
// schema version from, taking them to version from+1 with up. Upcasters
// are declared in order, from version 1: the first makes the type's
// current version 2, the next (from 2) 3, and so on. Encode writes the
// current version. Declaring them out of order, or for an unknown type,
// panics: the registry is built from code.
func (r *Events[E]) Upcast(typeName string, from int, up Upcaster) *Events[E] {
	c := r.clone()
	et := c.mustType("Upcast", typeName)
	if !up.valid() || from != et.current() {
		panic(fmt.Sprintf("emmett.Events.Upcast: %q: the next upcaster is from version %d, not %d", typeName, et.current(), from))
	}
	et.up = append(et.up, up)
	if et.write == 0 || et.down == nil {
		et.write = 0 // writes store the new current version
	}
	return c
}

// Renamed returns a registry that decodes events stored under oldName as
// events of typeName (at the version they were stored at): the type was
// renamed. An old name that is registered, or already renamed, panics.
func (r *Events[E]) Renamed(oldName, typeName string) *Events[E] {
	c := r.clone()
	c.mustType("Renamed", typeName)
	if _, ok := c.byName[oldName]; ok {
		panic(fmt.Sprintf("emmett.Events.Renamed: %q is a registered type name", oldName))
	}
	if _, ok := c.aliases[oldName]; ok {
		panic(fmt.Sprintf("emmett.Events.Renamed: %q is renamed already", oldName))
	}
	if c.aliases == nil {
		c.aliases = map[string]string{}
	}
	c.aliases[oldName] = typeName
	return c
}

// Downcast returns a registry that writes events of typeName at the older
// schema version to, made from the current form's JSON by down, for a
// consumer that still expects it. Reads take them up again through the
// upcasters. A version that is not older than the current one panics.
func (r *Events[E]) Downcast(typeName string, to int, down func(data []byte) ([]byte, error)) *Events[E] {
	c := r.clone()
	et := c.mustType("Downcast", typeName)
	if down == nil || to < 1 || to >= et.current() {
		panic(fmt.Sprintf("emmett.Events.Downcast: %q: version %d is not older than the current one, %d", typeName, to, et.current()))
	}
	et.write, et.down = to, down
	return c
}

// SchemaVersion returns the current schema version of typeName (1 for a
// type without upcasters), and whether the type is registered.
func (r *Events[E]) SchemaVersion(typeName string) (int, bool) {
	et, ok := r.byName[typeName]
	if !ok {
		return 0, false
	}
	return et.current(), true
}

// lookup returns the registered type of a stored type name, renamed or
// not.
func (r *Events[E]) lookup(typeName string) (*eventType, bool) {
	if et, ok := r.byName[typeName]; ok {
		return et, true
	}
	if to, ok := r.aliases[typeName]; ok {
		return r.byName[to], true
	}
	return nil, false
}

// Upgrade returns the JSON of an event stored under typeName at schema
// version (0 for the current version) in the current form of its
// registered type, with that type's name and current version: the
// upcasters from version on, run in order. It is what a reader that serves
// JSON serves (httpapi.WithUpgrade).
func (r *Events[E]) Upgrade(typeName string, version int, data []byte) (string, int, []byte, error) {
	et, ok := r.lookup(typeName)
	if !ok {
		return "", 0, nil, &UnknownEventTypeError{Type: typeName, Known: r.Names()}
	}
	current := et.current()
	if version == 0 {
		version = current
	}
	if version < 1 || version > current {
		return "", 0, nil, fmt.Errorf("%w: event %q stored at version %d; the registry reads versions 1 to %d", ErrUnknownSchemaVersion, typeName, version, current)
	}
	for v := version; v < current; v++ {
		next, err := et.up[v-1].apply(data)
		if err != nil {
			return "", 0, nil, &UpcastError{Type: et.name, From: v, Err: err}
		}
		if !json.Valid(next) {
			return "", 0, nil, &UpcastError{Type: et.name, From: v, Err: errors.New("the upcaster returned invalid JSON")}
		}
		data = next
	}
	return et.name, current, data, nil
}

// DecodeVersion decodes data stored under typeName at schema version (0
// for the current version) into a value of the registered Go type, through
// the upcasters. Errors match ErrUnknownEventType, ErrUnknownSchemaVersion
// or ErrMalformedEvent.
func (r *Events[E]) DecodeVersion(typeName string, version int, data []byte) (E, error) {
	var zero E
	et, ok := r.lookup(typeName)
	if ok && (version == 0 || version == et.current()) {
		// The current version, the common case: no upcasting.
		return decode[E](et, et.name, data)
	}
	if ok && version >= 1 && version < et.current() && et.typedFrom(version) {
		v, err := et.decodeTyped(version, data)
		if err != nil {
			return zero, err
		}
		if ev, ok := v.(E); ok {
			return ev, nil
		}
		return zero, &UpcastError{Type: et.name, From: et.current() - 1, Err: fmt.Errorf("the last upcaster gives %T, not an event", v)}
	}
	name, _, current, err := r.Upgrade(typeName, version, data)
	if err != nil {
		return zero, err
	}
	return r.Decode(name, current)
}

// typedFrom reports whether every upcaster from version on is typed.
func (et *eventType) typedFrom(version int) bool {
	for _, u := range et.up[version-1:] {
		if u.convert == nil {
			return false
		}
	}
	return true
}

// decodeTyped runs a chain of typed upcasters on data, stored at version:
// one decoding, then Go conversions, and the registered type's value
// (a pointer for a pointer type).
func (et *eventType) decodeTyped(version int, data []byte) (any, error) {
	first := et.up[version-1]
	v, err := first.typed(data)
	if err != nil {
		return nil, &UpcastError{Type: et.name, From: version, Err: err}
	}
	for i, u := range et.up[version:] {
		if v, err = u.step(v); err != nil {
			return nil, &UpcastError{Type: et.name, From: version + 1 + i, Err: err}
		}
	}
	if reflect.TypeOf(v) != et.elem {
		// The last step gives another type than the registered one:
		// through its JSON.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &UpcastError{Type: et.name, From: et.current() - 1, Err: err}
		}
		p := reflect.New(et.elem)
		if err := json.Unmarshal(b, p.Interface()); err != nil {
			return nil, &DecodeError{Type: et.name, Err: err}
		}
		v = p.Elem().Interface()
	}
	if et.ptr {
		p := reflect.New(et.elem)
		p.Elem().Set(reflect.ValueOf(v))
		return p.Interface(), nil
	}
	return v, nil
}

// EncodeVersion returns the type name, the schema version and the JSON
// encoding of event as writes store it: the current version, or the older
// one Downcast declared.
func (r *Events[E]) EncodeVersion(event E) (typeName string, version int, data []byte, err error) {
	name, data, err := r.Encode(event)
	if err != nil {
		return "", 0, nil, err
	}
	et := r.byName[name]
	if et.write == 0 {
		return name, et.current(), data, nil
	}
	if data, err = et.down(data); err != nil {
		return "", 0, nil, fmt.Errorf("emmett: downcasting event %q to version %d: %w", name, et.write, err)
	}
	return name, et.write, data, nil
}

// ReadNames returns the type names events of the registry are stored
// under: the registered ones, in registration order, then the old names
// of renamed types (see Renamed), sorted. Processors select the events
// they handle by them.
func (r *Events[E]) ReadNames() []string {
	return append(r.Names(), slices.Sorted(maps.Keys(r.aliases))...)
}

// Schema is what a registry reads, as data: each registered type name
// with its current schema version, and the old names of renamed types.
// The command-line tool's check (emmett check -schema) reads it as JSON,
// to check a store's events against an application's registry without
// its code.
type Schema struct {
	// Types maps each registered type name to its current version.
	Types map[string]int `json:"types"`
	// Renamed maps each old type name to the registered one.
	Renamed map[string]string `json:"renamed,omitempty"`
}

// Schema returns the registry's schema.
func (r *Events[E]) Schema() Schema {
	s := Schema{Types: make(map[string]int, len(r.byName))}
	for name, et := range r.byName {
		s.Types[name] = et.current()
	}
	if len(r.aliases) > 0 {
		s.Renamed = maps.Clone(r.aliases)
	}
	return s
}

// MergeSchemas returns the schema of an application with several
// registries: the types and renamed types of all of them.
func MergeSchemas(schemas ...Schema) Schema {
	merged := Schema{Types: map[string]int{}}
	for _, s := range schemas {
		maps.Copy(merged.Types, s.Types)
		if len(s.Renamed) > 0 {
			if merged.Renamed == nil {
				merged.Renamed = map[string]string{}
			}
			maps.Copy(merged.Renamed, s.Renamed)
		}
	}
	return merged
}

// Reads reports whether the schema reads events stored under typeName at
// schema version (0 for the current one), and if not, why.
func (s Schema) Reads(typeName string, version int) error {
	name := typeName
	if to, ok := s.Renamed[typeName]; ok {
		name = to
	}
	current, ok := s.Types[name]
	if !ok {
		return &UnknownEventTypeError{Type: typeName, Known: slices.Sorted(maps.Keys(s.Types))}
	}
	if version < 0 || version > current {
		return fmt.Errorf("%w: event %q stored at version %d; the registry reads versions 1 to %d", ErrUnknownSchemaVersion, typeName, version, current)
	}
	return nil
}

// UpgradeFunc takes a stored event's type name, schema version and data to
// the current ones: the signature of Events.Upgrade, which readers that
// serve or print JSON take (httpapi.WithUpgrade, cli.WithUpgrade).
type UpgradeFunc func(typeName string, version int, data []byte) (string, int, []byte, error)

// UpgradeAny returns an UpgradeFunc for an application with several
// registries: an event is upgraded by the first of upgrades that knows
// its type; one that none knows fails with the last one's error, which
// matches ErrUnknownEventType.
func UpgradeAny(upgrades ...UpgradeFunc) UpgradeFunc {
	return func(typeName string, version int, data []byte) (string, int, []byte, error) {
		err := error(&UnknownEventTypeError{Type: typeName})
		for _, up := range upgrades {
			var name string
			var v int
			var out []byte
			if name, v, out, err = up(typeName, version, data); !errors.Is(err, ErrUnknownEventType) {
				return name, v, out, err
			}
		}
		return "", 0, nil, err
	}
}

// Upgraded returns e in the current form of its type, by upgrade (an
// application registry's Events.Upgrade): type name, schema version and
// data replaced, the rest as recorded. The error names the event.
func (e RecordedEvent) Upgraded(upgrade UpgradeFunc) (RecordedEvent, error) {
	typ, version, data, err := upgrade(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return RecordedEvent{}, fmt.Errorf("event %s (stream %q, position %d): %w", e.MessageID, e.StreamName, e.StreamPosition, err)
	}
	e.Type, e.SchemaVersion, e.Data = typ, version, data
	return e, nil
}
