package eventstore_test

import (
	"context"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
)

func TestWithMinPosition(t *testing.T) {
	ctx := context.Background()
	_, ok := eventstore.MinPosition(ctx)
	assert.False(t, ok)

	early := eventstore.Position{TransactionID: 7, GlobalPosition: 3}
	late := eventstore.Position{TransactionID: 9, GlobalPosition: 5}
	got, ok := eventstore.MinPosition(eventstore.WithMinPosition(ctx, early))
	assert.True(t, ok)
	assert.Equal(t, early, got)
	got, _ = eventstore.MinPosition(eventstore.WithMinPosition(eventstore.WithMinPosition(ctx, early), late))
	assert.Equal(t, late, got, "a later position replaces an earlier one")
	got, _ = eventstore.MinPosition(eventstore.WithMinPosition(eventstore.WithMinPosition(ctx, late), early))
	assert.Equal(t, late, got, "an earlier one does not replace a later one")
}
