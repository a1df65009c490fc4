# Emmett for Go. `make run` starts the sample app, `make test` runs every test
# (PostgreSQL ones included: they start a throwaway server from the local
# PostgreSQL binaries, see testing/pgtest).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test bench lint fmt vet tidy

run:
	$(GO) run ./examples/shoppingcart/cmd/shoppingcart $(ARGS)

test: vet
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

vet:
	$(GO) vet ./...

# lint also checks that go.mod and go.sum are tidy: go mod tidy -diff prints
# what tidy would change, and fails, without writing anything.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run make tidy"; exit 1; }

tidy:
	$(GO) mod tidy

fmt:
	gofmt -w $$(git ls-files '*.go')
