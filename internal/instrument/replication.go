package instrument

import (
	"context"

	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// SlotWAL is what a PostgreSQL logical replication slot holds back, in
// bytes of WAL: Retained is the WAL it keeps from being recycled (the
// current WAL position minus its restart_lsn), Lag how far its consumer is
// behind (the current position minus its confirmed_flush_lsn). A negative
// value is unknown (a slot the server invalidated has no restart_lsn) and
// is not observed.
type SlotWAL struct {
	Retained, Lag int64
}

// ObserveReplicationSlot reports the WAL that the PostgreSQL logical
// replication slot named slot holds back, as the observable gauges
// telemetry.MetricReplicationSlotRetainedWAL and
// telemetry.MetricReplicationSlotLag (bytes, with
// telemetry.ReplicationSlotKey), through cfg's meter provider, until stop
// is called.
//
// It is the hook for the replication source of eventstore/postgres: read
// typically runs
//
//	SELECT pg_current_wal_lsn() - restart_lsn, pg_current_wal_lsn() - confirmed_flush_lsn
//	FROM pg_replication_slots WHERE slot_name = $1
//
// whether a walsender streams from the slot or not: a slot nobody reads
// is the one whose WAL piles up. read is called only when the
// application's metric reader collects (every minute by default with a
// periodic reader), with the reader's context; an error it returns is
// handed to the reader and nothing is observed that time, nor when the
// slot does not exist (ok false).
//
// Nothing is registered, and stop does nothing, when cfg's meter provider
// is a no-op one.
func ObserveReplicationSlot(cfg telemetry.Config, scope, slot string, read func(ctx context.Context) (wal SlotWAL, ok bool, err error)) (stop func()) {
	m := meter(cfg, scope)
	if m == nil {
		return func() {}
	}
	retained, err := m.Int64ObservableGauge(telemetry.MetricReplicationSlotRetainedWAL, metric.WithUnit("By"),
		metric.WithDescription("WAL a logical replication slot keeps from being recycled"))
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	lag, err := m.Int64ObservableGauge(telemetry.MetricReplicationSlotLag, metric.WithUnit("By"),
		metric.WithDescription("WAL between the server's current position and what a logical replication slot's consumer confirmed"))
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	opts := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(telemetry.ReplicationSlotKey.String(slot)))}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		wal, ok, err := read(ctx)
		if err != nil || !ok {
			return err
		}
		if wal.Retained >= 0 {
			o.ObserveInt64(retained, wal.Retained, opts...)
		}
		if wal.Lag >= 0 {
			o.ObserveInt64(lag, wal.Lag, opts...)
		}
		return nil
	}, retained, lag)
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
