package main_test

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeOrdersSession runs the README's session of orders as it is
// written, against the real binary (data/orders.db a file of the test's):
// an order placed by the checkout workflow, read once it has handled the
// confirmation, paid; another cancelled by its payment timeout, which can
// no longer be paid; the workflow's stream.
func TestReadmeOrdersSession(t *testing.T) {
	db := filepath.Join(t.TempDir(), "orders.db")
	type order struct {
		ID, ClientID, Status, Reason string
		Total                        struct{ Amount float64 }
	}
	var orders []order
	var statuses []int
	checked := 0
	// The session's variables (J, POS) live from one command to the next:
	// it runs in one bash, after the app its make run starts.
	cmds := readmeBlock(t, "-payment-timeout 2s")
	args, ok := strings.CutPrefix(cmds[0], "make run ARGS=")
	require.True(t, ok, "the session starts the app: %s", cmds[0])
	a := startArgs(t, strings.Fields(strings.ReplaceAll(strings.Trim(args, `"`), "data/orders.db", db)), "EMMETT_POSTGRES_URL=")
	u, err := url.Parse(a.url)
	require.NoError(t, err)
	for _, res := range runSession(t, cmds[1:], u.Host) {
		cmd := res.cmd
		require.Zero(t, res.rc, "%s\n%s", cmd, res.output)
		checked++
		switch {
		case strings.HasPrefix(cmd, "J="), strings.HasPrefix(cmd, "sleep "), strings.HasPrefix(cmd, "curl -s -X POST"):
		case strings.HasPrefix(cmd, "POS="):
			_, err := strconv.Atoi(strings.TrimSpace(res.value))
			assert.NoError(t, err, "a position: %q", res.value)
		case strings.HasPrefix(cmd, "curl -i "):
			m := statusLine.FindStringSubmatch(res.output)
			require.NotNil(t, m, "a status line:\n%s", res.output)
			status, _ := strconv.Atoi(m[1])
			statuses = append(statuses, status)
		case strings.Contains(cmd, "/orders/"):
			var o order
			require.NoError(t, json.Unmarshal([]byte(res.output), &o), "%s", res.output)
			orders = append(orders, o)
		case strings.Contains(cmd, "/events/streams/checkout-dan:2"):
			var page struct{ Events []event }
			require.NoError(t, json.Unmarshal([]byte(res.output), &page), "%s", res.output)
			var types []string
			for _, e := range page.Events {
				types = append(types, e.Type)
			}
			assert.Equal(t, []string{"received:ProductItemAddedToShoppingCart", "received:ShoppingCartConfirmed", "sent:PlaceOrder",
				"scheduled:OrderPaymentTimedOut", "received:OrderPaymentTimedOut", "sent:CancelOrder"}, types)
		default:
			t.Errorf("the test does not check this command of the README; add a check: %s", cmd)
		}
	}
	a.stop(t)
	assert.Equal(t, 12, checked, "every command of the session ran")
	assert.Equal(t, []int{200, 403}, statuses, "the statuses of the curl -i commands")
	require.Len(t, orders, 3)
	assert.Equal(t, "dan:1", orders[0].ID)
	assert.Equal(t, "AwaitingPayment", orders[0].Status, "read once the workflow handled the confirmation")
	assert.InDelta(t, 39.98, orders[0].Total.Amount, 0.001, "two scarves")
	assert.Equal(t, "Paid", orders[1].Status)
	assert.Equal(t, "Cancelled", orders[2].Status)
	assert.Equal(t, "payment timed out", orders[2].Reason)
}
