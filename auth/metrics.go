package auth

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
)

// stage indexes metrics.Stages.
type stage uint8

const (
	stageUpgrade stage = iota
	stageConnect
	stageSend
	stageSubscribe
	stageLogin
	stageRefresh
	stageTicket
	stageLogout
	stageToken
	numStages
)

// authMetrics holds every auth metric child, resolved once.
type authMetrics struct {
	successes [numStages]prometheus.Counter
	failures  [numStages][numReasons]prometheus.Counter
	ticketAge prometheus.Observer
}

func newAuthMetrics(m *metrics.Set) authMetrics {
	var am authMetrics
	for st := range numStages {
		name := metrics.Stages[st]
		am.successes[st] = m.AuthSuccesses.WithLabelValues(name)
		for r := range numReasons {
			am.failures[st][r] = m.AuthFailures.WithLabelValues(name, reasonNames[r])
		}
	}
	am.ticketAge = m.TicketToUpgrade
	return am
}

// count records the outcome of one authentication at stage st.
func (am *authMetrics) count(st stage, err error) {
	if err == nil {
		am.successes[st].Inc()
		return
	}
	am.failures[st][reasonOf(err)].Inc()
}

// record counts the outcome of one authentication at stage st and logs a
// failure with its stage and reason (never the token or the message, which
// may quote what the peer sent).
func (s *Service) record(st stage, err error) {
	s.metrics.count(st, err)
	if err != nil {
		s.opts.Logger.Info("auth failure", "stage", metrics.Stages[st], "reason", reasonNames[reasonOf(err)])
	}
}
