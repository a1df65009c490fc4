package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// parked lists the events processors parked, or asks for retries of them
// (which the instance that runs the processor carries out), or discards
// one.
func (t *tool) parked(ctx context.Context, args []string) error {
	var retry string
	var discard int64
	var wait time.Duration
	var asJSON bool
	processor, err := parseOptional("parked", args, func(fs *flag.FlagSet) {
		fs.StringVar(&retry, "retry", "", "ask for a retry of the parked event ID, or of all (the processor's, or every processor's)")
		fs.Int64Var(&discard, "discard", 0, "discard the parked event ID")
		fs.DurationVar(&wait, "wait", 0, "with -retry: wait this long for the running instance to carry the retries out")
		fs.BoolVar(&asJSON, "json", false, "print the parked events as JSON lines, the events whole")
	})
	if err != nil {
		return err
	}
	var retryID int64
	switch {
	case retry != "" && discard != 0:
		return usageError("parked: -retry or -discard, not both")
	case retry == "all":
	case retry != "":
		if retryID, err = strconv.ParseInt(retry, 10, 64); err != nil || retryID <= 0 {
			return usageError(fmt.Sprintf("parked: -retry %q: a parked event's ID, or all", retry))
		}
	case discard < 0:
		return usageError("parked: -discard takes a parked event's ID")
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	procs := s.Processors()

	switch {
	case discard != 0:
		if err := procs.Discard(ctx, processor, discard); err != nil {
			return err
		}
		fmt.Fprintf(t.stdout, "parked event %d discarded\n", discard)
		return nil
	case retry != "":
		return t.retryParked(ctx, procs, processor, retryID, wait)
	}
	parked, err := procs.Parked(ctx, projection.ParkedFilter{Processor: processor})
	if err != nil {
		return err
	}
	if asJSON {
		for _, e := range parked {
			if err := t.printEvent(parkedJSON(e)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(t.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPROCESSOR\tPOSITION\tSTREAM\tTYPE\tATTEMPTS\tFIRST FAILURE\tLAST FAILURE\tRETRY\tERROR")
	for _, e := range parked {
		retry := "-"
		if e.RetryRequested {
			retry = "asked"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s@%d\t%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Processor, eventstore.PositionOf(e.Event), e.Event.StreamName,
			e.Event.StreamPosition, e.Event.Type, e.Attempts, stamp(e.FirstFailure), stamp(e.LastFailure), retry, oneLine(e.Error))
	}
	return w.Flush()
}

// retryParked asks for the retries and, with wait, waits for their
// outcome: applied (no longer parked) or failed again.
func (t *tool) retryParked(ctx context.Context, procs projection.CheckpointStore, processor string, id int64, wait time.Duration) error {
	asked, err := procs.Parked(ctx, projection.ParkedFilter{Processor: processor, ID: id})
	if err != nil {
		return err
	}
	n, err := procs.RequestRetry(ctx, processor, id)
	if err != nil {
		return err
	}
	if id != 0 && n == 0 {
		return fmt.Errorf("no parked event %d%s", id, ofProcessor(processor))
	}
	fmt.Fprintf(t.stdout, "retry asked for %d parked event(s)%s: the instance running the processor carries it out\n", n, ofProcessor(processor))
	if wait <= 0 || n == 0 {
		return nil
	}
	ids := make([]int64, len(asked))
	for i, e := range asked {
		ids[i] = e.ID
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		left, err := procs.Parked(ctx, projection.ParkedFilter{Processor: processor, ID: id})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("the retries were not carried out within %v: is the processor running?", wait)
			}
			return err
		}
		pending, failed := 0, 0
		for _, e := range left {
			switch {
			case !slices.Contains(ids, e.ID):
			case e.RetryRequested:
				pending++
			default:
				failed++
			}
		}
		if pending == 0 {
			fmt.Fprintf(t.stdout, "%d applied, %d failed again\n", len(ids)-failed, failed)
			if failed > 0 {
				return errors.New("some retries failed again: emmett parked lists them with their error")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the retries were not carried out within %v: is the processor running?", wait)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ofProcessor(processor string) string {
	if processor == "" {
		return ""
	}
	return " of processor " + processor
}

// parkedJSON is the JSON form of a parked event.
func parkedJSON(e projection.ParkedEvent) map[string]any {
	return map[string]any{
		"id": e.ID, "processor": e.Processor, "event": eventstore.NewJSONEvent(e.Event), "error": e.Error,
		"attempts": e.Attempts, "firstFailure": e.FirstFailure.UTC(), "lastFailure": e.LastFailure.UTC(), "retryRequested": e.RetryRequested,
	}
}

// stamp prints a time to the second, in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// oneLine keeps an error's text on one line of the table.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
