// Package tallylib is the projection of the test modules: it counts the
// events of each document, and misbehaves as each module chooses on events
// of type "Boom".
//
// Its transformation renames "Renamed" (and "Boom") events "Transformed",
// splits "Split" into two "Half" events, drops "Drop" and rejects
// "Reject".
//
// Events: any type is counted in the document of its stream (and listed
// in its types, with ".vN" after the name at schema version N above 1), or in those
// listed in the data's "ids"; "Delete" deletes the document; "Reject"
// makes the module report an error; "Boom" calls the module's misbehave
// function.
package tallylib

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// Tally is the document.
type Tally struct {
	Count int      `json:"count"`
	Types []string `json:"types"`
}

type data struct {
	IDs []string `json:"ids"`
}

// Register registers the projection; misbehave runs on "Boom" events (nil:
// they are counted like any other) and, when it returns, its result is
// returned as the evolved document as it is (and passed on as it is by
// the document's later events in the same call).
func Register(misbehave func() []byte) {
	evolve := func(document []byte, e guest.Event) ([]byte, error) {
		switch e.Type {
		case "Boom":
			if misbehave != nil {
				return misbehave(), nil
			}
		case "Delete":
			return nil, nil
		case "Reject":
			return nil, errors.New("rejected by the tally module")
		}
		doc := Tally{Types: []string{}}
		if document != nil {
			if err := json.Unmarshal(document, &doc); err != nil {
				// What misbehave returned, before later events of the
				// document in the same call: pass it on to the host.
				return document, nil
			}
		}
		doc.Count++
		typ := e.Type
		if e.SchemaVersion > 1 {
			typ += ".v" + strconv.Itoa(e.SchemaVersion)
		}
		doc.Types = append(doc.Types, typ)
		return json.Marshal(doc)
	}
	guest.RegisterProjection(guest.Projection{
		DocumentIDs: func(e guest.Event) ([]string, error) {
			var d data
			if err := e.Decode(&d); err != nil || d.IDs == nil {
				return []string{e.StreamName}, nil
			}
			return d.IDs, nil
		},
		Evolve: guest.EvolveJSON(evolve),
	})
	guest.RegisterTransform(guest.Transform{
		EventTypes: []string{"Boom", "Renamed", "Split", "Drop", "Reject"},
		Transform: func(e guest.Event) ([]guest.Event, error) {
			switch e.Type {
			case "Boom":
				if misbehave != nil {
					misbehave()
				}
			case "Split":
				first, err := e.With("Half", map[string]int{"half": 1})
				if err != nil {
					return nil, err
				}
				second, err := e.With("Half", map[string]int{"half": 2})
				second.Metadata = json.RawMessage(`{"split":true}`)
				return []guest.Event{first, second}, err
			case "Drop":
				return nil, nil
			case "Reject":
				return nil, errors.New("rejected by the tally module")
			}
			e.Type = "Transformed"
			return []guest.Event{e}, nil
		},
	})
}
