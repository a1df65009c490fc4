package memory_test

import (
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/testing/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store { return memory.New() },
	})
}

func TestStreamLister(t *testing.T) {
	storetest.RunStreamLister(t, storetest.Config{New: func(t *testing.T) eventstore.Store { return memory.New() }})
	storetest.RunGroupLister(t, memory.New().Membership())
}
