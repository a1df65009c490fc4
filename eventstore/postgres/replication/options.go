package replication

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPublication is the name of the publication the sources use unless
// told otherwise: one per database, on emt_messages, inserts only, published
// through the partitioned root table.
const DefaultPublication = "emt_messages_pub"

// Option configures a Source (NewSource, Auto).
type Option func(*config)

// WithSlot names the replication slot, instead of the name SlotName gives
// for the processor. Slot names are global to the PostgreSQL server (every
// database shares them): use a name no other database on the server uses.
// Lower-case letters, digits and '_', at most 63.
func WithSlot(name string) Option { return func(c *config) { c.Slot = name } }

// WithPublication names the publication to read (DefaultPublication by
// default). It is created if missing, on emt_messages with publish =
// 'insert' and publish_via_partition_root = true; an existing one must
// publish inserts of emt_messages through the root table.
func WithPublication(name string) Option { return func(c *config) { c.Publication = name } }

// WithPartition restricts the feed to the events of one partition (every
// partition by default).
func WithPartition(name string) Option { return func(c *config) { c.Partition = name } }

// WithBatchSize sets the most events per batch, both when reading history
// from the table and when grouping committed transactions from the stream
// (a transaction is never split, so a batch may be larger when one
// transaction is); 1000 by default.
func WithBatchSize(n int) Option { return func(c *config) { c.BatchSize = n } }

// WithStatusInterval sets how often a standby status update is sent to the
// server when nothing else makes one due; 10s by default.
func WithStatusInterval(d time.Duration) Option { return func(c *config) { c.StatusInterval = d } }

// WithIdleAdvance bounds how far an idle slot's checkpoint lags: when
// nothing of interest was committed for a while, the source delivers an
// empty batch whose End is the server's WAL position, so that the
// processor checkpoints it and the slot stops retaining WAL for nothing.
// It does so once the WAL position is bytes past the last checkpoint (64
// KiB by default), or interval after the last batch when the WAL moved at
// all (1 minute by default). The checkpoint write itself makes a little
// WAL; these bounds keep an idle processor from writing one every second.
func WithIdleAdvance(bytes int64, interval time.Duration) Option {
	return func(c *config) { c.IdleAdvanceBytes, c.IdleAdvanceInterval = bytes, interval }
}

// WithTableCatchUp sets how far behind, in bytes of WAL, a processor that
// resumes from a checkpoint of the stream must be for the source to catch
// it up from the table instead of having the server decode every WAL
// record of the backlog: the source then replaces the processor's slot by
// a new one with an exported snapshot, reads the events committed after
// the checkpoint from emt_messages in that snapshot, and streams from the
// new slot's consistent point. It does so only when it knows exactly which
// transactions the checkpoint covers (the cut it writes down as it
// streams, see the package documentation); otherwise, or below this
// bound, it streams the backlog from the slot. 16 MiB by default; a
// negative value turns it off.
func WithTableCatchUp(minBytes int64) Option {
	return func(c *config) { c.TableCatchUpBytes = minBytes }
}

// WithReconnectDelay bounds the pauses between reconnections after the
// connection drops or the server restarts (exponential, with jitter);
// 100ms and 5s by default.
func WithReconnectDelay(minDelay, maxDelay time.Duration) Option {
	return func(c *config) { c.RetryMin, c.RetryMax = minDelay, maxDelay }
}

// WithConnConfig sets the configuration of the replication connection. By
// default it is the store's pool configuration with replication=database
// added.
func WithConnConfig(cfg *pgconn.Config) Option { return func(c *config) { c.ConnConfig = cfg } }

// WithLogger sets where the source's log records go (slot and publication
// created, the feed chosen, reconnections), each with the trace and span
// ids of its context. By default warnings and errors go to slog's default
// logger and nothing below.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.Logger = l } }

// WithTelemetry sets where the source reports the WAL its slot holds back:
// the gauges telemetry.MetricReplicationSlotRetainedWAL (current WAL
// position minus restart_lsn) and telemetry.MetricReplicationSlotLag (minus
// confirmed_flush_lsn), in bytes, read from pg_replication_slots each time
// the metric reader collects, whether the slot streams or not, from the
// source's first Subscribe or Head until its Close or DropSlot (every
// instance of the application with the source reports the same values);
// the global OpenTelemetry providers by default.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.Telemetry = cfg } }

// WithPolling configures the polling feed Auto falls back to where logical
// replication is not available; its batch size and partition are the
// source's unless these options set them.
func WithPolling(opts ...projection.PollOption) Option {
	return func(c *config) { c.Polling = append(c.Polling, opts...) }
}

func newConfig(processorID string, opts []Option) config {
	c := config{ProcessorID: processorID}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c.withDefaults()
}

