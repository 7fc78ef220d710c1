package redisclients

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// batch is how many commands one pipelined call carries, and how many
// entries one XREADGROUP asks for.
const batch = 100

// parallelism is how many goroutines per CPU publish at once in the
// concurrent benchmarks: many connections' readers, each publishing what
// its client sent.
const parallelism = 32

const channel = "stompd:t:{bench}"

// BenchmarkSPublishBatched publishes from one goroutine, batch messages
// per call: a node forwarding what its connections published.
func BenchmarkSPublishBatched(b *testing.B) {
	ctx := context.Background()
	b.Run("rueidis", func(b *testing.B) {
		c := newRueidis(b)
		cmds := make(rueidis.Commands, 0, batch)
		run(b, func(n int) {
			cmds = cmds[:0]
			for range n {
				cmds = append(cmds, c.B().Spublish().Channel(channel).Message(body).Build())
			}
			check(b, firstErr(c.DoMulti(ctx, cmds...)))
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		c := newGoRedis(b)
		run(b, func(n int) {
			p := c.Pipeline()
			for range n {
				p.SPublish(ctx, channel, body)
			}
			_, err := p.Exec(ctx)
			check(b, err)
		})
	})
}

// run calls send with batches of at most batch messages until b.N are
// sent, reporting time and allocations per message.
func run(b *testing.B, send func(n int)) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for sent := 0; sent < b.N; sent += batch {
		send(min(batch, b.N-sent))
	}
}

// BenchmarkSPublishConcurrent publishes one message per call from many
// goroutines at once: connections publishing straight to Redis.
func BenchmarkSPublishConcurrent(b *testing.B) {
	ctx := context.Background()
	b.Run("rueidis", func(b *testing.B) {
		c := newRueidis(b)
		parallel(b, func() error {
			return c.Do(ctx, c.B().Spublish().Channel(channel).Message(body).Build()).Error()
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		c := newGoRedis(b)
		parallel(b, func() error { return c.SPublish(ctx, channel, body).Err() })
	})
}

// BenchmarkXAddConcurrent stores one queue message per call, from many
// goroutines at once, in a stream capped near 10,000 entries.
func BenchmarkXAddConcurrent(b *testing.B) {
	ctx := context.Background()
	b.Run("rueidis", func(b *testing.B) {
		flush(b)
		c := newRueidis(b)
		parallel(b, func() error {
			return c.Do(ctx, c.B().Xadd().Key("stompd:q:{bench}").Maxlen().Almost().Threshold("10000").Id("*").FieldValue().FieldValue("b", body).Build()).Error()
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		flush(b)
		c := newGoRedis(b)
		parallel(b, func() error {
			return c.XAdd(ctx, &redis.XAddArgs{Stream: "stompd:q:{bench}", MaxLen: 10000, Approx: true, Values: []any{"b", body}}).Err()
		})
	})
}

func parallel(b *testing.B, call func() error) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkXReadGroup reads a stream of b.N messages, stored before the
// timer starts, as one consumer of a group, batch entries per
// XREADGROUP, and reports per message read.
func BenchmarkXReadGroup(b *testing.B) {
	ctx := context.Background()
	const key = "stompd:q:{read}"
	b.Run("rueidis", func(b *testing.B) {
		c := newRueidis(b)
		fill(b, key)
		readAll(b, func() int {
			r, err := c.Do(ctx, c.B().Xreadgroup().Group("g", "c").Count(batch).Streams().Key(key).Id(">").Build()).AsXRead()
			check(b, err)
			return len(r[key])
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		c := newGoRedis(b)
		fill(b, key)
		readAll(b, func() int {
			r, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{key, ">"}, Count: batch}).Result()
			check(b, err)
			return len(r[0].Messages)
		})
	})
}

// fill empties Redis and stores b.N entries in the stream key, with a
// consumer group g at its start; the timer starts afterwards.
func fill(b *testing.B, key string) {
	b.Helper()
	flush(b)
	c := newGoRedis(b)
	ctx := context.Background()
	for sent := 0; sent < b.N; sent += 1000 {
		p := c.Pipeline()
		for i := range min(1000, b.N-sent) {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: strconv.Itoa(sent+i+1) + "-1", Values: []any{"b", body}})
		}
		_, err := p.Exec(ctx)
		check(b, err)
	}
	check(b, c.XGroupCreateMkStream(ctx, key, "g", "0").Err())
	b.ResetTimer()
}

func readAll(b *testing.B, read func() int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for got := 0; got < b.N; {
		n := read()
		if n == 0 {
			b.Fatalf("the stream ran dry after %d of %d entries", got, b.N)
		}
		got += n
	}
}

func firstErr(rs []rueidis.RedisResult) error {
	for _, r := range rs {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func check(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}
