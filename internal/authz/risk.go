package authz

import (
	"container/list"
	"errors"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// RiskConfig sets the risk score's weights, window and threshold; zero
// fields take the defaults of guard_limits.go. Data only.
type RiskConfig struct {
	// Threshold: a score above it denies control routes. 0 is
	// DefaultRiskThreshold; MaxRiskScore disables the denial.
	Threshold int
	// Window is how long failures and sources are remembered.
	Window time.Duration
	// The weights (see guard_limits.go for what each adds and why).
	FailureWeight, FailureCap, NewSourceWeight, RateWeight, OffHoursWeight int
	// RateFactor and RateFloor define "well above usual".
	RateFactor float64
	RateFloor  int
	// MaxPrincipals bounds the principals tracked.
	MaxPrincipals int
}

func (c RiskConfig) withDefaults() (RiskConfig, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Threshold, DefaultRiskThreshold)
	def(&c.FailureWeight, DefaultRiskFailureWeight)
	def(&c.FailureCap, DefaultRiskFailureCap)
	def(&c.NewSourceWeight, DefaultRiskNewSourceWeight)
	def(&c.RateWeight, DefaultRiskRateWeight)
	def(&c.OffHoursWeight, DefaultRiskOffHoursWeight)
	def(&c.RateFloor, DefaultRiskRateFloor)
	def(&c.MaxPrincipals, DefaultRiskMaxPrincipals)
	if c.Window == 0 {
		c.Window = DefaultRiskWindow
	}
	if c.RateFactor == 0 {
		c.RateFactor = DefaultRiskRateFactor
	}
	switch {
	case c.Threshold < 0 || c.Threshold > MaxRiskScore:
		return c, errors.New("authz: risk threshold must be 0 to 100")
	case c.FailureWeight < 0 || c.FailureCap < 0 || c.NewSourceWeight < 0 || c.RateWeight < 0 || c.OffHoursWeight < 0:
		return c, errors.New("authz: risk weights must not be negative")
	case c.Window < time.Minute:
		return c, errors.New("authz: risk window must be at least a minute")
	case c.RateFactor < 1 || c.RateFloor < 1 || c.MaxPrincipals < 1:
		return c, errors.New("authz: risk rate factor, rate floor and max principals must be at least 1")
	}
	return c, nil
}

// The factors a score names, recorded on events as risk_factors.
const (
	RiskFactorFailures  = "recent_failures"
	RiskFactorNewSource = "new_source"
	RiskFactorRate      = "unusual_rate"
	RiskFactorOffHours  = "outside_hours"
)

// RiskScore is a request's risk: a number from 0 to MaxRiskScore and the
// factors that made it.
type RiskScore struct {
	Score   int
	Factors []string
}

// add adds weight w for factor, if w is not zero.
func (r *RiskScore) add(w int, factor string) {
	if w > 0 {
		r.Score += w
		r.Factors = append(r.Factors, factor)
	}
}

// Risk scores requests per principal from what this replica has seen of it
// in the window: its refused requests, its sources, its request rate, and
// its hours. The state is in memory, per replica, bounded (MaxPrincipals
// principals, MaxRiskSources sources and MaxRiskFailures failures each),
// and only verified principals are ever tracked. A replica that has just
// started knows no history and scores only the hours: the score adds
// suspicion, it never stands in for a check.
type Risk struct {
	cfg RiskConfig

	mu  sync.Mutex
	by  map[principal.Principal]*list.Element
	lru *list.List // of *riskState, most recent first
}

type riskState struct {
	p        principal.Principal
	failures []time.Time          // oldest first, at most MaxRiskFailures
	sources  map[string]time.Time // source → last seen
	// rate: requests in the current interval, the EWMA of past intervals
	// and how many intervals it covers.
	bucket    time.Time
	count     int
	usual     float64
	intervals int
}

// NewRisk returns a Risk with cfg's defaults filled in, or an error for an
// invalid cfg.
func NewRisk(cfg RiskConfig) (*Risk, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Risk{cfg: cfg, by: map[principal.Principal]*list.Element{}, lru: list.New()}, nil
}

// Threshold is the configured threshold.
func (k *Risk) Threshold() int { return k.cfg.Threshold }

