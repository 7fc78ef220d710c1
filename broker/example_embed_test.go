package broker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/stomp"
)

// appAuth checks the tokens of an application's own login system: here,
// session tokens it keeps in a map. It lets users send only to their own
// team's topics.
type appAuth struct {
	sessions map[string]string // token: user
	teams    map[string]string // user: team
}

// Authorize accepts a CONNECT whose passcode is a known session token, and
// a SEND to the sender's team topic.
func (a *appAuth) Authorize(_ context.Context, r broker.Request) (broker.Identity, error) {
	switch r.Action {
	case broker.ActionConnect:
		user, ok := a.sessions[r.Credential.Value]
		if !ok {
			return broker.Identity{}, errors.New("unknown session token")
		}
		return broker.Identity{Subject: user, Expires: time.Now().Add(time.Hour)}, nil
	case broker.ActionSend:
		if r.Destination != "/topic/team."+a.teams[r.Session.Subject] {
			return r.Session, &broker.Error{Code: broker.CodeForbidden, Message: "you may only send to your team's topic"}
		}
	}
	return r.Session, nil
}

// Example_embedding runs the broker inside a program that checks tokens of
// its own login system at CONNECT, and rights at SEND.
func Example_embedding() {
	auth := &appAuth{
		sessions: map[string]string{"token-of-ada": "ada"},
		teams:    map[string]string{"ada": "red"},
	}
	b, err := broker.New(broker.Options{Authorizer: auth})
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go b.Serve(l)
	defer b.Shutdown(context.Background())

	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	send := func(cmd stomp.Command, body string, headers ...string) {
		f := &stomp.Frame{Command: cmd, Body: []byte(body)}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			f.Add(k, v)
		}
		conn.Write(stomp.AppendFrame(nil, f, stomp.V12))
	}
	next := func() *stomp.Frame {
		dec := stomp.NewDecoder(stomp.Limits{})
		for {
			b, err := r.ReadByte()
			if err != nil {
				panic(err)
			}
			if _, f, _ := dec.Decode([]byte{b}); f != nil {
				return f.Clone()
			}
		}
	}

	send(stomp.CONNECT, "", "accept-version:1.2", "host:app", "login:ada", "passcode:token-of-ada")
	fmt.Println(next().Command)
	send(stomp.SUBSCRIBE, "", "id:0", "destination:/topic/team.red")
	send(stomp.SEND, "hello, team", "destination:/topic/team.red")
	m := next()
	fmt.Println(m.Command, string(m.Body))
	send(stomp.SEND, "psst", "destination:/topic/team.blue")
	e := next()
	fmt.Println(e.Command, e.Value("code")+":", e.Value("message"))
	// Output:
	// CONNECTED
	// MESSAGE hello, team
	// ERROR forbidden: you may only send to your team's topic
}
