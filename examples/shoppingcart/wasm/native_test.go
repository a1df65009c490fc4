package wasm_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/emmett-go/emmett/emmett"
	cartdetails "github.com/emmett-go/emmett/examples/shoppingcart/wasm/cartdetails/details"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// nativeDetails runs the cartdetails module's code (package details, with
// the guest SDK's codec) natively, as a projection.Projection: what the
// module does, in Go, without WebAssembly and without the ABI (no
// envelopes encoded and read, no results read and copied). Each batch
// reads each document once, folds all its events into it, and writes it
// once, as the module is called. The benchmarks run it as a second
// baseline.
type nativeDetails struct{ collection string }

var _ projection.Projection = nativeDetails{}

func (p nativeDetails) Name() string         { return p.collection }
func (p nativeDetails) EventTypes() []string { return slices.Clone(cartdetails.EventTypes) }

func (p nativeDetails) Reset(ctx context.Context, tx projection.Tx) error {
	return tx.Documents().DeleteAll(ctx, p.collection)
}

func (p nativeDetails) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	byID := map[string][]guest.Event{}
	var ids []string
	for _, rec := range events {
		if !slices.Contains(cartdetails.EventTypes, rec.Type) {
			continue
		}
		if _, ok := byID[rec.StreamName]; !ok {
			ids = append(ids, rec.StreamName)
		}
		byID[rec.StreamName] = append(byID[rec.StreamName], guest.Event{
			Type: rec.Type, Data: rec.Data, StreamName: rec.StreamName, StreamPosition: rec.StreamPosition,
			GlobalPosition: rec.GlobalPosition, TransactionID: rec.TransactionID, MessageID: rec.MessageID,
			SchemaVersion: max(rec.SchemaVersion, 1), Created: rec.Created,
		})
	}
	slices.Sort(ids)
	docs := map[string]*cartdetails.ShoppingCartDetails{}
	decode := func(id string, data []byte) error {
		doc := new(cartdetails.ShoppingCartDetails)
		if err := guest.Unmarshal(data, doc); err != nil {
			return fmt.Errorf("decoding document %q: %w", id, err)
		}
		docs[id] = doc
		return nil
	}
	store := tx.Documents()
	batch, _ := store.(projection.BatchDocumentStore)
	if batch != nil {
		if err := batch.GetMany(ctx, p.collection, ids, decode); err != nil {
			return err
		}
	} else {
		for _, id := range ids {
			data, found, err := store.Get(ctx, p.collection, id)
			if err != nil {
				return err
			}
			if found {
				if err := decode(id, data); err != nil {
					return err
				}
			}
		}
	}
	var puts []projection.Document
	for _, id := range ids {
		doc := docs[id]
		for _, e := range byID[id] {
			var err error
			if doc, err = cartdetails.Evolve(doc, e); err != nil {
				return err
			}
		}
		if doc == nil {
			if err := store.Delete(ctx, p.collection, id); err != nil {
				return err
			}
			continue
		}
		data, err := guest.Marshal(doc)
		if err != nil {
			return err
		}
		if batch != nil {
			puts = append(puts, projection.Document{ID: id, Data: data})
		} else if err := store.Put(ctx, p.collection, id, data); err != nil {
			return err
		}
	}
	if len(puts) > 0 {
		return batch.PutMany(ctx, p.collection, puts)
	}
	return nil
}
