package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"unicode"
)

// IdempotencyKeyHeader is the header of a command request's idempotency key
// (the IETF draft "The Idempotency-Key HTTP Header Field").
const IdempotencyKeyHeader = "Idempotency-Key"

// requestHashField is the metadata field where events appended under an
// idempotency key keep the fingerprint of their request.
const requestHashField = "idempotencyRequestHash"

// maxIdempotencyKey bounds the length of a key.
const maxIdempotencyKey = 255

// fingerprint hashes a request (method, path, body) as decode reads its
// body.
type fingerprint struct {
	h    hash.Hash
	body io.ReadCloser
	hex  string
}

func (f *fingerprint) Read(p []byte) (int, error) {
	n, err := f.body.Read(p)
	f.h.Write(p[:n])
	return n, err
}

func (f *fingerprint) Close() error { return f.body.Close() }

// finish hashes what decode left of the body.
func (f *fingerprint) finish() error {
	_, err := io.Copy(f.h, f.body)
	f.hex = hex.EncodeToString(f.h.Sum(nil))
	return err
}

func (f *fingerprint) sum() string {
	if f == nil {
		return ""
	}
	return f.hex
}

// idempotencyKey reads the request's Idempotency-Key, if any, and starts
// the fingerprint of the request (its body hashed as it is read). A key
// that is empty, too long, or not printable ASCII is a 400.
func idempotencyKey(r *http.Request) (string, *fingerprint, error) {
	values := r.Header.Values(IdempotencyKeyHeader)
	if len(values) == 0 {
		return "", nil, nil
	}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > maxIdempotencyKey || !printable(key) {
		return "", nil, &Problem{Status: http.StatusBadRequest, Title: "Invalid Idempotency-Key",
			Detail: "give one Idempotency-Key of 1 to 255 printable ASCII characters"}
	}
	f := &fingerprint{h: sha256.New(), body: r.Body}
	f.h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	r.Body = f
	return key, f, nil
}

func printable(s string) bool {
	for _, c := range s {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
