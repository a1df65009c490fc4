package wasm

import "github.com/emmett-go/emmett/projection/wasm/internal/loadopts"

func init() {
	loadopts.Interruptible = func(opts []any) bool {
		var c config
		for _, o := range opts {
			if o, ok := o.(Option); ok && o != nil {
				o(&c)
			}
		}
		return !c.uninterrupt
	}
}
