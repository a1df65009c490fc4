package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// writeWAL writes WAL the slot has no interest in (100 kB or so), and
// flushes it (pg_current_wal_lsn moves past it) whatever the server's
// synchronous_commit.
func writeWAL(t *testing.T, s *postgres.Store) {
	t.Helper()
	_, err := s.Pool().Exec(context.Background(), `BEGIN; SET LOCAL synchronous_commit = on;
CREATE TABLE IF NOT EXISTS other_app (x text);
INSERT INTO other_app SELECT repeat('x', 1000) FROM generate_series(1, 100);
COMMIT`)
	require.NoError(t, err)
}

// The source observes its slot from its first use until Close or
// DropSlot: the retained WAL and lag gauges are there while the processor
// streams, and after it stops they grow as WAL is written.
func TestSlotGauges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	src := newSource(t, s, "counters", replication.WithTelemetry(telemetry.Config{MeterProvider: mp}))
	slot := attribute.NewSet(telemetry.ReplicationSlotKey.String(src.Slot()))
	gauges := func() map[string]int64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != telemetry.MetricReplicationSlotRetainedWAL && m.Name != telemetry.MetricReplicationSlotLag {
					continue
				}
				assert.Equal(t, "By", m.Unit)
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					require.Equal(t, slot, p.Attributes)
					out[m.Name] = p.Value
				}
			}
		}
		return out
	}
	assert.Empty(t, gauges(), "nothing before the source is used")

	p := projection.NewProjectionProcessor(s.Processors(), src, newTally(t, s.Pool(), "counters"))
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 3).Position)
	streaming := gauges()
	require.Contains(t, streaming, telemetry.MetricReplicationSlotRetainedWAL, "observed while streaming")
	require.Contains(t, streaming, telemetry.MetricReplicationSlotLag, "observed while streaming")
	assert.GreaterOrEqual(t, streaming[telemetry.MetricReplicationSlotRetainedWAL], int64(0))
	assert.GreaterOrEqual(t, streaming[telemetry.MetricReplicationSlotLag], int64(0))

	require.NoError(t, r.stop(t))
	require.Eventually(t, func() bool {
		st, err := src.Status(ctx)
		require.NoError(t, err)
		return !st.Active
	}, waitLimit, 5*time.Millisecond, "the walsender ends")
	before := gauges()
	require.Len(t, before, 2, "observed after the processor stopped")
	writeWAL(t, s)
	after := gauges()
	require.Len(t, after, 2)
	assert.Greater(t, after[telemetry.MetricReplicationSlotRetainedWAL], before[telemetry.MetricReplicationSlotRetainedWAL], "the stopped slot retains more WAL")
	assert.Greater(t, after[telemetry.MetricReplicationSlotLag], before[telemetry.MetricReplicationSlotLag], "the stopped slot falls behind")
	t.Logf("streaming %v; stopped %v, then %v", streaming, before, after)

	require.NoError(t, src.DropSlot(ctx))
	assert.Empty(t, gauges(), "a dropped slot is not observed")
	_, err := src.Head(ctx) // used again: a slot again, observed again
	require.NoError(t, err)
	assert.Len(t, gauges(), 2)
	require.NoError(t, src.Close())
	assert.Empty(t, gauges(), "a closed source observes nothing")
	_, err = src.Head(ctx)
	require.NoError(t, err)
	assert.Empty(t, gauges(), "nor when it is used after Close")
}
