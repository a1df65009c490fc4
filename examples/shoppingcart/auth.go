package shoppingcart

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/emmett-go/emmett/httpapi"
)

// Auth checks the bearer tokens of the app's requests
// (Authorization: Bearer <token>).
//
// A token names its holder and is signed with the app's key
// (HMAC-SHA256), so the app keeps no table of tokens: a client's token
// (ClientToken, "client:ann.<signature>") lets its holder use that
// client's carts, the endpoints under /clients/ann/; the events token
// (EventsToken, "events.<signature>") lets its holder read and follow the
// event feeds, every client's events. A token does not expire: changing the
// key revokes them all.
type Auth struct{ key []byte }

// NewAuth returns the Auth of tokens signed with key.
func NewAuth(key []byte) *Auth { return &Auth{key: key} }

// The subjects tokens are signed for.
const (
	clientSubject = "client:"
	eventsSubject = "events"
)

// ClientToken returns the token of clientID.
func (a *Auth) ClientToken(clientID string) string { return a.token(clientSubject + clientID) }

// EventsToken returns the token of the event feeds.
func (a *Auth) EventsToken() string { return a.token(eventsSubject) }

func (a *Auth) token(subject string) string { return subject + "." + a.sign(subject) }

func (a *Auth) sign(subject string) string {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(subject))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Authorize is the app's httpapi.Authorizer: a command needs the token of
// the client its path names (/clients/{clientId}/...), and every request to
// the event feeds (reads, live streams) the events token. Give it to the
// event feeds with httpapi.WithAuthorizer; App does so for its command
// endpoints. A request without a valid token is answered 401, one with the
// token of someone else 403.
func (a *Auth) Authorize(r *http.Request, action httpapi.Action) error {
	switch action.Op {
	case httpapi.OpReceiveCommand, httpapi.OpCommand:
		return a.client(r)
	}
	return a.require(r, eventsSubject)
}

// client checks that r holds the token of the client its path names.
func (a *Auth) client(r *http.Request) error {
	return a.require(r, clientSubject+r.PathValue("clientId"))
}

// require checks that r holds a valid token of subject. The errors' text
// is logged, never shown to the client.
func (a *Auth) require(r *http.Request, subject string) error {
	token, ok := bearer(r)
	if !ok {
		return fmt.Errorf("%w: no bearer token", httpapi.ErrUnauthorized)
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !hmac.Equal([]byte(token[i+1:]), []byte(a.sign(token[:i]))) {
		return fmt.Errorf("%w: the token is not one of this app's", httpapi.ErrUnauthorized)
	}
	if holder := token[:i]; holder != subject {
		return fmt.Errorf("%w: the token of %q, not of %q", httpapi.ErrForbidden, holder, subject)
	}
	return nil
}

// bearer returns the token of r's Authorization header, whose scheme is
// case-insensitive.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
