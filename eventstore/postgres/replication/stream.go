package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// A stream runs one replication connection: a receiver goroutine reads and
// decodes the server's messages, answers keepalives and sends standby
// status updates; the caller of Subscribe (the consumer) groups the
// committed transactions into batches and calls the handler. So the
// connection stays alive however long a batch takes, and the next
// transactions arrive while the current batch is applied.
type stream struct {
	s    *Source
	conn *pgconn.PgConn
	skip uint64 // commits ending at or before it were applied already

	txns chan txn      // committed transactions, in commit order
	quit chan struct{} // closed to stop the receiver
	done chan struct{} // closed when the receiver has stopped
	err  error         // why it stopped, once done is closed

	applied   atomic.Uint64 // the LSN the handler durably applied: the flush position
	cuts      *cutKeeper    // the cut of the applied position (cut.go)
	wantReply atomic.Bool   // ask the server for a keepalive with the next status
	poked     atomic.Bool   // the receiver has something to send
	wake      chan struct{} // wakes the consumer (a mark, a waiter)

	mu       sync.Mutex
	mark     uint64 // a WAL position every commit before which was received
	markWake bool   // the mark came with a request of another instance's WaitFor
}

// txn is a committed transaction: its events of interest and the end of
// its commit record.
type txn struct {
	events []emmett.RecordedEvent
	end    uint64
}

// scope is the instrumentation scope of the source's telemetry.
const scope = "github.com/emmett-go/emmett/eventstore/postgres/replication"

// errStopped ends the receiver when the consumer is done.
var errStopped = errors.New("replication: stream stopped")

// stream streams the slot from pos until ctx ends, the handler fails or
// the connection does. slot is the slot's state; base, when set, is the
// cut of pos written down by an earlier stream.
func (s *Source) stream(ctx context.Context, pos *eventstore.Position, slot slotState, base *cut, handle func(context.Context, projection.Batch) error) error {
	// What the cut of pos is known to be, if anything: the one written
	// down, or the slot's snapshot at its consistent point.
	cuts := newCutKeeper(s)
	switch {
	case base != nil && base.lsn == pos.LSN:
		cuts.start(pos.LSN, base, !base.replacing)
	case slot.hasRecord && pos.LSN == uint64(slot.consistentPoint):
		cuts.start(pos.LSN, &cut{lsn: pos.LSN, snapshot: slot.snapshot}, false)
	default:
		cuts.start(pos.LSN, nil, false)
	}
	conn, err := s.startReplication(ctx, pos.LSN)
	if err != nil {
		return err
	}
	st := &stream{
		s: s, conn: conn, skip: pos.LSN, cuts: cuts,
		txns: make(chan txn, 64), quit: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	st.applied.Store(pos.LSN)
	go func() {
		st.err = st.receive()
		close(st.done)
	}()
	cutsCtx, stopCuts := context.WithCancel(ctx)
	cutsDone := make(chan struct{})
	if s.opts.TableCatchUpBytes < 0 {
		// Never caught up from the table: no cut to keep.
		cuts.start(pos.LSN, nil, false)
		stopCuts()
	}
	go func() {
		defer close(cutsDone)
		if cutsCtx.Err() == nil {
			cuts.run(cutsCtx)
		}
	}()
	defer func() {
		stopCuts()
		<-cutsDone
		// Write down the cut of the last position applied, for a
		// processor that resumes from it.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := cuts.write(wctx); err != nil {
			s.log.DebugContext(ctx, "replication: writing the cut down", "slot", s.slot, "error", err)
		}
	}()
	s.mu.Lock()
	s.active = st
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.active == st {
			s.active = nil
		}
		s.mu.Unlock()
		close(st.quit)
		_ = conn.Conn().SetReadDeadline(time.Now())
		<-st.done
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	return st.consume(ctx, pos, handle)
}

