# Emmett for Go. `make run` starts the sample app, `make test` runs every test
# (PostgreSQL ones included: they start a throwaway server from the local
# PostgreSQL binaries, see testing/pgtest).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test bench lint fmt vet

run:
	$(GO) run ./examples/shoppingcart/cmd/shoppingcart $(ARGS)

test: vet
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

vet:
	$(GO) vet ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')
