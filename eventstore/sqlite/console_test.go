package sqlite_test

import (
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/testing/storetest"
)

func TestStreamLister(t *testing.T) {
	s, _ := open(t)
	storetest.RunStreamLister(t, storetest.Config{New: func(t *testing.T) eventstore.Store { return s }})
	storetest.RunGroupLister(t, s.Membership())
}
