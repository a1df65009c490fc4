package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrPartitionNotFound is matched by the error of an append to a partition
// that has not been created (see Store.AddPartition and
// WithAutoCreatePartitions).
var ErrPartitionNotFound = errors.New("postgres: partition not found")

// ErrInvalidPartition is matched by the error for a partition name that
// cannot be used: empty, not valid UTF-8, containing NUL, or too long for
// the tables named after it.
var ErrInvalidPartition = errors.New("postgres: invalid partition name")

// PartitionNotFoundError names the missing partition. It matches
// ErrPartitionNotFound.
type PartitionNotFoundError struct {
	// Partition is the partition that does not exist.
	Partition string
	// Err is the database's error.
	Err error
}

// Error implements error.
func (e *PartitionNotFoundError) Error() string {
	return fmt.Sprintf("postgres: partition %q does not exist; create it with AddPartition first", e.Partition)
}

// Is reports whether target is ErrPartitionNotFound.
func (e *PartitionNotFoundError) Is(target error) bool { return target == ErrPartitionNotFound }

// Unwrap returns the database's error.
func (e *PartitionNotFoundError) Unwrap() error { return e.Err }

// OutcomeUnknownError is the error of an append whose connection was lost
// (or whose context ended) after the append was sent and before its commit
// was confirmed: it may have been stored, or not. It matches
// eventstore.ErrOutcomeUnknown and unwraps to the cause.
//
// Read the stream to find out (MessageIDs are the ids the events were sent
// with) before trying again.
type OutcomeUnknownError struct {
	// Stream and Partition are where the events were appended.
	Stream, Partition string
	// MessageIDs are the ids of the events, in order: if the append was
	// stored, the stream holds events with these ids.
	MessageIDs []string
	// Err is what went wrong: the connection's error, or the context's.
	Err error
}

// Error implements error.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("postgres: append to stream %q: the commit was not confirmed, the events may or may not have been stored (read the stream to find out): %v", e.Stream, e.Err)
}

// Is reports whether target is eventstore.ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool { return target == eventstore.ErrOutcomeUnknown }

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// PostgreSQL error codes the store looks at.
const (
	codeCheckViolation       = "23514"
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeQueryCanceled        = "57014"
	codeUndefinedTable       = "42P01"
	codeDuplicateTable       = "42P07"
)

func pgError(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

// unavailable reports whether err says the server could not be reached or
// ended the session: a failed or lost connection, a server shutting down,
// starting up, or out of connections. A refused login (a wrong password, a
// missing database) is not: trying again will not help.
func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if pgErr := pgError(err); pgErr != nil {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // shutting down, crashed, starting up
			"53300": // too many connections
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exception
	}
	// A failed dial or a broken connection; not a failed TLS handshake or
	// authentication, which trying again will not mend.
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// markUnavailable makes err match eventstore.ErrUnavailable when the server
// could not be reached.
func markUnavailable(err error) error {
	if unavailable(err) && !errors.Is(err, eventstore.ErrUnavailable) {
		return fmt.Errorf("%w (%w)", err, eventstore.ErrUnavailable)
	}
	return err
}

func isMissingPartition(err error) bool {
	pgErr := pgError(err)
	return pgErr != nil && pgErr.Code == codeCheckViolation && strings.Contains(pgErr.Message, "no partition of relation")
}

// isUniqueViolation reports whether err is a unique index's refusal (the
// message ids of a repeated append).
func isUniqueViolation(err error) bool {
	pgErr := pgError(err)
	return pgErr != nil && pgErr.Code == codeUniqueViolation
}

// isRetryable reports whether a transaction that failed with err may be
// tried again as a whole: a serialization failure or a deadlock rolled it
// back, a document collection it used was dropped meanwhile (and is
// created anew by the next try), or a document it read was written by
// another transaction meanwhile (and is read anew by the next try).
func isRetryable(err error) bool {
	if errors.Is(err, errCollectionGone) || errors.Is(err, errDocumentChanged) {
		return true
	}
	pgErr := pgError(err)
	return pgErr != nil && (pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected)
}

// written tells what is known of an append that failed.
type written int

const (
	notWritten written = iota // certainly not stored
	unknown                   // may or may not have been stored
)

// outcome classifies the error of a statement (or COMMIT) that would have
// committed the append: confirmed tells whether the statement's result was
// received before the error.
func outcome(err error, confirmed bool) written {
	if pgconn.SafeToRetry(err) {
		return notWritten // nothing reached the server
	}
	if pgErr := pgError(err); pgErr != nil {
		switch strings.ToUpper(pgErr.Severity) {
		case "ERROR":
			return notWritten // the transaction was rolled back
		default: // FATAL or PANIC: the session ended
			if !confirmed {
				return notWritten // ... before the statement completed, so before any commit
			}
			return unknown
		}
	}
	return unknown // the connection broke: the server may have committed
}

// wrapAppendError gives the error of a failed append: the context's error
// when it ended, an *OutcomeUnknownError when the outcome is unknown.
func wrapAppendError(ctx context.Context, err error, w written, stream, partition string, ids []string) error {
	if w == unknown {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return &OutcomeUnknownError{Stream: stream, Partition: partition, MessageIDs: ids, Err: err}
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("postgres: append to stream %q: %w (nothing was stored: %w)", stream, ctxErr, err)
	}
	if pgErr := pgError(err); pgErr != nil && pgErr.Code == codeQueryCanceled {
		return fmt.Errorf("postgres: append to stream %q cancelled by the server (statement timeout?), nothing was stored: %w", stream, err)
	}
	return fmt.Errorf("postgres: append to stream %q failed, nothing was stored: %w", stream, markUnavailable(err))
}
