package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"AdminShutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"StartingUp", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, true},
		{"TooManyConnections", &pgconn.PgError{Severity: "FATAL", Code: "53300"}, true},
		{"ConnectionFailure", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, true},
		{"ConnectionRefused", fmt.Errorf("dial: %w", refused), true},
		{"ConnClosed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"UnexpectedEOF", io.ErrUnexpectedEOF, true},
		{"WrongPassword", &pgconn.PgError{Severity: "FATAL", Code: "28P01"}, false},
		{"NoSuchDatabase", &pgconn.PgError{Severity: "FATAL", Code: "3D000"}, false},
		{"UniqueViolation", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, false},
		{"Cancelled", fmt.Errorf("query: %w", context.Canceled), false},
		{"Other", errors.New("something else"), false},
		{"Nil", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, unavailable(c.err))
			if c.err != nil {
				assert.Equal(t, c.want, errors.Is(markUnavailable(c.err), eventstore.ErrUnavailable))
				assert.ErrorIs(t, markUnavailable(c.err), c.err, "the cause is kept")
			}
		})
	}
}
