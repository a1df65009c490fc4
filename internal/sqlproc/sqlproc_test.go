package sqlproc

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
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
