package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/require"
)

// benchInputs is the number of inputs (orders placed) of each round.
const benchInputs = 300

// BenchmarkInputs measures the inputs a workflow's processor handles per
// second, against a hand-written reactor doing the same appends, on
// SQLite and on PostgreSQL:
//
//	go test -run '^$' -bench Inputs -benchtime 5x ./workflow/
//
// Each round appends benchInputs orders (OrderPlaced, each to its own
// stream), then catches up with them, once with checkout's processor and
// once with the reactor, in turns. For each input checkout's processor
// reads the instance's stream, decides, appends the records [received
// OrderPlaced, sent RequestPayment, scheduled PaymentTimedOut], sends
// RequestPayment through the router to a decider handler (which reads the
// payment stream and appends PaymentRequested) and keeps the timeout's
// document. The reactor, on the same events, appends three records of the
// same sizes to a stream of its own, PaymentRequested to another, and puts
// the same document: no reads, no decisions, no idempotency. The ratio is
// the median of the rounds' (reactor time / workflow time).
func BenchmarkInputs(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		require.NoError(b, err)
		defer s.Close()
		benchInputsOn(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		benchInputsOn(b, openPostgres(b, migrated(b)))
	})
}

func benchInputsOn(b *testing.B, store workflow.Store) {
	ctx := context.Background()
	wf := workflow.NewProcessor(store, checkout(time.Hour), inputs, outputs, newRouter(store, nil, nil))
	reactor := projection.NewReactorProcessor(store.Processors(), store.Source(), "hand_written", inputs.ReadNames(), handWritten(store))
	var elapsed [2]time.Duration
	var ratios []float64 // of each round: on a shared machine, the median is steadier than the totals
	for i := 0; b.Loop(); i++ {
		for j := range benchInputs {
			data, err := eventstore.Encode(inputs, []Input{OrderPlaced{OrderID: fmt.Sprint(i, "_", j), Amount: j}}, emmett.Metadata{})
			require.NoError(b, err)
			_, err = store.AppendToStream(ctx, fmt.Sprint("order-", i, "_", j), data)
			require.NoError(b, err)
		}
		// The workflow's reactor: its inputs handled (the deliveries of
		// scheduled messages, none due here, are not measured).
		runs := [2]func(context.Context) error{wf.Reactor().CatchUp, reactor.CatchUp}
		var round [2]time.Duration
		for k := range 2 {
			k = (k + i) % 2 // in turns
			start := time.Now()
			require.NoError(b, runs[k](ctx))
			round[k] = time.Since(start)
			elapsed[k] += round[k]
		}
		ratios = append(ratios, round[1].Seconds()/round[0].Seconds())
	}
	n := float64(b.N * benchInputs)
	b.ReportMetric(n/elapsed[0].Seconds(), "workflow-inputs/s")
	b.ReportMetric(n/elapsed[1].Seconds(), "reactor-inputs/s")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "workflow/reactor")
}

// handWritten is the reactor doing checkout's appends by hand.
func handWritten(store workflow.Store) func(context.Context, emmett.RecordedEvent) error {
	return func(ctx context.Context, rec emmett.RecordedEvent) error {
		placed, err := inputs.DecodeRecorded(rec)
		if err != nil {
			return err
		}
		o := placed.Event.(OrderPlaced)
		timeout, _ := json.Marshal(PaymentTimedOut{OrderID: o.OrderID})
		request, _ := json.Marshal(RequestPayment(o))
		due := time.Now().Add(time.Hour)
		records := []eventstore.EventData{
			{Type: "received:OrderPlaced", Data: rec.Data, Metadata: emmett.Metadata{CausationID: rec.MessageID}.With("emt.source", rec.MessageID)},
			{Type: "sent:RequestPayment", Data: request, Metadata: emmett.Metadata{CausationID: rec.MessageID}},
			{Type: "scheduled:PaymentTimedOut", Data: timeout, Metadata: emmett.Metadata{CausationID: rec.MessageID}.With("emt.at", due.Format(time.RFC3339Nano))},
		}
		res, err := store.AppendToStream(ctx, "manual-"+o.OrderID, records, eventstore.ExpectNoStream())
		if err != nil {
			return err
		}
		data, err := eventstore.Encode(facts, []Fact{PaymentRequested(o)}, emmett.Metadata{CausationID: res.Events[1].MessageID})
		if err != nil {
			return err
		}
		if _, err := store.AppendToStream(ctx, "manual_payment-"+o.OrderID, data); err != nil {
			return err
		}
		doc, _ := json.Marshal(map[string]any{"workflow": "hand_written", "stream": "manual-" + o.OrderID, "type": "PaymentTimedOut",
			"schemaVersion": 1, "data": json.RawMessage(timeout), "at": due, "metadata": res.Events[2].Metadata})
		return store.Documents().Put(ctx, workflow.SchedulesCollection, res.Events[2].MessageID, doc)
	}
}
