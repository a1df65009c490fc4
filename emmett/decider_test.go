package emmett_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeciderFold(t *testing.T) {
	assert.Equal(t, Account{}, account.Fold())
	assert.Equal(t, Account{Balance: 7}, account.Fold(Deposited{Amount: 10}, Withdrawn{Amount: 3}))
}

func TestDeciderRun(t *testing.T) {
	state, events, err := account.Run(Withdraw{Amount: 4}, Deposited{Amount: 10})
	require.NoError(t, err)
	assert.Equal(t, []AccountEvent{Withdrawn{Amount: 4}}, events)
	assert.Equal(t, Account{Balance: 6}, state, "the state includes the new events")

	state, events, err = account.Run(Withdraw{Amount: 40}, Deposited{Amount: 10})
	require.ErrorIs(t, err, ErrInsufficientFunds)
	assert.Nil(t, events)
	assert.Equal(t, Account{Balance: 10}, state, "a rejected command leaves the state as it was")
}
