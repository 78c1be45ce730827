package detect

import (
	"context"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// BacktestStore is what a backtest reads of the store: the event stream,
// nothing else (it writes nothing).
type BacktestStore interface {
	ReadEventStream(ctx context.Context, after store.StreamPos, limit int) ([]store.StreamEvent, error)
	EventStreamHead(ctx context.Context) (store.StreamPos, error)
}

// BacktestResult is what a backtest found.
type BacktestResult struct {
	// From and To bound the events evaluated: those after From up to
	// and including To, the stream's head when the backtest started.
	From, To  store.StreamPos
	Evaluated int64
	// Elapsed is the whole backtest; Reading the part spent waiting for
	// the store, so Elapsed − Reading is the engine (parsing and rules).
	Elapsed, Reading time.Duration
	// ByRule counts every finding by rule id; Findings lists them in
	// stream order, the first MaxBacktestFindings (Truncated: more were
	// made).
	ByRule    map[string]int64
	Findings  []Finding
	Truncated bool
}

// Backtest evaluates the stored event stream after from, up to the head
// as it is when it starts, with the rules of set, as the Detector would
// have: every finding is collected and nothing else happens (no event is
// recorded, no finding reported, no cursor moved). The windows start
// empty at from: a threshold that events before from would have helped
// reach is not reached.
func Backtest(ctx context.Context, st BacktestStore, set *RuleSet, from store.StreamPos) (BacktestResult, error) {
	start := time.Now()
	res := BacktestResult{From: from, ByRule: map[string]int64{}}
	head, err := st.EventStreamHead(ctx)
	if err != nil {
		return res, fmt.Errorf("detect: backtest: %w", err)
	}
	res.To = head
	eng := NewEngine(set)
	for pos := from; pos < head; {
		t := time.Now()
		evs, err := st.ReadEventStream(ctx, pos, BacktestPage)
		res.Reading += time.Since(t)
		if err != nil {
			return res, fmt.Errorf("detect: backtest: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, se := range evs {
			if se.Pos > head {
				break
			}
			pos = se.Pos
			res.Evaluated++
			if !eng.needsBody(se.Code, se.Class) {
				continue
			}
			for _, f := range eng.Evaluate(InputOf(se.EventRow), true) {
				res.ByRule[f.RuleID]++
				if len(res.Findings) < MaxBacktestFindings {
					res.Findings = append(res.Findings, f)
				} else {
					res.Truncated = true
				}
			}
		}
		if evs[len(evs)-1].Pos > head {
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// StreamPosAt returns the stream position after which the events stored
// at or after t begin: a binary search over positions by the stored time
// of the event after each (store.StreamPos 0 when every event is that
// recent). Stream order is commit order, so times are ordered only
// roughly (replicas' clocks, transactions committing late): events near
// the boundary may fall on either side.
func StreamPosAt(ctx context.Context, st BacktestStore, t time.Time) (store.StreamPos, error) {
	head, err := st.EventStreamHead(ctx)
	if err != nil {
		return 0, fmt.Errorf("detect: %w", err)
	}
	// Invariant: the event after lo is before t (or lo is 0); the event
	// after hi is at or after t, or there is none (hi = head).
	lo, hi := store.StreamPos(0), head
	for hi-lo > 1 {
		m := lo + (hi-lo)/2
		evs, err := st.ReadEventStream(ctx, m, 1)
		if err != nil {
			return 0, fmt.Errorf("detect: %w", err)
		}
		if len(evs) > 0 && evs[0].Time.Before(t) {
			lo = m
		} else {
			hi = m
		}
	}
	// lo or hi: is the event after lo itself before t?
	evs, err := st.ReadEventStream(ctx, lo, 1)
	if err != nil {
		return 0, fmt.Errorf("detect: %w", err)
	}
	if len(evs) > 0 && evs[0].Time.Before(t) {
		return evs[0].Pos, nil
	}
	return lo, nil
}
