package memory_test

import (
	"testing"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
)

func TestMembership(t *testing.T) {
	projectiontest.RunMembership(t, func(t *testing.T) projection.Membership { return memory.New().Membership() })
}

func TestGroup(t *testing.T) {
	projectiontest.RunGroup(t, suiteConfig(), func(b projectiontest.Backend) projection.Membership {
		return b.(*memory.Store).Membership()
	})
}
