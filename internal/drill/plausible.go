package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// The plausibility drills attack the telemetry's meaning, not its
// envelope: the frames are authentic (signed by the truck), so the gateway
// accepts them and raises a finding, kept with the frame and written as a
// finding event (internal/plausibility). A drill checks the answer
// carries the finding and the event is in the store.

// metresPerDegreeLat is the length of one degree of latitude (mean Earth
// radius 6371 km): the drills move their trucks due north.
const metresPerDegreeLat = 6_371_000 * 3.141592653589793 / 180

// jumpMetres is the GNSS jump drill's jump: 5 km in 1 s, 5000 m/s, above
// any implied-speed limit the configuration accepts (at most 340 m/s).
const jumpMetres = 5000

// findingsOf describes the gateway's answer for an accepted frame with
// its findings, so that the want and got of a check read alike.
func findingsOf(v verdict) string {
	if len(v.Findings) == 0 {
		return v.String() + ", no finding"
	}
	return v.String() + ", findings " + strings.Join(v.Findings, ",")
}

// withFinding is the answer a drill wants: accepted with code among the
// findings (another rule, such as an operating area, may add its own).
func withFinding(v verdict, code string) string {
	want := accepted + ", findings " + code
	if v.String() == accepted && slices.Contains(v.Findings, code) {
		return want
	}
	return findingsOf(v)
}

// moving is a telemetry body of a truck driving north at (lat, lon) with
// the speeds given: GNSS speed gnss, wheel speed wheel (m/s).
func moving(lat, lon, gnss, wheel, odo float64) *frame.Telemetry {
	t := telemetry(odo)
	t.GNSS.Lat, t.GNSS.Lon, t.GNSS.SpeedMPS = lat, lon, gnss
	t.WheelSpeedMPS = wheel
	t.State = frame.StateDriving
	return t
}

// gnssJumpDrill: after a plausible fix, a fix 5 km further on 1 s later
// (5000 m/s, far above plausibility.max_implied_speed_mps) is accepted,
// as every authentic frame is, with the position_jump finding, and the
// finding's event is in the store.
func gnssJumpDrill(ctx context.Context, t *Target, p *Probe) error {
	limit := t.Plausibility.WithDefaults().MaxImpliedSpeedMPS
	if implied := float64(jumpMetres) / time.Second.Seconds(); implied <= limit {
		return fmt.Errorf("a %d m jump in 1 s is %v m/s, not above the gateway's limit %v m/s", jumpMetres, implied, limit)
	}
	v, err := enroll(ctx, t, "gnss-jump")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	first := v.frameAt(v.id, freshEpoch, 1, now.Add(-time.Second), 0)
	if err := v.setUp(ctx, p, first); err != nil {
		return err
	}
	// The parked truck's fix moves, nothing else does: a spoofed GNSS.
	jumped := v.frameAt(v.id, freshEpoch, 2, now, 1)
	body := telemetry(1)
	body.GNSS.Lat += jumpMetres / metresPerDegreeLat
	jumped.Body = body
	got, err := v.postSigned(ctx, jumped)
	if err != nil {
		return err
	}
	p.Check(fmt.Sprintf("fix %d m from the last one, 1 s later: the gateway's answer", jumpMetres),
		accepted+", findings "+codes.PositionJump, withFinding(got, codes.PositionJump))
	return awaitEvent(ctx, t, p, codes.PositionJump, v.subject(), nil)
}

// speedDisagreeDrill: wheel speed at less than half of what
// plausibility.speed_disagree_ratio tolerates below the GNSS speed, above
// plausibility.speed_disagree_min_mps, on plausibility.speed_disagree_frames
// consecutive frames: the frames before the last are accepted with no
// finding (one bad fix is not a finding), the last with
// speed_disagreement, and its event is in the store.
func speedDisagreeDrill(ctx context.Context, t *Target, p *Probe) error {
	cfg := t.Plausibility.WithDefaults()
	n := cfg.SpeedDisagreeFrames
	if n < 1 {
		return errors.New("the gateway's speed_disagree_frames is below 1")
	}
	// GNSS speed above the floor, and below the implied-speed limit (at
	// least 40 m/s; the floor is at most 30) so the fixes, 1 s apart and
	// gnss metres apart, raise no position jump.
	gnss := cfg.SpeedDisagreeMinMPS + 5
	wheel := gnss * (1 - cfg.SpeedDisagreeRatio) / 2
	if gnss >= cfg.MaxImpliedSpeedMPS {
		return fmt.Errorf("no GNSS speed is both above %v m/s and below the implied-speed limit %v m/s",
			cfg.SpeedDisagreeMinMPS, cfg.MaxImpliedSpeedMPS)
	}
	v, err := enroll(ctx, t, "wheel-gnss")
	if err != nil {
		return err
	}
	defer v.close()
	base := telemetry(0)
	start := time.Now().Add(-time.Duration(n-1) * time.Second)
	for i := range n {
		f := v.frameAt(v.id, freshEpoch, uint64(i+1), start.Add(time.Duration(i)*time.Second), 0)
		f.Body = moving(base.GNSS.Lat+float64(i)*gnss/metresPerDegreeLat, base.GNSS.Lon, gnss, wheel, float64(i)*gnss)
		got, err := v.postSigned(ctx, f)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("frame %d of %d, GNSS %.1f m/s, wheels %.1f m/s: the gateway's answer", i+1, n, gnss, wheel)
		if i < n-1 {
			p.Check(what, accepted+", no finding", findingsOf(got))
			continue
		}
		p.Check(what, accepted+", findings "+codes.SpeedDisagreement, withFinding(got, codes.SpeedDisagreement))
	}
	return awaitEvent(ctx, t, p, codes.SpeedDisagreement, v.subject(), nil)
}
