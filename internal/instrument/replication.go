package instrument

import (
	"context"

	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ObserveRetainedWAL reports the WAL that the PostgreSQL logical
// replication slot named slot retains, as the observable gauge
// telemetry.MetricReplicationSlotRetainedWAL (bytes, with
// telemetry.ReplicationSlotKey), through cfg's meter provider.
//
// It is the hook for the replication source of eventstore/postgres: the
// source calls it once it has its slot, with a function that returns the
// bytes retained, typically
//
//	SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = $1
//
// (or the difference of LSNs the source already knows, to spare a query),
// and calls stop when it closes the slot. retained is called only when the
// application's metric reader collects (every minute by default with a
// periodic reader), with the reader's context; an error it returns is
// handed to otel's error handler and nothing is observed that time. A slot
// that is not active (ok false) is not observed.
//
// Nothing is registered, and stop does nothing, when cfg's meter provider
// is a no-op one.
func ObserveRetainedWAL(cfg telemetry.Config, scope, slot string, retained func(ctx context.Context) (bytes int64, ok bool, err error)) (stop func()) {
	m := meter(cfg, scope)
	if m == nil {
		return func() {}
	}
	gauge, err := m.Int64ObservableGauge(telemetry.MetricReplicationSlotRetainedWAL, metric.WithUnit("By"),
		metric.WithDescription("WAL a logical replication slot keeps from being recycled"))
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	opts := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(telemetry.ReplicationSlotKey.String(slot)))}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, ok, err := retained(ctx)
		if err != nil || !ok {
			return err
		}
		o.ObserveInt64(gauge, n, opts...)
		return nil
	}, gauge)
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}
