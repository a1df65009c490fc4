package gettingstarted

import (
	"net/http"
	"testing"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/testing/spec"
)

func TestWithdrawOverHTTP(t *testing.T) {
	store := memory.New()
	api := API(store, httpapi.NewStreams(store))

	spec.ForHTTP(t, store, Events(), api).
		Given("account-42", Deposited{Amount: 100}).
		When(spec.Post("/accounts/42/withdrawals", map[string]int{"amount": 30}).IfMatch(`W/"1"`)).
		ThenStatus(http.StatusOK).
		ThenHeader("ETag", `W/"2"`).
		ThenAppended("account-42", Withdrawn{Amount: 30})
}

func TestWithdrawOverHTTPRefused(t *testing.T) {
	store := memory.New()
	api := API(store, httpapi.NewStreams(store))

	spec.ForHTTP(t, store, Events(), api).
		Given("account-42", Deposited{Amount: 10}).
		When(spec.Post("/accounts/42/withdrawals", map[string]int{"amount": 30})).
		ThenProblem(http.StatusForbidden).
		ThenNothingAppended()

	store = memory.New()
	spec.ForHTTP(t, store, Events(), API(store, httpapi.NewStreams(store))).
		Given("account-42", Deposited{Amount: 100}, Deposited{Amount: 1}).
		When(spec.Post("/accounts/42/withdrawals", map[string]int{"amount": 30}).IfMatch(`W/"1"`)).
		ThenProblem(http.StatusPreconditionFailed).
		ThenNothingAppended()
}

func TestDepositOverHTTP(t *testing.T) {
	store := memory.New()
	spec.ForHTTP(t, store, Events(), API(store, httpapi.NewStreams(store))).
		When(spec.Post("/accounts/7/deposits", map[string]int{"amount": 100}).IfNoneMatch("*")).
		ThenStatus(http.StatusCreated).
		ThenHeader("ETag", `W/"1"`).
		ThenAppended("account-7", Deposited{Amount: 100})

	store = memory.New()
	spec.ForHTTP(t, store, Events(), API(store, httpapi.NewStreams(store))).
		When(spec.Post("/accounts/7/deposits", `{"amount": 1, "currency": "EUR"}`)).
		ThenProblem(http.StatusBadRequest).
		ThenNothingAppended()
}
