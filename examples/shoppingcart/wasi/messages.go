package wasi

import "net/http"

// Request is an HTTP request as the module reads it from stdin. The
// module (module/, GOOS=wasip1) and the host share this file: it is all
// of package wasi that builds on wasip1.
type Request struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// Response is the module's answer, written to stdout.
type Response struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}
