package admin

import (
	"net/http"
	"time"

	"github.com/stompd/stompd/auth"
)

// Clients manages service accounts (an *auth.Service does): AddClient
// returns the client with its secret, which is shown once and never kept;
// DeleteClient ends the client's sessions on every node.
type Clients interface {
	AddClient(id string, roles []string) (auth.Client, string, error)
	Clients() ([]auth.Client, error)
	DeleteClient(id string) error
}

// ClientInfo is a service account as the API shows it: never its secret or
// the secret's hash.
type ClientInfo struct {
	ID      string    `json:"id"`
	Roles   []string  `json:"roles"`
	Created time.Time `json:"created"`
}

// ClientList is the answer of GET /admin/clients.
type ClientList struct {
	Clients []ClientInfo `json:"clients"`
}

// NewClient is the body of POST /admin/clients, and its answer, with the
// secret, shown this once.
type NewClient struct {
	ID     string   `json:"id"`
	Roles  []string `json:"roles"`
	Secret string   `json:"secret,omitempty"`
	// Created is set in the answer only.
	Created *time.Time `json:"created,omitempty"`
}

// registerClients registers GET and POST /admin/clients and DELETE
// /admin/clients/{id}, when Options.Clients is set, and POST
// /admin/clients/{id}/unlock when Options.UnlockClient is too.
func (a *API) registerClients() {
	cs := a.opts.Clients
	if cs == nil {
		return
	}
	a.handle("GET /admin/clients", "clients.list", func(w http.ResponseWriter, _ *http.Request) error {
		list, err := cs.Clients()
		if err != nil {
			return err
		}
		out := ClientList{Clients: make([]ClientInfo, len(list))}
		for i, c := range list {
			out.Clients[i] = clientInfo(c)
		}
		return reply(w, http.StatusOK, out)
	})
	a.handle("POST /admin/clients", "clients.add", func(w http.ResponseWriter, r *http.Request) error {
		var req NewClient
		if err := decode(w, r, &req); err != nil {
			return err
		}
		if req.Secret != "" || req.Created != nil {
			return errInvalid("the body is {\"id\", \"roles\"}: the server makes the secret")
		}
		c, secret, err := cs.AddClient(req.ID, req.Roles)
		if err != nil {
			return err
		}
		note(r, c.ID)
		info := clientInfo(c)
		return reply(w, http.StatusCreated, NewClient{ID: c.ID, Roles: info.Roles, Secret: secret, Created: &info.Created})
	})
	a.handle("DELETE /admin/clients/{id}", "clients.delete", func(w http.ResponseWriter, r *http.Request) error {
		if err := cs.DeleteClient(r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	if a.opts.UnlockClient != nil {
		a.handle("POST /admin/clients/{id}/unlock", "clients.unlock", a.unlockClient)
	}
}

func (a *API) unlockClient(w http.ResponseWriter, r *http.Request) error {
	n, err := a.opts.UnlockClient(r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, unlocked{Failures: n})
}

func clientInfo(c auth.Client) ClientInfo {
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	return ClientInfo{ID: c.ID, Roles: roles, Created: c.Created.UTC()}
}
