package postgres

import "github.com/emmett-go/emmett/projection"

// StopRenewing stops the renewals of a lease (a lock of a store with
// WithLeaseLocks or WithPooler), as if its process froze: the lock does not
// know that it lost the lease until a commit tells it.
func StopRenewing(l projection.Lock) { l.(*processorLock).stopWatch() }
