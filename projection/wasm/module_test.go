package wasm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadDescribesTheModule(t *testing.T) {
	m := wasmtest.Load(t, "./testdata/tally")
	assert.Equal(t, "tally", m.Name())
	d := m.Description()
	require.NotNil(t, d.Projection)
	assert.Nil(t, d.Projection.EventTypes, "every event type")
	assert.True(t, d.Projection.DocumentIDs)
	require.NotNil(t, d.Transform)
	assert.Equal(t, []string{"Boom", "Renamed", "Split", "Drop", "Reject"}, d.Transform.EventTypes)
}

func TestLoadFileNamesTheModuleAfterTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter.wasm")
	require.NoError(t, os.WriteFile(path, wasmtest.Build(t, "./testdata/tally"), 0o600))
	m, err := wasm.LoadFile(context.Background(), path, wasm.WithCompilationCache(wasmtest.Cache()))
	require.NoError(t, err)
	defer m.Close(context.Background())
	assert.Equal(t, "counter", m.Name())

	_, err = wasm.LoadFile(context.Background(), filepath.Join(t.TempDir(), "missing.wasm"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadRefusesWhatIsNotAnEmmettModule(t *testing.T) {
	ctx := context.Background()
	_, err := wasm.Load(ctx, []byte("not wasm at all"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `compiling module "module"`)

	// The smallest valid module: no memory, no exports.
	_, err = wasm.Load(ctx, []byte("\x00asm\x01\x00\x00\x00"), wasm.WithName("empty"))
	require.ErrorIs(t, err, wasm.ErrABI)
	assert.Contains(t, err.Error(), `module "empty" exports no memory`)
}

func TestLoadRefusesALimitBelowTheModulesMemory(t *testing.T) {
	bin := wasmtest.Build(t, "./testdata/tally")
	_, err := wasm.Load(context.Background(), bin, wasm.WithMemoryLimit(1<<20), wasm.WithCompilationCache(wasmtest.Cache()))
	assert.ErrorContains(t, err, "over limit of 16 pages")
}

func TestLoadChecksItsOptions(t *testing.T) {
	bin := wasmtest.Build(t, "./testdata/tally")
	_, err := wasm.Load(context.Background(), bin, wasm.WithCallTimeout(0))
	assert.ErrorContains(t, err, "call timeout")
	_, err = wasm.Load(context.Background(), bin, wasm.WithMemoryLimit(8<<30))
	assert.ErrorContains(t, err, "memory limit")
}

func TestNewProjectionAndTransformerNeedTheirPart(t *testing.T) {
	m := wasmtest.Load(t, "./testdata/tally")
	_, err := wasm.NewProjection(m, "Not A Collection")
	assert.ErrorContains(t, err, "invalid collection name")
	p, err := wasm.NewProjection(m, "tally-projection", wasm.WithCollection("tallies"))
	require.NoError(t, err)
	assert.Equal(t, "tally-projection", p.Name())
	assert.Equal(t, "tallies", p.CollectionName())
	assert.Nil(t, p.EventTypes())
	assert.Same(t, m, p.Module())
	tr, err := wasm.NewTransformer(m)
	require.NoError(t, err)
	assert.True(t, tr.Handles("Renamed"))
	assert.False(t, tr.Handles("Other"))
}

func TestClosedModuleRefusesCalls(t *testing.T) {
	ctx := context.Background()
	m, err := wasm.Load(ctx, wasmtest.Build(t, "./testdata/tally"), wasm.WithCompilationCache(wasmtest.Cache()))
	require.NoError(t, err)
	tr, err := wasm.NewTransformer(m)
	require.NoError(t, err)
	require.NoError(t, m.Close(ctx))
	_, err = tr.TransformAppend(ctx, "s-1", []eventstore.EventData{event("Renamed")})
	assert.ErrorIs(t, err, wasm.ErrClosed)
}

func TestInstancesAreBoundedAndShared(t *testing.T) {
	ctx := context.Background()
	m := wasmtest.Load(t, "./testdata/tally", wasm.WithMaxInstances(2))
	tr, err := wasm.NewTransformer(m)
	require.NoError(t, err)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			out, err := tr.TransformAppend(ctx, "s-1", []eventstore.EventData{event("Renamed"), event("Split")})
			if err == nil && len(out) != 3 {
				err = assert.AnError
			}
			errs <- err
		}()
	}
	deadline := time.After(30 * time.Second)
	for range 16 {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-deadline:
			t.Fatal("transformations did not finish")
		}
	}
}
