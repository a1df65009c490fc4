# Emmett for Go. `make run` starts the sample app, `make test` runs every test
# (PostgreSQL ones included: they start a throwaway server from the local
# PostgreSQL binaries, see testing/pgtest).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test check bench lint fmt vet tidy wasm-test web

run:
	$(GO) run ./examples/shoppingcart/cmd/shoppingcart $(ARGS)

# The race detector instruments every package, and costs the most in
# third-party code translated into Go from C: SQLite with its libc
# (modernc.org/sqlite/lib, modernc.org/libc, memory, mathutil), and SQLite
# compiled to Wasm then to Go (github.com/ncruces/go-sqlite3-wasm). That
# code runs about ten times slower instrumented (the SQLite tests, 166 s
# against 55 s), and the race detector has little to check there: modernc's
# C heap is mmap'd memory outside Go's heap, which it does not watch. So
# make test builds those packages without it (-gcflags=PKG=-race=false);
# this module's packages and the drivers' own Go code (modernc.org/sqlite,
# github.com/ncruces/go-sqlite3) are instrumented as ever. go test -race
# ./... runs the same tests, only slower.
NORACE := modernc.org/sqlite/lib modernc.org/libc/... modernc.org/memory modernc.org/mathutil github.com/ncruces/go-sqlite3-wasm/...
RACE := -race $(foreach p,$(NORACE),-gcflags=$(p)=-race=false)

# WASI is tested on its own, with wazero's compiler left out of the race
# detector too: instrumented, compiling the sample app's 20 MB wasip1
# module took over 9 minutes, against 3 without. Only there: in the other
# test binaries, an uninstrumented wazero made the race detector report
# races inside encoding/json that do not happen (the sample app's
# TestOneOpenCartPerClient, 3 runs in 10; none in 10 instrumented).
WASI := ./examples/shoppingcart/wasi

# SLOW lists the packages whose tests take longest, longest first: go test
# starts the packages in the order given, two at a time on two cores, and
# one of them started last would run on alone at the end (./... adds the
# rest, once each).
SLOW := ./eventstore/postgres/replication ./eventstore/postgres ./projection/wasm ./eventstore/sqlite ./examples/shoppingcart/cmd/shoppingcart ./cli ./testing/pgtest

test: vet wasm-test
	$(GO) test $(RACE) -timeout 20m $(SLOW) $$($(GO) list ./... | grep -vx 'github.com/emmett-go/emmett/examples/shoppingcart/wasi')
	$(GO) test $(RACE) -gcflags=github.com/tetratelabs/wazero/...=-race=false -timeout 20m $(WASI)

# wasm-test runs the conformance suites (storetest, projectiontest) on the
# web's targets: GOOS=js GOARCH=wasm under Node (Go's go_js_wasm_exec) and
# GOOS=wasip1 under wazero (Go's go_wasip1_wasm_exec, with the wazero CLI
# built from the module's own wazero into bin/). The memory store runs
# both suites; SQLite (github.com/ncruces/go-sqlite3 on these targets) the
# store suite on a file and in memory, and the projection suite in memory
# (the page's database; on a file under Node each write goes through
# Node's synchronous fs, a minute for the documents cases alone), and
# package projection's own tests run too. -short shrinks the long cases,
# as make check does. The runs go in parallel (docs/performance.md has
# their timings).
WASM_PATH := $(PATH):$(shell $(GO) env GOROOT)/lib/wasm:$(CURDIR)/bin
WASM_MEMORY := -short -run '^Test(Conformance|Projections)$$' ./eventstore/memory
WASM_SQLITE := -short -run '^Test(Conformance|Projections|CancelledAppendKeepsTheDatabase|CancelledTransactionKeepsTheDatabase)$$/^(File|Memory)$$' -skip '^TestProjections$$/^File$$' ./eventstore/sqlite

bin/wazero: go.mod
	$(GO) build -o $@ github.com/tetratelabs/wazero/cmd/wazero

wasm-test: bin/wazero
	@export PATH="$(WASM_PATH)" GOARCH=wasm GOWASIRUNTIME=wazero; \
	GOOS=js $(GO) test $(WASM_MEMORY) & a=$$!; GOOS=js $(GO) test $(WASM_SQLITE) & b=$$!; \
	GOOS=wasip1 $(GO) test $(WASM_MEMORY) & c=$$!; GOOS=wasip1 $(GO) test $(WASM_SQLITE) & d=$$!; \
	GOOS=js $(GO) test -short ./projection & e=$$!; GOOS=wasip1 $(GO) test -short ./projection & f=$$!; \
	fail=0; for p in $$a $$b $$c $$d $$e $$f; do wait $$p || fail=1; done; exit $$fail

# web serves the browser edition of the shopping cart
# (examples/shoppingcart/web, docs/web.md) at http://localhost:8090/.
web:
	$(GO) run ./examples/shoppingcart/web/cmd/shoppingcart-web $(ARGS)

# check is the quick pass before a commit, under two minutes from scratch
# on two cores (far less when go test has the results of the packages a
# change does not touch): lint, then every package's tests with -short and
# without the race detector. -short leaves out the tests that start a
# PostgreSQL server of their own (pgtest.NewServer) and shrinks the long
# cases (testing.Short()); make test, which CI runs, runs them all.
check: lint
	$(GO) test -short $(SLOW) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

vet:
	$(GO) vet ./...

# lint also checks that go.mod and go.sum are tidy (go mod tidy -diff prints
# what tidy would change, and fails, without writing anything), and that no
# package outside examples/, tests included, depends on an example.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run make tidy"; exit 1; }
	@bad=$$($(GO) list -test -deps $$($(GO) list ./... | grep -v '/examples/') | grep '/emmett/examples/' | sort -u); if [ -n "$$bad" ]; then echo "the library (tests included) must not depend on examples: $$bad"; exit 1; fi

tidy:
	$(GO) mod tidy

fmt:
	gofmt -w $$(git ls-files '*.go')
