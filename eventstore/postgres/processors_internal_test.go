package postgres

import (
	"context"
	"testing"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLockSessionProbesItsClient checks that the session holding a
// processor's lock has the server probe its client, so that the lock of
// an instance whose host vanished is freed in about 30 s.
func TestLockSessionProbesItsClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var viaSocket bool
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT inet_client_addr() IS NULL").Scan(&viaSocket))
	if viaSocket {
		t.Skip("the test server is reached over a Unix socket, where TCP keepalives do not apply")
	}

	l, err := s.Processors().Lock(ctx, "probed")
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Release(ctx)) }()
	conn := l.(*processorLock).conn
	for setting, want := range map[string]string{
		"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3", "tcp_user_timeout": "30000",
	} {
		var got string
		require.NoError(t, conn.QueryRow(ctx, "SHOW "+setting).Scan(&got))
		assert.Equal(t, want, got, setting)
	}
}
