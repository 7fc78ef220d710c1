// Package redissessions lists the live STOMP sessions of every node of a
// stompd cluster through Redis, at no cost per connect or disconnect:
// nothing about a session is written anywhere until someone asks.
//
// # Asking
//
// List answers for this node from its own broker, and asks the others by
// one SPUBLISH on the sharded channel "stompd:{sessions}:ask": a request
// id, the asking node, the query (a subject or none, a limit) and how long
// the asker waits. Every node follows that channel (Run) and answers a
// request of another node by appending its sessions, at most the query's
// limit of them with how many it has in all, to the list
// "stompd:{sessions}:reply:<id>" (RPUSH, with an expiry of the wait and a
// second more, in one script), so that an answer nobody reads vanishes by
// itself. The asker pops the answers (BLPOP) until every node that the
// membership (Options.Nodes) says is alive has answered, or until
// Options.Wait has passed; it then deletes the list, and says which nodes
// answered and which did not. A node that died a moment ago is still
// alive to the membership for its timeout: it is reported missing after
// Wait, never waited for longer. A node that answers without being
// expected (it joined meanwhile) is listed like the others.
//
// The merged list is ordered as broker.Sessions orders one node's
// (longest connected first), then by node, and cut to the query's limit;
// Total counts every session selected on the nodes that answered. Each
// node answers one request at a time, from a queue of 16; a request that
// does not fit is dropped (logged), and its asker reports the node missing.
//
// # Failures
//
// When the request cannot be published (Redis unreachable) List fails with
// an error wrapping ErrUnavailable. When Redis fails while List waits,
// the nodes that had not answered are reported missing. Run follows the
// channel again after a lost connection, waiting 100 ms, doubling up to
// 1 s, between attempts.
//
// Answers are JSON; a broker.Session travels under its Go field names.
// Sessions is safe for concurrent use.
package redissessions
