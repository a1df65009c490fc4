package replication

import "time"

// WithCutInterval sets how often the source writes down the cut of the
// applied position (1s by default), for the tests.
func WithCutInterval(d time.Duration) Option { return func(c *config) { c.CutInterval = d } }
