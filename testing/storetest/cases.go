package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func event(typ string, n int) eventstore.EventData {
	return eventstore.EventData{Type: typ, Data: fmt.Appendf(nil, `{"n":%d,"note":"event %d"}`, n, n)}
}

func events(typ string, from, count int) []eventstore.EventData {
	out := make([]eventstore.EventData, count)
	for i := range out {
		out[i] = event(typ, from+i)
	}
	return out
}

// collect reads a whole sequence, failing the test on an error.
func collect(t *testing.T, seq func(func(emmett.RecordedEvent, error) bool)) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// FirstError returns the first error a read yields, and nil when it yields
// none: for the cases where a read must fail, as it may yield nothing else.
func FirstError(seq iter.Seq2[emmett.RecordedEvent, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// mark appends one event to a marker stream of the test and returns its
// position, so that the test can read the global log after it.
func mark(t *testing.T, ctx context.Context, s eventstore.Store) eventstore.Position {
	t.Helper()
	res, err := s.AppendToStream(ctx, streamName(t, "marker"), events("Marked", 0, 1))
	require.NoError(t, err)
	return res.Position
}

// readAllOf returns the events after pos in streams whose names start with
// prefix.
func readAllOf(t *testing.T, ctx context.Context, s eventstore.Store, after eventstore.Position, prefix string, opts ...eventstore.ReadOption) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range s.ReadAll(ctx, after, opts...) {
		require.NoError(t, err)
		if strings.HasPrefix(e.StreamName, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func requireVersion(t *testing.T, ctx context.Context, s eventstore.Store, stream string, want int64, opts ...eventstore.ReadOption) {
	t.Helper()
	v, exists, err := s.StreamVersion(ctx, stream, opts...)
	require.NoError(t, err)
	assert.Equal(t, want, v, "version of %s", stream)
	assert.Equal(t, want > 0, exists, "existence of %s", stream)
}

func testExpectedVersions(t *testing.T, cfg Config) {
	type tc struct {
		name     string
		existing bool // the stream has 2 events before the append
		expected eventstore.ExpectedVersion
		ok       bool
	}
	cases := []tc{
		{"Any/missing", false, eventstore.ExpectAny(), true},
		{"Any/existing", true, eventstore.ExpectAny(), true},
		{"NoStream/missing", false, eventstore.ExpectNoStream(), true},
		{"NoStream/existing", true, eventstore.ExpectNoStream(), false},
		{"StreamExists/missing", false, eventstore.ExpectStreamExists(), false},
		{"StreamExists/existing", true, eventstore.ExpectStreamExists(), true},
		{"Exact0/missing", false, eventstore.ExpectVersion(0), true},
		{"Exact0/existing", true, eventstore.ExpectVersion(0), false},
		{"ExactCurrent/existing", true, eventstore.ExpectVersion(2), true},
		{"ExactStale/existing", true, eventstore.ExpectVersion(1), false},
		{"ExactAhead/existing", true, eventstore.ExpectVersion(3), false},
		{"ExactAhead/missing", false, eventstore.ExpectVersion(5), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s := cfg.New(t)
			stream := streamName(t, "expected")
			var before int64
			if c.existing {
				_, err := s.AppendToStream(ctx, stream, events("Seeded", 1, 2))
				require.NoError(t, err)
				before = 2
			}
			res, err := s.AppendToStream(ctx, stream, events("Appended", 3, 1), c.expected)
			if c.ok {
				require.NoError(t, err)
				assert.Equal(t, before+1, res.NextExpectedVersion)
				assert.Equal(t, !c.existing, res.Created, "Created")
				requireVersion(t, ctx, s, stream, before+1)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, eventstore.ErrVersionConflict)
			var conflict *eventstore.VersionConflictError
			require.ErrorAs(t, err, &conflict)
			assert.Equal(t, stream, conflict.Stream)
			assert.Equal(t, c.expected, conflict.Expected)
			assert.Equal(t, before, conflict.Actual, "actual version in the conflict")
			requireVersion(t, ctx, s, stream, before)
			assert.Len(t, collect(t, s.ReadStream(ctx, stream)), int(before), "a refused append writes nothing")
		})
	}
}

func testAppendResult(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "result")
	start := time.Now()

	first, err := s.AppendToStream(ctx, stream, events("First", 1, 3), eventstore.ExpectNoStream())
	require.NoError(t, err)
	assert.True(t, first.Created)
	assert.Equal(t, int64(3), first.NextExpectedVersion)
	require.Len(t, first.Events, 3)
	seen := map[string]bool{}
	for i, e := range first.Events {
		assert.Equal(t, stream, e.StreamName)
		assert.Equal(t, int64(i+1), e.StreamPosition)
		assert.Equal(t, "First", e.Type)
		assert.JSONEq(t, string(event("First", 1+i).Data), string(e.Data))
		assert.NotEmpty(t, e.MessageID)
		assert.False(t, seen[e.MessageID], "message ids are unique")
		seen[e.MessageID] = true
		assert.Positive(t, e.GlobalPosition)
		assert.WithinDuration(t, start, e.Created, time.Minute)
		if i > 0 {
			assert.True(t, eventstore.PositionOf(first.Events[i-1]).Before(eventstore.PositionOf(e)), "positions grow within an append")
		}
	}
	assert.Equal(t, eventstore.PositionOf(first.Events[2]), first.Position, "Position is the last event's")

	given := eventstore.EventData{MessageID: "3f1c1d2e-0000-4000-8000-000000000001", Type: "Second", Data: []byte(`{"x":[1,2,3]}`)}
	second, err := s.AppendToStream(ctx, stream, []eventstore.EventData{given}, eventstore.ExpectVersion(3))
	require.NoError(t, err)
	assert.False(t, second.Created)
	assert.Equal(t, int64(4), second.NextExpectedVersion)
	assert.Equal(t, given.MessageID, second.Events[0].MessageID, "a given message id is kept")
	assert.True(t, first.Position.Before(second.Position))

	read := collect(t, s.ReadStream(ctx, stream))
	require.Len(t, read, 4)
	for i, want := range append(first.Events, second.Events...) {
		assertSameEvent(t, want, read[i])
	}
}

// assertSameEvent compares two recorded events: JSON by meaning, times to
// the microsecond (what databases keep).
func assertSameEvent(t *testing.T, want, got emmett.RecordedEvent) {
	t.Helper()
	assert.Equal(t, want.MessageID, got.MessageID)
	assert.Equal(t, want.Type, got.Type)
	assert.JSONEq(t, string(want.Data), string(got.Data))
	assert.Equal(t, want.Metadata, got.Metadata)
	assert.Equal(t, want.StreamName, got.StreamName)
	assert.Equal(t, want.StreamPosition, got.StreamPosition)
	assert.Equal(t, want.GlobalPosition, got.GlobalPosition)
	assert.Equal(t, want.TransactionID, got.TransactionID)
	assert.Equal(t, want.Created.UnixMicro(), got.Created.UnixMicro())
}

func testReadStream(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "read")
	for i := 0; i < 4; i++ { // 4 appends of 5 events
		_, err := s.AppendToStream(ctx, stream, events("Counted", i*5+1, 5))
		require.NoError(t, err)
	}
	positions := func(evs []emmett.RecordedEvent) []int64 {
		var out []int64
		for _, e := range evs {
			out = append(out, e.StreamPosition)
		}
		return out
	}
	span := func(from, to int64) []int64 {
		var out []int64
		for p := from; p <= to; p++ {
			out = append(out, p)
		}
		return out
	}
	cases := []struct {
		name string
		opts []eventstore.ReadOption
		want []int64
	}{
		{"All", nil, span(1, 20)},
		{"From", []eventstore.ReadOption{eventstore.FromVersion(7)}, span(7, 20)},
		{"To", []eventstore.ReadOption{eventstore.ToVersion(4)}, span(1, 4)},
		{"FromTo", []eventstore.ReadOption{eventstore.FromVersion(6), eventstore.ToVersion(11)}, span(6, 11)},
		{"MaxCount", []eventstore.ReadOption{eventstore.MaxCount(3)}, span(1, 3)},
		{"FromMaxCount", []eventstore.ReadOption{eventstore.FromVersion(18), eventstore.MaxCount(10)}, span(18, 20)},
		{"FromToMaxCount", []eventstore.ReadOption{eventstore.FromVersion(2), eventstore.ToVersion(15), eventstore.MaxCount(4)}, span(2, 5)},
		{"FromPastEnd", []eventstore.ReadOption{eventstore.FromVersion(21)}, nil},
		{"ToBeforeFrom", []eventstore.ReadOption{eventstore.FromVersion(5), eventstore.ToVersion(4)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := collect(t, s.ReadStream(ctx, stream, c.opts...))
			assert.Equal(t, c.want, positions(got))
			for _, e := range got {
				assert.JSONEq(t, string(event("Counted", int(e.StreamPosition)).Data), string(e.Data))
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		missing := streamName(t, "missing")
		assert.Empty(t, collect(t, s.ReadStream(ctx, missing)))
		requireVersion(t, ctx, s, missing, 0)
	})
	t.Run("Version", func(t *testing.T) { requireVersion(t, ctx, s, stream, 20) })
	t.Run("StopEarly", func(t *testing.T) {
		n := 0
		for _, err := range s.ReadStream(ctx, stream) {
			require.NoError(t, err)
			n++
			if n == 2 {
				break
			}
		}
		assert.Equal(t, 2, n)
	})
}

func testReadAll(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	start := mark(t, ctx, s)
	prefix := streamName(t, "all")
	var appended []emmett.RecordedEvent
	for i := 0; i < 10; i++ { // interleave three streams
		res, err := s.AppendToStream(ctx, fmt.Sprintf("%s_%d", prefix, i%3), events("Interleaved", i*2, 2))
		require.NoError(t, err)
		appended = append(appended, res.Events...)
	}

	t.Run("Order", func(t *testing.T) {
		got := readAllOf(t, ctx, s, start, prefix)
		require.Len(t, got, len(appended))
		for i := range got {
			assertSameEvent(t, appended[i], got[i])
			if i > 0 {
				assert.True(t, eventstore.PositionOf(got[i-1]).Before(eventstore.PositionOf(got[i])), "read all is in position order")
			}
		}
	})
	t.Run("Paged", func(t *testing.T) {
		var got []emmett.RecordedEvent
		after := start
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100, "paging does not end")
			page := collect(t, s.ReadAll(ctx, after, eventstore.MaxCount(3)))
			require.LessOrEqual(t, len(page), 3)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if strings.HasPrefix(e.StreamName, prefix) {
					got = append(got, e)
				}
			}
			after = eventstore.PositionOf(page[len(page)-1])
		}
		require.Len(t, got, len(appended))
		for i := range got {
			assert.Equal(t, appended[i].MessageID, got[i].MessageID)
		}
	})
	t.Run("AfterLast", func(t *testing.T) {
		last := eventstore.PositionOf(appended[len(appended)-1])
		assert.Empty(t, readAllOf(t, ctx, s, last, prefix))
		assert.Len(t, readAllOf(t, ctx, s, eventstore.PositionOf(appended[4]), prefix), len(appended)-5)
	})
	t.Run("ResolvePosition", func(t *testing.T) {
		for _, e := range appended {
			full := eventstore.PositionOf(e)
			got, err := s.ResolvePosition(ctx, eventstore.Position{GlobalPosition: e.GlobalPosition})
			require.NoError(t, err)
			assert.Equal(t, full, got, "a bare global position is its event's position")
			got, err = s.ResolvePosition(ctx, full)
			require.NoError(t, err)
			assert.Equal(t, full, got, "a whole position is itself")
		}
		bare, err := eventstore.ParsePosition(strconv.FormatInt(appended[4].GlobalPosition, 10))
		require.NoError(t, err)
		after, err := s.ResolvePosition(ctx, bare)
		require.NoError(t, err)
		assert.Len(t, readAllOf(t, ctx, s, after, prefix), len(appended)-5, "after a bare global position, resolved, is after its event")

		got, err := s.ResolvePosition(ctx, eventstore.Position{})
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "the start is the start")
		withLSN := eventstore.PositionOf(appended[2])
		withLSN.LSN = 0x16B3748
		got, err = s.ResolvePosition(ctx, eventstore.Position{GlobalPosition: withLSN.GlobalPosition, LSN: withLSN.LSN})
		require.NoError(t, err)
		assert.Equal(t, withLSN, got, "an LSN is kept")

		last := appended[len(appended)-1]
		for _, p := range []eventstore.Position{
			{GlobalPosition: last.GlobalPosition + 1_000_000_000},
			{TransactionID: last.TransactionID + 1, GlobalPosition: last.GlobalPosition},
			{GlobalPosition: -1},
		} {
			_, err := s.ResolvePosition(ctx, p)
			assert.ErrorIs(t, err, eventstore.ErrPositionNotFound, "no event at %+v", p)
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = s.ResolvePosition(cancelled, eventstore.PositionOf(last))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func testMetadata(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "metadata")
	md := emmett.Metadata{
		CorrelationID: "corr-1",
		CausationID:   "cause-1",
		Fields: map[string]any{
			"userId": "u-42",
			"count":  float64(3),
			"nested": map[string]any{"a": []any{"x", true}},
		},
	}
	res, err := s.AppendToStream(ctx, stream, []eventstore.EventData{
		{Type: "WithMetadata", Data: []byte(`{}`), Metadata: md},
		{Type: "WithoutMetadata", Data: []byte(`{}`)},
		{Type: "OnlyCorrelation", Data: []byte(`{}`), Metadata: emmett.Metadata{CorrelationID: "corr-2"}},
	})
	require.NoError(t, err)
	read := collect(t, s.ReadStream(ctx, stream))
	require.Len(t, read, 3)
	assert.Equal(t, md, read[0].Metadata)
	assert.True(t, read[1].Metadata.IsZero(), "no metadata reads back as none")
	assert.Equal(t, emmett.Metadata{CorrelationID: "corr-2"}, read[2].Metadata)
	assert.Equal(t, res.Events[0].Metadata, read[0].Metadata, "the append result carries the metadata too")
	all := readAllOf(t, ctx, s, eventstore.Position{}, stream)
	require.Len(t, all, 3)
	assert.Equal(t, md, all[0].Metadata, "read all carries metadata")
}

// testSchemaVersions checks that the schema version of each event is
// stored and read back on every read path (0 stores 1), and that a
// negative one is refused with nothing written.
func testSchemaVersions(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "versions")
	res, err := s.AppendToStream(ctx, stream, []eventstore.EventData{
		{Type: "Old", Data: []byte(`{"cents":5}`), SchemaVersion: 1},
		{Type: "New", Data: []byte(`{}`), SchemaVersion: 3},
		{Type: "Unsaid", Data: []byte(`{}`)},
	})
	require.NoError(t, err)
	want := []int{1, 3, 1}
	versions := func(evs []emmett.RecordedEvent) []int {
		out := make([]int, len(evs))
		for i, e := range evs {
			out[i] = e.SchemaVersion
		}
		return out
	}
	assert.Equal(t, want, versions(res.Events), "the append result")
	assert.Equal(t, want, versions(collect(t, s.ReadStream(ctx, stream))), "read stream")
	assert.Equal(t, want, versions(readAllOf(t, ctx, s, eventstore.Position{}, stream)), "read all")
	one, err := s.AppendToStream(ctx, stream, []eventstore.EventData{{Type: "Single", Data: []byte(`{}`), SchemaVersion: 12}})
	require.NoError(t, err)
	assert.Equal(t, 12, one.Events[0].SchemaVersion)
	assert.Equal(t, []int{1, 3, 1, 12}, versions(collect(t, s.ReadStream(ctx, stream))), "an append of one event")

	_, err = s.AppendToStream(ctx, stream, []eventstore.EventData{{Type: "Bad", Data: []byte(`{}`), SchemaVersion: -1}})
	var ierr *eventstore.InvalidEventError
	require.ErrorAs(t, err, &ierr)
	assert.Len(t, collect(t, s.ReadStream(ctx, stream)), 4, "nothing written")
}

func testPartitions(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	partition := "tenant_" + randomHex(6)
	if cfg.CreatePartition != nil {
		require.NoError(t, cfg.CreatePartition(ctx, s, partition))
	}
	start := mark(t, ctx, s)
	stream := streamName(t, "partitioned")
	in := eventstore.InPartition(partition)

	_, err := s.AppendToStream(ctx, stream, events("InDefault", 1, 2), eventstore.ExpectNoStream())
	require.NoError(t, err)
	res, err := s.AppendToStream(ctx, stream, events("InTenant", 1, 3), eventstore.ExpectNoStream(), in)
	require.NoError(t, err, "the same stream name in another partition is another stream")
	assert.True(t, res.Created)
	assert.Equal(t, int64(3), res.NextExpectedVersion)

	requireVersion(t, ctx, s, stream, 2)
	requireVersion(t, ctx, s, stream, 3, in)
	for _, e := range collect(t, s.ReadStream(ctx, stream, in)) {
		assert.Equal(t, "InTenant", e.Type)
	}
	_, err = s.AppendToStream(ctx, stream, events("InTenant", 4, 1), eventstore.ExpectVersion(2), in)
	assert.ErrorIs(t, err, eventstore.ErrVersionConflict, "versions are per partition")

	tenantOnly := readAllOf(t, ctx, s, start, stream, in)
	require.Len(t, tenantOnly, 3, "read all in a partition reads only that partition")
	assert.Len(t, readAllOf(t, ctx, s, start, stream), 5, "read all without a partition reads every partition")
}

func testBadInput(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	valid := streamName(t, "bad")
	start := mark(t, ctx, s)
	tooLarge := eventstore.EventData{Type: "Large", Data: []byte(`{"s":"` + strings.Repeat("x", cfg.maxEventBytes()) + `"}`)}
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
		is     []error
	}{
		{"EmptyStreamName", "", events("E", 1, 1), []error{eventstore.ErrInvalidStreamName}},
		{"LongStreamName", valid + strings.Repeat("x", eventstore.MaxStreamNameLength), events("E", 1, 1), []error{eventstore.ErrInvalidStreamName}},
		{"InvalidUTF8StreamName", valid + "\xff\xfe", events("E", 1, 1), []error{eventstore.ErrInvalidStreamName}},
		{"NULInStreamName", valid + "\x00x", events("E", 1, 1), []error{eventstore.ErrInvalidStreamName}},
		{"NoEvents", valid, nil, []error{eventstore.ErrNoEvents}},
		{"NoType", valid, []eventstore.EventData{{Data: []byte(`{}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"MalformedJSON", valid, []eventstore.EventData{event("Good", 1), {Type: "Bad", Data: []byte(`{"a":`)}}, []error{eventstore.ErrInvalidEvent}},
		{"EmptyData", valid, []eventstore.EventData{{Type: "Empty"}}, []error{eventstore.ErrInvalidEvent}},
		{"TooLarge", valid, []eventstore.EventData{event("Good", 1), tooLarge}, []error{eventstore.ErrInvalidEvent, eventstore.ErrEventTooLarge}},
		{"UnencodableMetadata", valid, []eventstore.EventData{{Type: "E", Data: []byte(`{}`), Metadata: emmett.Metadata{Fields: map[string]any{"ch": make(chan int)}}}}, []error{eventstore.ErrInvalidEvent}},
		// Text that not every store can keep is refused by all (PostgreSQL's
		// text and jsonb refuse it, though some is valid JSON).
		{"NULInTypeName", valid, []eventstore.EventData{{Type: "E\x00", Data: []byte(`{}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"InvalidUTF8TypeName", valid, []eventstore.EventData{{Type: "E\xff", Data: []byte(`{}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"NULInMessageID", valid, []eventstore.EventData{{Type: "E", MessageID: "id\x00", Data: []byte(`{}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"EscapedNULInData", valid, []eventstore.EventData{event("Good", 1), {Type: "E", Data: []byte(`{"a":"x\u0000y"}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"EscapedNULInDataKey", valid, []eventstore.EventData{{Type: "E", Data: []byte(`{"\u0000":1}`)}}, []error{eventstore.ErrInvalidEvent}},
		{"InvalidUTF8InData", valid, []eventstore.EventData{{Type: "E", Data: []byte("{\"a\":\"bad\xffx\"}")}}, []error{eventstore.ErrInvalidEvent}},
		{"LoneSurrogateInData", valid, []eventstore.EventData{{Type: "E", Data: []byte(`["\ud800"]`)}}, []error{eventstore.ErrInvalidEvent}},
		{"NULInMetadata", valid, []eventstore.EventData{{Type: "E", Data: []byte(`{}`), Metadata: emmett.Metadata{Fields: map[string]any{"note": "x\x00y"}}}}, []error{eventstore.ErrInvalidEvent}},
		{"NULInCorrelationID", valid, []eventstore.EventData{{Type: "E", Data: []byte(`{}`), Metadata: emmett.Metadata{CorrelationID: "c\x00"}}}, []error{eventstore.ErrInvalidEvent}},
		{"InvalidUTF8InRawMetadata", valid, []eventstore.EventData{{Type: "E", Data: []byte(`{}`), Metadata: emmett.Metadata{Fields: map[string]any{"raw": json.RawMessage("\"bad\xffx\"")}}}}, []error{eventstore.ErrInvalidEvent}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.AppendToStream(ctx, c.stream, c.events)
			require.Error(t, err)
			for _, target := range c.is {
				assert.ErrorIs(t, err, target)
			}
			assert.NotContains(t, err.Error(), strings.Repeat("x", 100), "the error does not echo a huge payload")
		})
	}
	t.Run("NothingWritten", func(t *testing.T) {
		requireVersion(t, ctx, s, valid, 0)
		assert.Empty(t, readAllOf(t, ctx, s, start, valid))
	})
	t.Run("ReadInvalidName", func(t *testing.T) {
		_, _, err := s.StreamVersion(ctx, "")
		assert.ErrorIs(t, err, eventstore.ErrInvalidStreamName)
		assert.ErrorIs(t, FirstError(s.ReadStream(ctx, "bad\x00name")), eventstore.ErrInvalidStreamName)
		assert.ErrorIs(t, FirstError(s.ReadStream(ctx, "bad\xffname")), eventstore.ErrInvalidStreamName)
	})
	t.Run("TextEveryStoreKeeps", func(t *testing.T) {
		// Escapes of other control characters, surrogate pairs and an
		// escaped backslash before "u0000" are text every store keeps.
		stream := streamName(t, "ünïcode") + "-日本"
		data := `{"s":"smörgås \u00e9 \u0001 \ud83d\ude00 \\u0000","日本":["\t"]}`
		_, err := s.AppendToStream(ctx, stream, []eventstore.EventData{{Type: "Café", Data: []byte(data),
			Metadata: emmett.Metadata{CorrelationID: "ç", Fields: map[string]any{"note": "\u0001 ☃"}}}})
		require.NoError(t, err)
		got := collect(t, s.ReadStream(ctx, stream))
		require.Len(t, got, 1)
		assert.Equal(t, "Café", got[0].Type)
		assert.JSONEq(t, data, string(got[0].Data))
		assert.Equal(t, "ç", got[0].Metadata.CorrelationID)
		assert.Equal(t, "\u0001 ☃", got[0].Metadata.Fields["note"])
	})
}

func testCancelledContext(t *testing.T, cfg Config) {
	s := cfg.New(t)
	stream := streamName(t, "cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := s.AppendToStream(ctx, stream, events("Never", 1, 1))
	assert.ErrorIs(t, err, context.Canceled)
	_, _, err = s.StreamVersion(ctx, stream)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, FirstError(s.ReadStream(ctx, stream)), context.Canceled)
	assert.ErrorIs(t, FirstError(s.ReadAll(ctx, eventstore.Position{})), context.Canceled)

	requireVersion(t, context.Background(), s, stream, 0)
}
