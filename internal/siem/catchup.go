package siem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

// catchUpLease is the lease a CLI command takes on the events file sink
// while it catches up: long enough for one command's events.
const catchUpLease = 30 * time.Second

// CatchUpFile brings the events file up to the stream's head once, as the
// same consumer serve runs ("sink:ocsf-file"), so a CLI command's events
// (a revocation, a registration) reach the file without a running
// gateway. When a gateway holds the consumer's lease, it writes them and
// CatchUpFile does nothing. No events file configured: nothing to do.
func CatchUpFile(ctx context.Context, cfg config.Config, st tail.Store, holder string, p ocsf.Product) error {
	path := cfg.EventsPath()
	if path == "" {
		return nil
	}
	f, err := NewFile(FileConfig{Path: path, MaxSize: cfg.Events.MaxSize, MaxAge: cfg.Events.MaxAge, Keep: cfg.Events.Keep,
		KeepAge: cfg.Events.KeepAge, Product: p})
	if err != nil {
		return fmt.Errorf("events.file: %v", err)
	}
	defer f.Close()
	pos, _, err := st.ClaimStreamConsumer(ctx, f.Name(), holder, catchUpLease, false)
	if errors.Is(err, store.ErrLeaseHeld) {
		return nil // a running gateway serves it
	}
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = st.ReleaseStreamConsumer(rctx, f.Name(), holder)
	}()
	for {
		evs, err := st.ReadEventStream(ctx, pos, tail.DefaultPage)
		if err != nil || len(evs) == 0 {
			return err
		}
		n, herr := f.Handle(ctx, evs)
		if n > 0 {
			if err := st.AdvanceStreamConsumer(ctx, f.Name(), holder, evs[n-1].Pos); err != nil {
				return err
			}
			pos = evs[n-1].Pos
		}
		if herr != nil {
			return herr
		}
	}
}
