//go:build js && wasm

// Command app is the browser edition of the shopping cart, compiled to
// js/wasm: the decider, the SQLite store (github.com/ncruces/go-sqlite3 in
// its in-memory VFS) with the inline cart details, and the command path
// all run in the page, with no HTTP in between. The database's bytes are
// saved to IndexedDB after each change and loaded at start, so the cart
// survives reloads. Commands made offline wait in an outbox (in the same
// database) and are sent to the server app's command endpoints, with
// If-Match, once the page is online; the server's events come in over its
// SSE feed. The page (web/static) calls the functions main sets on
// window.emmettCart.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
	"time"
)

func main() {
	ctx := context.Background()
	started := time.Now()
	saved, err := idbLoad()
	if err != nil {
		fail(err)
		return
	}
	clientID := js.Global().Get("localStorage").Call("getItem", "emmettClientId")
	id := "web"
	if clientID.Truthy() {
		id = clientID.String()
	}
	l, err := openLocal(ctx, saved, id, idbSave)
	if err != nil {
		fail(err)
		return
	}
	base := js.Global().Get("location").Get("origin").String()
	api := map[string]any{
		"add": promised(func(args []js.Value) (any, error) {
			return nil, l.add(ctx, args[0].String(), args[1].Int())
		}),
		"remove": promised(func(args []js.Value) (any, error) {
			return nil, l.remove(ctx, args[0].String(), args[1].Int(), args[2].Float(), args[3].String())
		}),
		"confirm": promised(func([]js.Value) (any, error) { return nil, l.confirm(ctx) }),
		"view": promised(func([]js.Value) (any, error) {
			v, err := l.view(ctx)
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(v)
			return string(b), err
		}),
		"sync": promised(func([]js.Value) (any, error) {
			err := l.sync(ctx, base)
			if errors.Is(err, errOffline) {
				return false, nil
			}
			return err == nil, err
		}),
		"serverEvent": promised(func(args []js.Value) (any, error) {
			return nil, l.serverEvent(ctx, []byte(args[0].String()))
		}),
		"setOnline": js.FuncOf(func(_ js.Value, args []js.Value) any {
			l.mu.Lock()
			l.online = args[0].Bool()
			l.mu.Unlock()
			return nil
		}),
		"startedMs": float64(time.Since(started).Microseconds()) / 1000,
	}
	js.Global().Set("emmettCart", js.ValueOf(api))
	if ready := js.Global().Get("emmettReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // serve the page's calls
}

// promised wraps f as a JavaScript function returning a Promise: f runs
// in a goroutine, since a call from JavaScript must not block (IndexedDB
// and fetch answer on the event loop the caller holds).
func promised(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, pr []js.Value) any {
			resolve, reject := pr[0], pr[1]
			go func() {
				v, err := f(args)
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(v)
			}()
			return nil
		}))
	})
}

func fail(err error) {
	js.Global().Get("console").Call("error", "emmett: "+err.Error())
	if f := js.Global().Get("emmettFailed"); f.Type() == js.TypeFunction {
		f.Invoke(err.Error())
	}
}

// await waits for a JavaScript promise.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: fmt.Errorf("%s", args[0].Call("toString").String())}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then).Call("catch", catch)
	r := <-ch
	return r.v, r.err
}

// The database image lives in IndexedDB (database "emmett", store
// "files", key "cart.db"; the page's emmettIDBGet and emmettIDBPut): one
// put per change, the whole file (a cart's database is small), atomic in
// IndexedDB, so a reload finds the last complete image.
func idbLoad() ([]byte, error) {
	v, err := await(js.Global().Get("emmettIDBGet").Invoke(dbName))
	if err != nil || v.IsUndefined() || v.IsNull() {
		return nil, err
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func idbSave(image []byte) error {
	arr := js.Global().Get("Uint8Array").New(len(image))
	js.CopyBytesToJS(arr, image)
	_, err := await(js.Global().Get("emmettIDBPut").Invoke(dbName, arr))
	return err
}
