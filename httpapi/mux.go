package httpapi

import (
	"bytes"
	"net/http"
)

// Routes returns a handler serving requests through mux that answers the
// requests mux has no route for as problem details (see Problems), where
// mux alone would answer in plain text: 404 Not Found for a path no pattern
// matches, and 405 Method Not Allowed, with the Allow header mux gives, for
// a method no pattern of the path takes. Everything else, the redirects of
// mux included, is served by mux as it is. problems may be nil (see
// Problems).
//
//	mux := http.NewServeMux()
//	mux.Handle("POST /carts/{id}/confirm", httpapi.Command(carts, decodeConfirm))
//	srv := httpapi.NewServer(":8080", httpapi.Routes(mux, problems))
func Routes(mux *http.ServeMux, problems *Problems) http.Handler {
	return &routes{mux: mux, problems: problems}
}

type routes struct {
	mux      *http.ServeMux
	problems *Problems
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := rt.mux.Handler(r)
	if pattern != "" {
		rt.mux.ServeHTTP(w, r)
		return
	}
	// No pattern: mux's own handler answers, 404, 405 or a redirect to the
	// clean path. Run it aside to learn which.
	var probe probeWriter
	h.ServeHTTP(&probe, r)
	switch probe.status {
	case http.StatusNotFound:
		rt.problems.WriteError(w, r, &Problem{Status: http.StatusNotFound, Detail: "no such endpoint"})
	case http.StatusMethodNotAllowed:
		if allow := probe.header.Values("Allow"); len(allow) > 0 {
			w.Header()["Allow"] = allow
		}
		rt.problems.WriteError(w, r, &Problem{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here"})
	default:
		probe.copyTo(w)
	}
}

// probeWriter keeps a response in memory.
type probeWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (p *probeWriter) Header() http.Header {
	if p.header == nil {
		p.header = make(http.Header)
	}
	return p.header
}

func (p *probeWriter) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *probeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.body.Write(b)
}

// copyTo writes the response kept to w.
func (p *probeWriter) copyTo(w http.ResponseWriter) {
	for k, v := range p.header {
		w.Header()[k] = v
	}
	if p.status == 0 {
		p.status = http.StatusOK
	}
	w.WriteHeader(p.status)
	_, _ = w.Write(p.body.Bytes())
}