// startReplication connects and starts streaming the slot from lsn, taking
// the slot over from a stale walsender if need be.
func (s *Source) startReplication(ctx context.Context, lsn uint64) (*pgconn.PgConn, error) {
	args := []string{"proto_version '1'", "publication_names '" + s.opts.Publication + "'"}
	if s.serverVersion(ctx) >= 140000 {
		args = append(args, "messages 'true'")
	}
	for attempt := 0; ; attempt++ {
		if err := s.terminateSender(ctx); err != nil {
			return nil, err
		}
		conn, err := s.connect(ctx)
		if err != nil {
			return nil, err
		}
		err = pglogrepl.StartReplication(ctx, conn, s.slot, pglogrepl.LSN(lsn),
			pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args})
		if err == nil {
			s.log.DebugContext(ctx, "replication: streaming", "slot", s.slot, "from", pglogrepl.LSN(lsn).String())
			return conn, nil
		}
		_ = conn.Close(context.WithoutCancel(ctx))
		switch code := pgCode(err); {
		case code == codeObjectInUse && attempt < 50:
			continue // a walsender took it meanwhile: end it again
		case code == codeNotInPrereqState && strings.Contains(err.Error(), "can no longer get changes"):
			return nil, &SlotError{Slot: s.slot, Checkpoint: eventstore.Position{LSN: lsn}, Reason: "the server invalidated it: " + err.Error(),
				Err: fmt.Errorf("%w: %w", ErrSlotInvalidated, err)}
		case code == codeUndefinedObject && strings.Contains(err.Error(), "replication slot"):
			return nil, &SlotError{Slot: s.slot, Checkpoint: eventstore.Position{LSN: lsn}, Reason: "the slot does not exist",
				Err: fmt.Errorf("%w: %w", ErrCheckpointUnreachable, err)}
		}
		return nil, fmt.Errorf("replication: starting to stream slot %q: %w", s.slot, err)
	}
}

// receive is the receiver goroutine.
func (st *stream) receive() error {
	s := st.s
	dec := newDecoder(s.opts.Partition)
	var cur *txn        // the transaction being received
	var armed time.Time // the read deadline set on the connection
	nextStatus := time.Now()
	for {
		select {
		case <-st.quit:
			return errStopped
		default:
		}
		if st.poked.Swap(false) || !time.Now().Before(nextStatus) {
			if err := st.sendStatus(); err != nil {
				return err
			}
			nextStatus = time.Now().Add(s.opts.StatusInterval)
		}
		if !nextStatus.Equal(armed) {
			if err := st.conn.Conn().SetReadDeadline(nextStatus); err != nil {
				return err
			}
			armed = nextStatus
		}
		if st.poked.Load() {
			continue // poked between the swap and the deadline
		}
		msg, err := st.conn.ReceiveMessage(context.Background())
		if err != nil {
			if pgconn.Timeout(err) {
				armed = time.Time{} // the deadline passed, or a poke moved it
				continue
			}
			return fmt.Errorf("replication: receiving: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return &permanentError{fmt.Errorf("replication: %w", err)}
				}
				if ka.ReplyRequested {
					nextStatus = time.Now() // answer at once
				}
				if cur == nil {
					st.setMark(uint64(ka.ServerWALEnd), false)
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return &permanentError{fmt.Errorf("replication: %w", err)}
				}
				if cur, err = st.message(dec, cur, xld.WALData); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return errors.New("replication: the server ended the stream")
		}
	}
}

// message handles one pgoutput message; it returns the transaction in
// progress.
func (st *stream) message(dec *decoder, cur *txn, data []byte) (*txn, error) {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return cur, &permanentError{fmt.Errorf("replication: decoding a pgoutput message: %w", err)}
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		dec.relation(m)
	case *pglogrepl.BeginMessage:
		cur = &txn{}
	case *pglogrepl.InsertMessage:
		if cur == nil {
			return cur, &permanentError{errors.New("replication: insert outside a transaction")}
		}
		e, ok, err := dec.insert(m)
		if err != nil {
			return cur, &permanentError{err}
		}
		if ok {
			cur.events = append(cur.events, e)
		}
	case *pglogrepl.CommitMessage:
		if cur == nil {
			return cur, &permanentError{errors.New("replication: commit outside a transaction")}
		}
		cur.end = uint64(m.TransactionEndLSN)
		if cur.end > st.skip {
			if err := st.push(*cur); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case *pglogrepl.LogicalDecodingMessage:
		// A message outside a transaction is decoded in WAL order: every
		// commit before it was sent already, so its position is a mark.
		if !m.Transactional && cur == nil {
			st.setMark(uint64(m.LSN), m.Prefix == wakePrefix && string(m.Content) == st.s.slot)
		}
	}
	return cur, nil
}

// push hands a committed transaction to the consumer, answering the server
// meanwhile if the consumer is slow.
func (st *stream) push(t txn) error {
	select {
	case st.txns <- t:
		return nil
	default:
	}
	tick := time.NewTicker(st.s.opts.StatusInterval / 2)
	defer tick.Stop()
	for {
		select {
		case st.txns <- t:
			return nil
		case <-st.quit:
			return errStopped
		case <-tick.C:
			if err := st.sendStatus(); err != nil {
				return err
			}
		}
	}
}

