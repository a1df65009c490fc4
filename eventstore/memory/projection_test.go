package memory_test

import (
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
)

// suiteConfig is the memory store under projectiontest's suites.
func suiteConfig() projectiontest.Config {
	return projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			return memory.New(memory.WithProjections(inline...))
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*memory.Store).Source(projection.PollBatchSize(100))
		},
		WokenSource: func(b projectiontest.Backend) projection.Source {
			return b.(*memory.Store).Source(projection.PollInterval(time.Hour))
		},
	}
}

func TestProjections(t *testing.T) {
	projectiontest.Run(t, suiteConfig())
}
