package gettingstarted

import (
	"net/http"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
)

// API returns the bank's HTTP API on store:
//
//	POST /accounts/{id}/deposits     {"amount": 100}
//	POST /accounts/{id}/withdrawals  {"amount": 30}
//	/events/...                      the event streaming endpoints of streams
//
// A command's response carries the account's version in its ETag; sent
// back in If-Match, it makes the next command conditional on it.
func API(store eventstore.Store, streams *httpapi.Streams) http.Handler {
	accounts := command.NewDeciderHandler(store, Decider(), Events())
	mux := http.NewServeMux()
	mux.Handle("POST /accounts/{id}/deposits", httpapi.Command(accounts,
		amountCommand(func(amount int) Command { return Deposit{Amount: amount} })))
	mux.Handle("POST /accounts/{id}/withdrawals", httpapi.Command(accounts,
		amountCommand(func(amount int) Command { return Withdraw{Amount: amount} })))
	mux.Handle("/events/", http.StripPrefix("/events", streams))
	return mux
}

// amountCommand decodes a body {"amount": n} into the command newCommand
// makes of n, on the stream of the account in the path.
func amountCommand(newCommand func(amount int) Command) func(*http.Request) (httpapi.CommandRequest[Command], error) {
	return func(r *http.Request) (httpapi.CommandRequest[Command], error) {
		var body struct {
			Amount int `json:"amount"`
		}
		if err := httpapi.DecodeJSON(r, &body); err != nil {
			return httpapi.CommandRequest[Command]{}, err
		}
		return httpapi.CommandRequest[Command]{
			Stream:  StreamName(r.PathValue("id")),
			Command: newCommand(body.Amount),
		}, nil
	}
}