// sendStatus tells the server what was durably applied. The write position
// is the applied one too (not what was received): while it is behind, the
// server sends a keepalive whenever its WAL moves, which keeps the mark
// fresh for the consumer.
func (st *stream) sendStatus() error {
	applied := pglogrepl.LSN(st.applied.Load())
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), st.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: applied, WALFlushPosition: applied, WALApplyPosition: applied,
		ClientTime: time.Now(), ReplyRequested: st.wantReply.Swap(false),
	})
	if err != nil {
		return fmt.Errorf("replication: sending standby status: %w", err)
	}
	return nil
}

// poke makes the receiver send a status update now.
func (st *stream) poke() {
	st.poked.Store(true)
	_ = st.conn.Conn().SetReadDeadline(time.Now())
}

func (st *stream) setMark(lsn uint64, wake bool) {
	st.mu.Lock()
	if lsn > st.mark {
		st.mark = lsn
	}
	st.markWake = st.markWake || wake
	st.mu.Unlock()
	st.wakeConsumer()
}

func (st *stream) takeMark() (uint64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	w := st.markWake
	st.markWake = false
	return st.mark, w
}

func (st *stream) wakeConsumer() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// endAt is the end of a batch without events at lsn, after pos: it keeps
// the transaction id and global position of the last event delivered, so
// that it compares with positions of the table's order (eventstore.Position
// compares those by (TransactionID, GlobalPosition)) as that event does.
func (st *stream) endAt(pos eventstore.Position, lsn uint64) eventstore.Position {
	return eventstore.Position{LSN: lsn, TransactionID: pos.TransactionID, GlobalPosition: pos.GlobalPosition}
}

// consume delivers the stream's transactions to the handler, and empty
// batches at the server's marks when it is idle.
func (st *stream) consume(ctx context.Context, pos *eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	o := st.s.opts
	lastEnd := pos.LSN
	lastBatch := time.Now()
	var lastIdle, lastReplyAsk, lastPoke time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	deliver := func(b projection.Batch) error {
		if err := handle(ctx, b); err != nil {
			return &handlerError{err}
		}
		*pos = b.End
		lastEnd = b.End.LSN
		lastBatch = time.Now()
		st.applied.Store(lastEnd)
		st.cuts.applied(b.Events, lastEnd)
		if time.Since(lastPoke) >= time.Second {
			lastPoke = time.Now()
			st.poke()
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.done:
			return st.err
		case t := <-st.txns:
			// Take what else has arrived, whole transactions up to the
			// batch size.
			events, end := t.events, t.end
		more:
			for len(events) < o.BatchSize {
				select {
				case t := <-st.txns:
					events, end = append(events, t.events...), t.end
				default:
					break more
				}
			}
			b := projection.Batch{Events: events, End: st.endAt(*pos, end)}
			if n := len(events); n > 0 {
				b.End.TransactionID, b.End.GlobalPosition = events[n-1].TransactionID, events[n-1].GlobalPosition
			}
			if err := deliver(b); err != nil {
				return err
			}
		case <-st.wake:
		case <-timer.C:
		}
		// Idle: nothing queued. The mark is read before the queue is
		// looked at: a transaction before the mark was queued before the
		// mark was set.
		mark, wake := st.takeMark()
		if len(st.txns) > 0 {
			if wake {
				st.setMark(mark, true) // keep the request for after the queue
			}
			continue
		}
		waiter := st.s.waiting()
		now := time.Now()
		if mark > lastEnd {
			due := wake || (waiter > lastEnd && mark >= waiter) ||
				(int64(mark-lastEnd) >= o.IdleAdvanceBytes && now.Sub(lastIdle) >= time.Second) ||
				now.Sub(lastBatch) >= o.IdleAdvanceInterval
			if due {
				lastIdle = now
				if err := deliver(projection.Batch{End: st.endAt(*pos, mark)}); err != nil {
					return err
				}
				lastPoke = time.Now() // tell the server now: the slot moves on
				st.poke()
			}
		}
		// Wake up when an advance to the mark comes due (a new mark wakes
		// the consumer anyway).
		wait := time.Hour
		if mark > lastEnd {
			wait = o.IdleAdvanceInterval - now.Sub(lastBatch)
			if int64(mark-lastEnd) >= o.IdleAdvanceBytes {
				wait = min(wait, time.Second-now.Sub(lastIdle))
			}
		}
		// A local waiter beyond what the server has reported: ask it for
		// a keepalive (the walsender answers with how far it decoded).
		if waiter > lastEnd {
			if now.Sub(lastReplyAsk) >= 5*time.Millisecond {
				lastReplyAsk = now
				st.wantReply.Store(true)
				st.poke()
			}
			wait = 20 * time.Millisecond
		}
		timer.Reset(max(wait, time.Millisecond))
	}
}
