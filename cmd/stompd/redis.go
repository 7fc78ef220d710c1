package main

import (
	"fmt"
	"net/url"

	"github.com/redis/rueidis"
)

// newRedisClient connects to the Redis that --redis names: one server, or
// a Redis Cluster named by several seed addresses (rueidis tells them
// apart by itself). Errors name the URL without its password.
func newRedisClient(redisURL string) (rueidis.Client, error) {
	shown := redisURL
	if u, err := url.Parse(redisURL); err == nil {
		shown = u.Redacted()
	}
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %w", shown, err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %w", shown, err)
	}
	return c, nil
}
