package redisstore

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// clientToken asks node n for a client credentials token and returns the
// status and answer.
func (n *node) clientToken(t testing.TB, id, secret string) (int, tokens) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := http.Post(n.http.URL+"/auth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out tokens
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestClientsOnRedis adds, lists and finds clients; of concurrent adds of
// one id exactly one wins.
func TestClientsOnRedis(t *testing.T) {
	r := redistest.Start(t)
	n := newNode(t, r.URL(), nil)
	for _, id := range []string{"zeta", "billing"} {
		if _, _, err := n.svc.AddClient(id, []string{"publisher"}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := n.store.Clients()
	if err != nil || len(cs) != 2 || cs[0].ID != "billing" || cs[1].ID != "zeta" || !slices.Equal(cs[0].Roles, []string{"publisher"}) {
		t.Fatalf("Clients = %+v, %v; want billing and zeta with role publisher", cs, err)
	}
	if _, err := n.store.ClientByID("nobody"); !errors.Is(err, auth.ErrClientNotFound) {
		t.Fatalf("ClientByID(nobody): %v, want ErrClientNotFound", err)
	}
	const racers = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range racers {
		wg.Go(func() {
			c, _, err := auth.NewClient("same", nil, n.store.opts.Now())
			if err == nil {
				err = n.store.AddClient(c)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, auth.ErrClientExists):
				t.Errorf("AddClient: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of %d concurrent adds of one id succeeded, want 1", won, racers)
	}
}

// TestDeletedClientIsDeniedOnEveryNode: a client gets a token on node A;
// deleting it on node B ends its login on A (OnLogout with its login id)
// and on B, its token is refused on both, and it gets no new one.
func TestDeletedClientIsDeniedOnEveryNode(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	c, secret, err := a.svc.AddClient("billing", []string{"publisher"})
	if err != nil {
		t.Fatal(err)
	}
	status, tk := a.clientToken(t, "billing", secret)
	if status != http.StatusOK || tk.RefreshToken != "" {
		t.Fatalf("token: %d %+v, want 200 without a refresh token", status, tk)
	}
	claims, err := b.svc.VerifyAccess(tk.AccessToken)
	if err != nil || claims.Subject != "client:billing" || claims.SID != c.LoginID || !slices.Equal(claims.Roles, []string{"publisher"}) {
		t.Fatalf("claims at node B: %+v, %v", claims, err)
	}
	if err := b.svc.DeleteClient("billing"); err != nil {
		t.Fatal(err)
	}
	if !within(oneSecond, func() bool { return a.loggedOut(c.LoginID) && b.loggedOut(c.LoginID) }) {
		t.Fatal("the deleted client's login did not end on both nodes within a second")
	}
	for _, n := range []*node{a, b} {
		if !n.deniedHere(tk.AccessToken) {
			t.Error("the deleted client's token still verifies")
		}
	}
	if status, tk := a.clientToken(t, "billing", secret); status != http.StatusUnauthorized || tk.Error != "invalid_client" {
		t.Fatalf("token after the delete: %d %+v, want 401 invalid_client", status, tk)
	}
	if err := a.svc.DeleteClient("billing"); !errors.Is(err, auth.ErrUnknownClient) {
		t.Fatalf("deleting it again: %v, want ErrUnknownClient", err)
	}
}
