package instrument_test

import (
	"context"
	"errors"
	"testing"

	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestObserveReplicationSlot(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	cfg := telemetry.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}
	wal, exists, fail := instrument.SlotWAL{Retained: 4096, Lag: 512}, true, error(nil)
	stop := instrument.ObserveReplicationSlot(cfg, "test", "emmett_slot", func(context.Context) (instrument.SlotWAL, bool, error) { return wal, exists, fail })

	// collect returns the value of each gauge's data point.
	collect := func() map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); fail != nil {
			require.ErrorIs(t, err, fail, "the error goes to the reader")
		} else {
			require.NoError(t, err)
		}
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				assert.Equal(t, "By", m.Unit, m.Name)
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					assert.Equal(t, attribute.NewSet(telemetry.ReplicationSlotKey.String("emmett_slot")), p.Attributes)
					out[m.Name] = p.Value
				}
			}
		}
		return out
	}
	assert.Equal(t, map[string]int64{telemetry.MetricReplicationSlotRetainedWAL: 4096, telemetry.MetricReplicationSlotLag: 512}, collect())

	wal.Retained = -1
	assert.Equal(t, map[string]int64{telemetry.MetricReplicationSlotLag: 512}, collect(), "an unknown value is not observed")
	exists = false
	assert.Empty(t, collect(), "a slot that does not exist is not observed")
	exists, fail = true, errors.New("connection lost")
	assert.Empty(t, collect(), "nor one that could not be asked")

	stop()
	fail = nil
	assert.Empty(t, collect(), "stopped")

	instrument.ObserveReplicationSlot(telemetry.Disabled(), "test", "x", nil)() // nothing registered, nothing called
}
