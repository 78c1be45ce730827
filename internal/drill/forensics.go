package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/forensics"
)

// The forensics drills (issue 21): a bundle exported for an attacked
// vehicle verifies offline and holds the refusal; a tampered copy is
// refused, naming what failed.

// forensicWindow is the window the drills export: the attack is seconds
// old.
const forensicWindow = 15 * time.Minute

// verifyBundle is t's verifier, forensics.Verify unless a test replaced it.
func (t *Target) verifyBundle(b []byte, vkey string) (*forensics.Result, error) {
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if t.VerifyBundle != nil {
		return t.VerifyBundle(b, v), nil
	}
	return forensics.Verify(b, v, nil), nil
}

// attackedBundle enrolls a drill vehicle, has it accept one frame and
// replay its (epoch, seq) with other bytes (refused replay, recorded), and
// exports its bundle.
func attackedBundle(ctx context.Context, t *Target, p *Probe, drill string) (bundle []byte, vkey string, err error) {
	v, err := enroll(ctx, t, drill)
	if err != nil {
		return nil, "", err
	}
	defer v.close()
	now := time.Now()
	if err := v.setUp(ctx, p, v.frameAt(v.id, freshEpoch, 1, now, 0)); err != nil {
		return nil, "", err
	}
	env, err := v.sign(v.frameAt(v.id, freshEpoch, 1, now, 1))
	if err != nil {
		return nil, "", err
	}
	if err := v.refused(ctx, t, p, "same (epoch, seq), other bytes", env, codes.Replay); err != nil {
		return nil, "", err
	}
	if t.ExportBundle == nil {
		return nil, "", errors.New("this target cannot export forensic bundles (no store and CA given)")
	}
	start := time.Now()
	bundle, vkey, err = t.ExportBundle(ctx, v.id, forensicWindow, "DRILL-"+v.id)
	if err != nil {
		return nil, "", fmt.Errorf("forensics export: %w", err)
	}
	p.Timing("export", time.Since(start), 0)
	return bundle, vkey, nil
}

// forensicBundleDrill: the bundle of a vehicle that was attacked verifies
// offline with the log key alone, and holds the refusal event, proven to
// be in the log.
func forensicBundleDrill(ctx context.Context, t *Target, p *Probe) error {
	b, vkey, err := attackedBundle(ctx, t, p, "forensic-bundle")
	if err != nil {
		return err
	}
	r, err := t.verifyBundle(b, vkey)
	if err != nil {
		return err
	}
	got := "verified"
	if !r.OK() {
		got = "refused: " + strings.Join(r.Lines(), "; ")
	}
	p.Check("offline verify of the exported bundle", "verified", got)
	files, err := forensics.Contents(b)
	if err != nil {
		return err
	}
	path := ""
	for name, data := range files {
		if strings.HasPrefix(name, "events/") && strings.Contains(string(data), `"code":"`+codes.Replay+`"`) {
			path = name
		}
	}
	proven := "absent"
	if path != "" {
		proven = "not proven"
		for _, c := range r.Checks {
			if c.Name == forensics.CheckInclusion && c.File == path && c.OK {
				proven = "proven"
			}
		}
	}
	p.Check("the replay's refusal event is in the bundle, with its inclusion proof", "proven", proven)
	return nil
}

// tamperedBundleDrill: one byte flipped in the bundle's first frame, the
// copy is refused, naming the frame's file.
func tamperedBundleDrill(ctx context.Context, t *Target, p *Probe) error {
	b, vkey, err := attackedBundle(ctx, t, p, "tampered-bundle")
	if err != nil {
		return err
	}
	const path = "frames/0-1.json"
	bad, err := forensics.Tamper(b, path, 20)
	if err != nil {
		return err
	}
	r, err := t.verifyBundle(bad, vkey)
	if err != nil {
		return err
	}
	got := "verified"
	if !r.OK() {
		got = "refused"
		named := false
		for _, c := range r.Failed() {
			named = named || c.File == path
		}
		if !named {
			got = "refused without naming " + path
		}
	}
	p.Check("offline verify of a bundle copy with one byte of "+path+" flipped", "refused", got)
	return nil
}
