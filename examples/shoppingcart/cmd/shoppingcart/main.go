// Command shoppingcart runs the sample shopping-cart HTTP API.
//
// By default it keeps its events and read models in a SQLite database file
// (data/shoppingcart.db under the working folder, created on first run): no
// server is needed. With EMMETT_POSTGRES_URL set it uses PostgreSQL instead.
//
//	shoppingcart [-addr 127.0.0.1:8080] [-db data/shoppingcart.db]
//	             [-request-timeout 30s] [-response-timeout 1m] [-idle-timeout 2m]
//	             [-key data/shoppingcart.key] [-no-auth] [-summary-version 2]
//	             [-checkout=true] [-payment-timeout 15m]
//	shoppingcart -token CLIENT | -events-token
//	shoppingcart emmett [-sqlite PATH | -postgres URL] COMMAND [ARGUMENTS]
//
// Requests need a bearer token (see shoppingcart.Auth): a client's
// endpoints (/clients/{clientId}/...) the client's token, which
// -token CLIENT prints, and the event feeds (/events/...) the events
// token, which -events-token prints. Tokens are signed with the key in the
// -key file, created with a random key on first use; they stay valid until
// the key changes. -no-auth serves every request without a token: anyone
// may then use any client's carts and read every event, as when trying the
// API by hand.
//
// Its server (httpapi.NewServer) bounds what a slow or idle client holds:
// 10 seconds to send a request's headers, -request-timeout to send the
// whole request (a body sent a byte at a time is cut off), -response-timeout
// to answer, and -idle-timeout before an idle keep-alive connection is
// closed; 0 turns one off. The live event streams (/events/.../live) stay
// open under them for as long as their clients read.
//
// The cart details and short info read models are inline (updated in the
// append's transaction); the client summary is kept by an asynchronous
// processor, which parks an event it keeps failing on (emmett parked lists,
// retries and discards them) and goes on. Several instances of the app on
// one database (PostgreSQL, or one SQLite file) spread the processors
// among them, each on one instance (a projection.Group), and take over
// those of an instance that stops or dies. The client summary is at version
// 2: its processor builds version 2 beside version 1's, which serves reads
// until version 2 has caught up (a rebuild without downtime; see
// shoppingcart.ClientSummaryProjection). -summary-version 1 runs the
// release before, with version 1 only.
//
// A confirmed cart becomes an order, which waits for its payment
// (POST /clients/{clientId}/orders/{orderId}/pay): the checkout workflow
// (shoppingcart.CheckoutWorkflow) places it and cancels it if it is not
// paid within -payment-timeout (-checkout=false: confirmed carts stay
// carts).
//
// The product item events are at version 2 (a unit price is a money
// object); a database from before, with version 1 events, keeps working:
// the app reads them through its registry's upcasters, and its event
// feeds serve them as version 2. shoppingcart emmett is the command-line
// tool (cmd/emmett) built with the app's registries (package cli): its
// read and tail print events as version 2, -raw as stored, and its check
// reads the store against them.
//
// It logs JSON lines on stderr, one per request among them: its method,
// path, status and duration, and its trace id when the request has a span
// (see setupTelemetry).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/emmett-go/emmett/cli"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/workflow"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "emmett" {
		// The command-line tool, built with the app's registries.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr, cli.WithUpgrade(sc.Upgrade), cli.WithSchema(sc.Schema()))
		stop()
		os.Exit(code)
	}
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8080"), "address to listen on (env ADDR)")
	db := flag.String("db", envOr("EMMETT_SQLITE_PATH", filepath.Join("data", "shoppingcart.db")), "SQLite database file (env EMMETT_SQLITE_PATH)")
	requestTimeout := durationFlag("request-timeout", "REQUEST_TIMEOUT", 30*time.Second, "how long a client may take to send a request, body included")
	responseTimeout := durationFlag("response-timeout", "RESPONSE_TIMEOUT", time.Minute, "how long a response may take, from the end of the request's headers (live event streams excepted)")
	idleTimeout := durationFlag("idle-timeout", "IDLE_TIMEOUT", 2*time.Minute, "how long a keep-alive connection may stay idle")
	keyFile := flag.String("key", envOr("SHOPPINGCART_KEY_FILE", filepath.Join("data", "shoppingcart.key")), "file of the key that signs tokens, created with a random key if missing (env SHOPPINGCART_KEY_FILE)")
	noAuth := flag.Bool("no-auth", false, "serve every request without a token: anyone may use any client's carts and read every event")
	tokenFor := flag.String("token", "", "print the bearer token of this client, and exit")
	eventsToken := flag.Bool("events-token", false, "print the bearer token of the event feeds (/events/...), and exit")
	checkoutOn := flag.Bool("checkout", true, "run the checkout workflow: confirmed carts become orders, cancelled when not paid within -payment-timeout")
	paymentTimeout := durationFlag("payment-timeout", "PAYMENT_TIMEOUT", sc.DefaultPaymentTimeout, "how long an order waits for its payment before the checkout workflow cancels it")
	summaryVersion := flag.Int("summary-version", sc.ClientSummaryVersion, "the newest version of the client summary to run: 1, the release before, or 2, which builds version 2 beside version 1 and switches to it once caught up")
	flag.Parse()
	if *summaryVersion < 1 || *summaryVersion > sc.ClientSummaryVersion {
		fmt.Fprintf(os.Stderr, "shoppingcart: -summary-version %d: the client summary has versions 1 to %d\n", *summaryVersion, sc.ClientSummaryVersion)
		os.Exit(2)
	}
	timeouts := []httpapi.ServerOption{
		httpapi.WithRequestTimeout(*requestTimeout), httpapi.WithResponseTimeout(*responseTimeout), httpapi.WithIdleTimeout(*idleTimeout),
	}

	var auth *sc.Auth
	if !*noAuth || *tokenFor != "" || *eventsToken {
		key, err := loadKey(*keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shoppingcart:", err)
			os.Exit(1)
		}
		auth = sc.NewAuth(key)
	}
	switch {
	case *tokenFor != "":
		fmt.Println(auth.ClientToken(*tokenFor))
		return
	case *eventsToken:
		fmt.Println(auth.EventsToken())
		return
	case *noAuth:
		auth = nil
	}

	logger := newLogger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, *addr, *db, os.Getenv("EMMETT_POSTGRES_URL"), auth, *summaryVersion, checkoutTimeout(*checkoutOn, *paymentTimeout), timeouts...); err != nil {
		logger.Error("shoppingcart stopped", "error", err)
		os.Exit(1)
	}
}

