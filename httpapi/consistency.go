package httpapi

import (
	"net/http"

	"github.com/emmett-go/emmett/eventstore"
)

// MinPositionHeader names the request header with which a client asks to
// read its own writes: the position an append gave it (an event's
// position, or its bare globalPosition). See ReadYourWrites.
const MinPositionHeader = "X-Min-Position"

// ReadYourWrites wraps h so that a request with a position in the
// MinPositionHeader header is handled with a context carrying it
// (eventstore.WithMinPosition): its reads through a store that reads from
// a replica (postgres.Replica: stream pages, the log, documents) see at
// least that position, waiting for the replica or reading from the
// primary. Stores that read from their primary ignore it. A header that
// is not a position is answered 400 Bad Request as problem details.
//
//	mux.Handle("/events/", httpapi.ReadYourWrites(http.StripPrefix("/events", httpapi.NewStreams(replica))))
func ReadYourWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		value := r.Header.Get(MinPositionHeader)
		if value == "" {
			h.ServeHTTP(w, r)
			return
		}
		pos, err := eventstore.ParsePosition(value)
		if err != nil {
			var problems *Problems // the built-in mapping: 400
			problems.WriteError(w, r, &InputError{In: InHeader, Name: MinPositionHeader, Value: value, Reason: "not a position", Err: err})
			return
		}
		h.ServeHTTP(w, r.WithContext(eventstore.WithMinPosition(r.Context(), pos)))
	})
}
