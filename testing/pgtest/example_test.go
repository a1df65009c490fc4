package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
)

// A test package runs its tests through Main (in TestMain, with
// os.Exit(pgtest.Main(m))), and each test takes a fresh database.
func Example() {
	testSomething := func(t *testing.T) {
		connString := pgtest.NewDatabase(t) // skips when there is no PostgreSQL
		conn, err := pgx.Connect(context.Background(), connString)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var one int
		_ = conn.QueryRow(context.Background(), "SELECT 1").Scan(&one)
		fmt.Println(one)
	}
	_ = testSomething
}

// A test that stops the server (to see how the code under test copes) makes
// sure the server is one pgtest started.
func ExampleServer_Restart() {
	testOutage := func(t *testing.T) {
		srv := pgtest.Default(t)
		srv.RequireManaged(t)
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		// ... the code under test sees connections refused ...
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
	}
	_ = testOutage
}