// checkoutTimeout is the payment timeout of the checkout workflow when it
// runs, and 0 when it does not.
func checkoutTimeout(on bool, timeout time.Duration) time.Duration {
	if !on {
		return 0
	}
	return timeout
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// durationFlag defines a duration flag whose default the environment
// variable env overrides when set.
func durationFlag(name, env string, def time.Duration, usage string) *time.Duration {
	d := flag.Duration(name, def, usage+" (env "+env+")")
	if v := os.Getenv(env); v != "" {
		if err := flag.Set(name, v); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", env, err)
			os.Exit(2)
		}
	}
	return d
}

// backend is what the app runs on: a store with documents, processors'
// checkpoints, and the feeds of the global log.
type backend struct {
	store   sc.Backend
	all     sc.CheckoutStore // the store with its processors and feeds, for the checkout workflow
	cps     projection.CheckpointStore
	members projection.Membership // the instances of the app, for its processor group
	// summarySource feeds a processor of the client summary.
	summarySource func(ctx context.Context, processorID string) (projection.Source, error)
	// liveSource feeds the live event streams of the HTTP API.
	liveSource projection.Source
	name       string
	close      func() error
}

func openBackend(ctx context.Context, logger *slog.Logger, dbPath, postgresURL string) (*backend, error) {
	inline := []projection.Projection{sc.CartDetailsProjection(), sc.CartShortInfoProjection()}
	if postgresURL != "" {
		return openPostgres(ctx, postgresURL, inline, logger)
	}
	if dir := filepath.Dir(dbPath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	store, err := sqlite.Open(ctx, dbPath, sqlite.WithProjections(inline...))
	if err != nil {
		return nil, err
	}
	return &backend{
		store:   store,
		all:     store,
		cps:     store.Processors(),
		members: store.Membership(),
		summarySource: func(context.Context, string) (projection.Source, error) {
			return store.Source(), nil
		},
		liveSource: store.Source(),
		name:       "SQLite " + dbPath,
		close:      store.Close,
	}, nil
}

// run serves the app on addr until ctx ends, to the holders of auth's
// tokens (to anyone when auth is nil); server configures its http.Server
// (timeouts), made by httpapi.NewServer.
func run(ctx context.Context, logger *slog.Logger, addr, dbPath, postgresURL string, auth *sc.Auth, summaryVersion int, paymentTimeout time.Duration, server ...httpapi.ServerOption) error {
	shutdownTelemetry, err := setupTelemetry(ctx)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		if err := shutdownTelemetry(context.Background()); err != nil {
			logger.Warn("flushing telemetry", "error", err)
		}
	}()

	b, err := openBackend(ctx, logger, dbPath, postgresURL)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer b.close()

	// The client summary's processors: one per version up to
	// summaryVersion. The newest version is built beside the one serving
	// reads, which its processor keeps up to date meanwhile; an event a
	// version keeps failing on is parked (emmett parked lists, retries and
	// discards it) rather than stopping the app's read model.
	//
	// They run in a group (projection.Group): the instances of the app on
	// one database spread its processors among them, each processor on
	// one live instance, and take over those of an instance that stops or
	// dies (within about 12.5 s: projection.DefaultInstanceTTL and a
	// heartbeat).
	versions := []*projection.DocumentProjection[sc.ClientShoppingSummary, sc.Event]{sc.ClientSummaryProjectionV1(), sc.ClientSummaryProjection()}[:summaryVersion]
	var processors []*projection.Processor
	var summary *projection.Processor
	for _, p := range versions {
		id := projection.VersionedName(p.Name(), p.Version())
		source, err := b.summarySource(ctx, id)
		if err != nil {
			return fmt.Errorf("the feed of the client summary's version %d: %w", p.Version(), err)
		}
		if c, ok := source.(io.Closer); ok {
			defer c.Close() // the replication feed stops reporting its slot
		}
		proc := projection.NewProjectionProcessor(b.cps, source, p, projection.WithLogger(logger),
			projection.WithFailurePolicy(projection.ParkOnFailure))
		processors = append(processors, proc)
		summary = proc // the newest version's: its WaitFor waits for the active one
	}
	group := projection.NewGroup(b.members, "shoppingcart", processors, projection.WithGroupLogger(logger))
	processorDone := make(chan error, 1)
	procCtx, stopProcessors := context.WithCancel(context.Background())
	defer stopProcessors()
	go func() { processorDone <- group.Run(procCtx) }()

	// The checkout workflow places the orders of confirmed carts and
	// cancels those not paid within paymentTimeout (0: it does not run).
	// It takes a lock of its own: one instance of the app runs it at a
	// time.
	var checkoutDone chan error // nil (never ready) when it does not run
	var orders sc.Waiter
	if paymentTimeout > 0 {
		checkout := sc.NewCheckout(b.all, paymentTimeout, workflow.WithLogger(logger),
			workflow.WithProcessorOptions(projection.WithFailurePolicy(projection.ParkOnFailure)))
		checkoutDone = make(chan error, 1)
		go func() { checkoutDone <- checkout.Run(procCtx) }()
		orders = checkout
	}

	// The feeds serve events in the current form of their types (version
	// 1 product item events as version 2).
	streamOpts := []httpapi.StreamsOption{httpapi.WithSource(b.liveSource), httpapi.WithUpgrade(sc.Upgrade)}
	if auth != nil {
		streamOpts = append(streamOpts, httpapi.WithAuthorizer(auth.Authorize))
	}
	streams := httpapi.NewStreams(b.store, streamOpts...)
	app := &sc.App{Store: b.store, Summary: summary, Checkout: orders, Streams: streams, Logger: logger, Auth: auth}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewServer(addr, serveApp(app.Handler(), logger), server...)
	srv.RegisterOnShutdown(streams.Close)
	if auth == nil {
		logger.Warn("serving every request without a token (-no-auth): anyone may use any client's carts and read every event")
	}
	logger.Info("shopping-cart API listening", "url", "http://"+ln.Addr().String(), "store", b.name)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case err := <-processorDone:
		_ = srv.Close()
		return fmt.Errorf("client summary processors: %w", err)
	case err := <-checkoutDone:
		_ = srv.Close()
		return fmt.Errorf("checkout workflow: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopProcessors()
	if perr := <-processorDone; perr != nil && err == nil {
		err = perr
	}
	if checkoutDone != nil {
		if cerr := <-checkoutDone; cerr != nil && err == nil {
			err = cerr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("stopped")
	return err
}
