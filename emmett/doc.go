// Package emmett is the vocabulary of Emmett for Go: deciders, the event type
// registry, recorded-event envelopes and metadata, and the errors shared by
// every other package. It does no I/O.
//
// A domain is modelled as a [Decider]: pure Decide and Evolve functions over
// the user's own command, event and state types. Events of one family share a
// (usually sealed) interface, and an explicit [Events] registry maps stable
// type names to the Go types, so that stored JSON decodes back into the right
// struct:
//
//	type CartEvent interface{ isCartEvent() }
//
//	var cartEvents = emmett.NewEvents[CartEvent](
//		ProductItemAdded{}, CartConfirmed{},
//	)
//
// There is no global registry and no init-time registration: every registry is
// a value the application builds and passes where it is needed.
//
// Stored events keep the shape they were written in; the registry reads old
// shapes as current ones. Each event type has a schema version, stored with
// each event, and the registry's upcasters take an old version's data up,
// one version at a time ([Events.Upcast], [UpcastJSON]); a renamed type keeps
// reading its old name ([Events.Renamed]); writes store the current version,
// or an older one a [Events.Downcast] makes for a consumer that still expects
// it. Every read path that decodes through the registry (aggregate replay,
// command handlers, processors on every feed, the HTTP feed with
// httpapi.WithUpgrade) reads old events as current ones, and
// eventstore.Check (emmett check) finds stored events the registry can no
// longer read.
package emmett
