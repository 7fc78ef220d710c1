package main

// soakTotals is what the soak's traffic has done since it started. Every
// count is cumulative.
type soakTotals struct {
	Published  uint64 // SENDs the broker accepted (topics and queues)
	Delivered  uint64 // distinct deliveries to the parties due to get them
	Duplicated uint64
	// Redelivered counts the queue messages that came again, marked
	// redelivered, before a RECEIPT confirmed their ACK: their consumer
	// dropped them unacknowledged (it vanished, or was leaving), or the
	// broker may not have had the ACK (a consumer or its node gone). They
	// are no duplicates; one dropped counts as delivered only once it
	// came again.
	Redelivered uint64
	// Vanished counts the times a queue consumer dropped its connection
	// holding unacknowledged messages (-vanish).
	Vanished  uint64
	Corrupted uint64
	// Overdue counts deliveries still missing of messages sent more than
	// the overdue bound ago: what is lost so far. At the end, after the
	// drain, it is the run's loss.
	Overdue    uint64
	Reconnects uint64 // connections closed and opened again (churn and failures)
	// Resumes are the SUBSCRIBEs of reconnections to a topic, by their
	// x-recovered.
	ResumesRecovered   uint64 `json:"resumes_recovered"`
	ResumesUnrecovered uint64 `json:"resumes_unrecovered"`
	Refreshes          uint64 // in-band token refreshes answered by their RECEIPT
	Errors             uint64 // ERROR frames and connections lost without the soak asking
	// AuthFailovers counts the logins and token renewals passed on to the
	// next -auth-url, the one in use having failed to answer.
	AuthFailovers uint64 `json:"auth_failovers"`
	Conns         int    // client connections open now
}

// soakTraffic is the soak's load as the sampler sees it.
type soakTraffic interface {
	totals() soakTotals
	// latencies returns the latency histogram of the deliveries since the
	// last call, and starts a new one.
	latencies() *histogram
}