// state returns p's state, creating it; k.mu is held.
func (k *Risk) state(p principal.Principal) *riskState {
	if el, ok := k.by[p]; ok {
		k.lru.MoveToFront(el)
		return el.Value.(*riskState)
	}
	s := &riskState{p: p, sources: map[string]time.Time{}}
	k.by[p] = k.lru.PushFront(s)
	for k.lru.Len() > k.cfg.MaxPrincipals {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.by, old.Value.(*riskState).p)
	}
	return s
}

// Observe scores one request of p from source (event.SourceOf its
// address) at now, and records it: the source as seen, the request
// counted in p's rate.
//
// The score is the sum, capped at MaxRiskScore, of
//
//	FailureWeight   per refused request of p in the window, up to FailureCap
//	NewSourceWeight source not used by p in the window, while p used others
//	RateWeight      p's requests this interval > RateFactor × its usual
//	                rate and ≥ RateFloor, once RiskRateHistory intervals
//	                are known
//	OffHoursWeight  now is outside hours (zero Hours: never)
func (k *Risk) Observe(p principal.Principal, source string, hours Hours, now time.Time) RiskScore {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.state(p)
	var r RiskScore
	k.history(s, source, now, &r)
	s.sources[source] = now
	if len(s.sources) > MaxRiskSources {
		var oldest string
		var ot time.Time
		for src, t := range s.sources {
			if oldest == "" || t.Before(ot) {
				oldest, ot = src, t
			}
		}
		delete(s.sources, oldest)
	}

	// Rate.
	b := now.Truncate(RiskRateInterval)
	switch {
	case s.bucket.IsZero():
		s.bucket = b
	case b.After(s.bucket):
		// Close the interval that ended, then count the empty ones that
		// followed (capped: after a long silence the usual rate is ~0).
		s.usual = riskRateAlpha*float64(s.count) + (1-riskRateAlpha)*s.usual
		s.intervals++
		for i, gaps := 0, int(b.Sub(s.bucket)/RiskRateInterval)-1; i < gaps && i < 20; i++ {
			s.usual *= 1 - riskRateAlpha
			s.intervals++
		}
		s.bucket, s.count = b, 0
	}
	s.count++
	if s.intervals >= RiskRateHistory && s.count >= k.cfg.RateFloor && float64(s.count) > k.cfg.RateFactor*s.usual {
		r.add(k.cfg.RateWeight, RiskFactorRate)
	}

	if !hours.Contains(now) {
		r.add(k.cfg.OffHoursWeight, RiskFactorOffHours)
	}
	r.Score = min(r.Score, MaxRiskScore)
	return r
}

// history adds to r what p's recent past says of a request from source
// at now: its refused requests in the window and whether source is new to
// it. It forgets the sources that left the window; k.mu is held.
func (k *Risk) history(s *riskState, source string, now time.Time, r *RiskScore) {
	cutoff := now.Add(-k.cfg.Window)
	n := 0
	for _, t := range s.failures {
		if t.After(cutoff) {
			n++
		}
	}
	r.add(min(n*k.cfg.FailureWeight, k.cfg.FailureCap), RiskFactorFailures)
	known := 0
	for src, t := range s.sources {
		if !t.After(cutoff) {
			delete(s.sources, src)
			continue
		}
		known++
	}
	if _, seen := s.sources[source]; !seen && known > 0 {
		r.add(k.cfg.NewSourceWeight, RiskFactorNewSource)
	}
}

// Peek is the partial score of a request of p from source at now that the
// guard refuses before it reads p's account (a token that does not verify)
// or because of it (p unknown, suspended or revoked): the recent-failures
// and new-source factors only, and nothing recorded. Its hours are those
// of an account the guard has not read or no longer honours, and a refused
// request is no use of the API: it neither counts in p's rate nor makes
// its source a known one (an attacker holding p's certificate must not
// make its own address familiar by being refused from it). A principal
// this replica has not seen scores 0 and is not tracked.
func (k *Risk) Peek(p principal.Principal, source string, now time.Time) RiskScore {
	k.mu.Lock()
	defer k.mu.Unlock()
	var r RiskScore
	if el, ok := k.by[p]; ok {
		k.history(el.Value.(*riskState), source, now, &r)
	}
	r.Score = min(r.Score, MaxRiskScore)
	return r
}

// Fail records one refused request of p at now.
func (k *Risk) Fail(p principal.Principal, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.state(p)
	s.failures = append(s.failures, now)
	if len(s.failures) > MaxRiskFailures {
		s.failures = s.failures[len(s.failures)-MaxRiskFailures:]
	}
}
