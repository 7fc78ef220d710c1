package redisstore_test

import (
	"context"
	"log"
	"log/slog"
	"sync"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
)

// A node's auth on a shared Redis: the store holds users, refresh
// tokens, tickets, throttle counts, denials and the signing key for every
// node, and the watch hands denials made on other nodes to the Service,
// whose OnLogout closes the sessions here.
func Example() {
	opt, err := rueidis.ParseURL("redis://127.0.0.1:6379") // --redis
	if err != nil {
		log.Fatal(err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{Logger: slog.Default()})
	keys, err := auth.LoadEd25519Keys(store) // the first node stores it, the others load it
	if err != nil {
		log.Fatal(err)
	}
	svc, err := auth.New(auth.Options{Keys: keys, Store: store, OnLogout: func(sid string) { /* close the sessions of sid */ }})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { store.WatchDenials(ctx, svc.TakeDenial) })

	// ... serve svc.Handler(); at the end, stop the watch before closing
	// the client.
	cancel()
	wg.Wait()
}
