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
package emmett
