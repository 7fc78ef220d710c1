// Package redisclients benchmarks the two Go Redis clients stompd could use,
// github.com/redis/rueidis and github.com/redis/go-redis/v9, on the
// commands of stompd's cluster hot path: SPUBLISH of a topic message, from
// one goroutine in batches and from many goroutines at once, XADD of a
// queue message, and XREADGROUP COUNT n of a queue consumer.
//
// It is its own module, so that the client stompd did not choose never
// enters stompd's go.mod, and it lives under testdata, so that go test ./...
// in stompd's module skips it. Run it from this directory:
//
//	go test -bench . -benchmem
//
// TestMain starts a redis-server (it must be on the PATH) on a free
// loopback port with persistence off, and stops it at the end; both
// clients talk to it over one loopback TCP connection setup each, with
// their defaults otherwise. Each benchmark reports time and allocations
// per message.
package redisclients
