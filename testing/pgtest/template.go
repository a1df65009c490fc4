package pgtest

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// templates are the template databases of the servers pgtest started, made
// once each (see NewDatabaseFrom).
var templates sync.Map // key: templateKey -> *template

type templateKey struct {
	srv  *Server
	name string
}

type template struct {
	once sync.Once
	err  error
}

var templateName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// NewDatabaseFrom creates a database for the test on the package's server,
// as NewDatabase does, with what setup put in the template database name
// (see Server.NewDatabaseFrom).
func NewDatabaseFrom(t testing.TB, name string, setup func(ctx context.Context, connString string) error) string {
	t.Helper()
	return Default(t).NewDatabaseFrom(t, name, setup)
}

// NewDatabaseFrom creates a database for the test, as NewDatabase does, as
// a copy of the template database name, which setup prepares (given its
// connection string) the first time the server is asked for it: for the
// tests that all start from the same schema, such as an event store's
// migrations, so that each does not build it again. A copy costs what an
// empty database costs. name is lower-case letters, digits and '_'; setup
// must close its connections before it returns.
//
// A server given by EMMETT_POSTGRES_URL keeps no template: setup runs on
// each new database instead, which is dropped when the test ends.
func (s *Server) NewDatabaseFrom(t testing.TB, name string, setup func(ctx context.Context, connString string) error) string {
	t.Helper()
	if !templateName.MatchString(name) {
		t.Fatalf("pgtest: template name %q: use lower-case letters, digits and '_'", name)
	}
	if s.external {
		db := s.NewDatabase(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := setup(ctx, db); err != nil {
			t.Fatalf("pgtest: preparing the database as template %s: %v", name, err)
		}
		return db
	}
	v, _ := templates.LoadOrStore(templateKey{s, name}, &template{})
	tpl := v.(*template)
	tpl.once.Do(func() { tpl.err = s.createTemplate(name, setup) })
	if tpl.err != nil {
		t.Fatalf("pgtest: %v", tpl.err)
	}
	db := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" TEMPLATE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.URL(db)
}

// createTemplate creates the database name, has setup prepare it, and
// makes it a template that no session uses (a database is copied only
// when none is connected to it).
func (s *Server) createTemplate(name string, setup func(ctx context.Context, connString string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.CreateDatabase(ctx, name); err != nil {
		return err
	}
	if err := setup(ctx, s.URL(name)); err != nil {
		return fmt.Errorf("preparing template %s: %w", name, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := s.admin(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	return s.admin(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"'")
}
