package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// livePoll is how often the live log polls the store when nothing woke it
// (an append through another process or store).
const livePoll = 250 * time.Millisecond

// liveLog serves the global log after ?after= as Server-Sent Events, one
// event's JSON (eventstore.JSONEvent) each, with its position as the id; a
// reconnecting EventSource resumes after Last-Event-ID.
func (c *Console) liveLog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	text := r.Header.Get("Last-Event-ID")
	if text == "" {
		text = r.URL.Query().Get("after")
	}
	after, err := eventstore.ParsePosition(text)
	if err != nil {
		return inputError{"after: " + err.Error()}
	}
	if after, err = c.store.ResolvePosition(ctx, after); err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("console: the response cannot stream")
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n: live\n\n")
	flusher.Flush()
	err = c.store.Source(projection.PollInterval(livePoll)).Subscribe(ctx, after, func(_ context.Context, b projection.Batch) error {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for _, e := range b.Events {
			data, err := json.Marshal(eventstore.NewJSONEvent(e))
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", eventstore.PositionOf(e), data); err != nil {
				return err
			}
		}
		flusher.Flush()
		return nil
	})
	if ctx.Err() != nil {
		return nil // the client went away
	}
	if err != nil {
		c.cfg.logger.ErrorContext(ctx, "console: live log failed", "error", err)
	}
	return nil
}
