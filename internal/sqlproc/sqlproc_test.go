package sqlproc

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckpointTexts(t *testing.T) {
	for _, c := range []struct {
		p     eventstore.Position
		text  string
		forms []string
	}{
		{eventstore.Position{}, "0000000000000000000", []string{"0000000000000000000", "0", ""}},
		{eventstore.Position{GlobalPosition: 42}, "0000000000000000042", []string{"0000000000000000042", "42"}},
		{eventstore.Position{TransactionID: 731, GlobalPosition: 4}, "00000000000000000731:0000000000000000004",
			[]string{"00000000000000000731:0000000000000000004", "731:4", "0000000000000000004"}},
		{eventstore.Position{LSN: 0x16B3748, TransactionID: 731, GlobalPosition: 4}, "0/16B3748@00000000000000000731:0000000000000000004",
			[]string{"0/16B3748@00000000000000000731:0000000000000000004", "0/16B3748@731:4"}},
	} {
		assert.Equal(t, c.text, CheckpointText(c.p))
		assert.Equal(t, c.forms, CheckpointForms(c.p))
		for _, form := range c.forms[:2] {
			p, found, err := ParseCheckpoint("test", "proc", form)
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, c.p, p, "%q reads back", form)
		}
	}
	_, found, err := ParseCheckpoint("test", "proc", "")
	require.NoError(t, err)
	assert.False(t, found, "no checkpoint")
	_, _, err = ParseCheckpoint("test", "proc", "nonsense")
	assert.ErrorContains(t, err, `test: processor "proc": stored checkpoint`)
}

func TestPause(t *testing.T) {
	wake := make(chan struct{})
	close(wake)
	start := time.Now()
	require.NoError(t, Pause(context.Background(), wake, time.Minute), "woken")
	require.NoError(t, Pause(context.Background(), nil, time.Millisecond), "the pause passed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Pause(ctx, nil, time.Minute), context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestCommitRefused(t *testing.T) {
	from := eventstore.Position{GlobalPosition: 7}
	for _, tc := range []struct {
		name     string
		locked   bool
		row      Row
		sentinel error
		text     string
	}{
		{"RowGoneUnderLock", true, Row{}, projection.ErrLockLost, "its row is gone"},
		{"NoRow", false, Row{}, projection.ErrCheckpointMoved, "has no checkpoint"},
		{"LockTaken", true, Row{Found: true, Instance: "other", Status: "running"}, projection.ErrLockLost, "the lock is now other's"},
		{"LockStopped", true, Row{Found: true, Instance: "me", Status: "stopped"}, projection.ErrLockLost, "(status stopped)"},
		{"RunningElsewhere", false, Row{Found: true, Instance: "other", Status: "running"}, projection.ErrLockLost, "running in instance other"},
		{"MovedUnderLock", true, Row{Found: true, Checkpoint: "9", Instance: "me", Status: "running"}, projection.ErrCheckpointMoved, `stored checkpoint "9"`},
		{"MovedWithoutLock", false, Row{Found: true, Checkpoint: "9", Free: true}, projection.ErrCheckpointMoved, `stored checkpoint "9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CommitRefused("test", "p", from, tc.locked, "me", tc.row)
			assert.ErrorIs(t, err, tc.sentinel)
			assert.Contains(t, err.Error(), tc.text)
			assert.Contains(t, err.Error(), `test: processor "p"`)
		})
	}
}