// config is what the Options of a Source set.
type config struct {
	// ProcessorID is the id of the processor the source feeds; the slot is
	// named after it (see SlotName) unless Slot is given.
	ProcessorID string
	// Slot names the replication slot instead. Slot names are global to
	// the PostgreSQL server (every database shares them): use a name no
	// other database on the server uses. Lower-case letters, digits and
	// '_', at most 63.
	Slot string
	// Publication is the publication to read (DefaultPublication when
	// empty). It is created if missing, on emt_messages with publish =
	// 'insert' and publish_via_partition_root = true; an existing one must
	// publish inserts of emt_messages through the root table.
	Publication string
	// Partition restricts the feed to the events of one partition; "" for
	// all.
	Partition string
	// BatchSize is the most events per batch, both when reading history
	// from the table and when grouping committed transactions from the
	// stream (a transaction is never split, so a batch may be larger when
	// one transaction is); 1000 when 0.
	BatchSize int
	// StatusInterval is how often a standby status update is sent to the
	// server when nothing else makes one due; 10s when 0.
	StatusInterval time.Duration
	// IdleAdvanceBytes: when nothing of interest was committed for a while,
	// the source delivers an empty batch whose End is the server's WAL
	// position, so that the processor checkpoints it and the slot stops
	// retaining WAL for nothing. It does so once the WAL position is this
	// many bytes past the last checkpoint (64 KiB when 0)...
	IdleAdvanceBytes int64
	// IdleAdvanceInterval ...or this long after the last batch, when the
	// WAL moved at all (1 minute when 0). The checkpoint write itself
	// makes a little WAL; these bounds keep an idle processor from
	// writing one every second.
	IdleAdvanceInterval time.Duration
	// TableCatchUpBytes is how far behind, in bytes of WAL, a processor
	// that resumes from a checkpoint of the stream must be for the source
	// to catch it up from the table, when it knows the cut of the
	// checkpoint (see WithTableCatchUp); 16 MiB when 0, never when
	// negative.
	TableCatchUpBytes int64
	// CutInterval is how often the source writes down the cut of the
	// position the processor applied while it streams (it also does when
	// the stream stops); 1s when 0.
	CutInterval time.Duration
	// RetryMin and RetryMax bound the pauses between reconnections after
	// the connection drops or the server restarts (exponential, with
	// jitter); 100ms and 5s when 0.
	RetryMin, RetryMax time.Duration
	// ConnConfig is the configuration of the replication connection. By
	// default it is the store's pool configuration with
	// replication=database added.
	ConnConfig *pgconn.Config
	// Logger receives the source's log records (slot and publication
	// created, the feed chosen, reconnections), each with the trace and
	// span ids of its context. When nil, warnings and errors go to slog's
	// default logger and nothing below.
	Logger *slog.Logger
	// Telemetry is where the source reports the WAL its slot holds back:
	// the gauges telemetry.MetricReplicationSlotRetainedWAL (current WAL
	// position minus restart_lsn) and telemetry.MetricReplicationSlotLag
	// (minus confirmed_flush_lsn), in bytes, read from
	// pg_replication_slots each time the metric reader collects, whether
	// the slot streams or not, from the source's first Subscribe or Head
	// until its Close or DropSlot (every instance of the application with
	// the source reports the same values); the global OpenTelemetry
	// providers by default.
	Telemetry telemetry.Config
	// Polling configures Auto's polling fallback.
	Polling []projection.PollOption
}

func (o config) withDefaults() config {
	if o.Publication == "" {
		o.Publication = DefaultPublication
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 10 * time.Second
	}
	if o.IdleAdvanceBytes <= 0 {
		o.IdleAdvanceBytes = 64 << 10
	}
	if o.IdleAdvanceInterval <= 0 {
		o.IdleAdvanceInterval = time.Minute
	}
	if o.TableCatchUpBytes == 0 {
		o.TableCatchUpBytes = 16 << 20
	}
	if o.CutInterval <= 0 {
		o.CutInterval = time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	o.Logger = instrument.Logger(o.Logger)
	return o
}

var (
	unsafeSlotChars = regexp.MustCompile(`[^a-z0-9_]+`)
	validName       = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
)

// SlotName returns the default slot name of a processor in a database:
// "emt_", the processor id in lower case with every run of characters other
// than letters, digits and '_' made one '_' (cut to fit), '_' and eight hex
// digits of a hash of the database name and the exact processor id. Slot
// names are global to a server, so the hash keeps processors of the same
// name in different databases (and ids that sanitize alike) apart.
func SlotName(database, processorID string) string {
	h := fnv.New32a()
	h.Write([]byte(database))
	h.Write([]byte{0})
	h.Write([]byte(processorID))
	base := strings.Trim(unsafeSlotChars.ReplaceAllString(strings.ToLower(processorID), "_"), "_")
	const room = 63 - len("emt_") - len("_01234567")
	if len(base) > room {
		base = base[:room]
	}
	return fmt.Sprintf("emt_%s_%08x", base, h.Sum32())
}

func validateName(what, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("replication: invalid %s name %q: use lower-case letters, digits and '_', at most 63", what, name)
	}
	return nil
}
