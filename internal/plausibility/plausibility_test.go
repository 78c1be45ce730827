package plausibility

import (
	"fmt"
	"testing"
	"time"
)

var testCfg = Config{SpeedDisagreeRatio: 0.2, SpeedDisagreeMinMPS: 5, SpeedDisagreeFrames: 3, MaxImpliedSpeedMPS: 60}

func TestPlausibility(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(i int, lat, lon, gnss, wheel float64, fix string) Sample {
		return Sample{TS: t0.Add(time.Duration(i) * time.Second), Lat: lat, Lon: lon, GNSSSpeed: gnss, WheelSpeed: wheel, Fix: fix, HasPosition: true, HasWheelSpeed: true}
	}
	area := Polygon{{32.0, -97.5}, {33.5, -97.5}, {33.5, -96.0}, {32.0, -96.0}}
	cases := []struct {
		name    string
		samples []Sample
		want    []string // findings per sample, joined
	}{
		{"consistent_drive", []Sample{at(0, 32.7, -96.8, 25, 25.5, "3d"), at(1, 32.7002, -96.8, 25, 24.8, "3d"), at(2, 32.7004, -96.8, 25, 25, "3d")},
			[]string{"", "", ""}},
		{"wheel_vs_gnss_disagreement_three_frames", []Sample{at(0, 32.7, -96.8, 25, 10, "3d"), at(1, 32.7002, -96.8, 25, 10, "3d"), at(2, 32.7004, -96.8, 25, 10, "3d"), at(3, 32.7006, -96.8, 25, 10, "3d")},
			[]string{"", "", "speed_disagreement", ""}},
		{"disagreement_below_5mps_is_noise", []Sample{at(0, 32.7, -96.8, 4, 1, "3d"), at(1, 32.7, -96.8, 4, 1, "3d"), at(2, 32.7, -96.8, 4, 1, "3d")},
			[]string{"", "", ""}},
		{"gnss_spoofed_position_jump", []Sample{at(0, 32.7, -96.8, 25, 25, "3d"), at(1, 33.2, -96.8, 25, 25, "3d")},
			[]string{"", "position_jump"}},
		{"fix_lost_once", []Sample{at(0, 32.7, -96.8, 25, 25, "3d"), at(1, 0, 0, 0, 25, "none"), at(2, 0, 0, 0, 25, "none")},
			[]string{"", "gnss_fix_lost", ""}},
		{"leaves_operating_area", []Sample{at(0, 33.49, -96.8, 25, 25, "3d"), at(60, 33.51, -96.8, 25, 25, "3d"), at(61, 33.5102, -96.8, 25, 25, "3d")},
			[]string{"", "outside_operating_area", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(testCfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.samples {
				got := fmt.Sprint(p.Check("T1", s, area))
				want := fmt.Sprint([]string{})
				if c.want[i] != "" {
					want = fmt.Sprint([]string{c.want[i]})
				}
				if got != want {
					t.Errorf("sample %d: findings %s, want %s", i, got, want)
				}
			}
		})
	}
}

// TestBackfillOlderThanLiveIsNoPositionJump: after an outage a truck sends
// live frames on its session and the frames of the outage, older, through
// the batch path, so the rules see a frame older than the last one. Driving
// at 25 m/s is no jump whichever way the two frames arrive; a spoofed fix
// still is.
func TestBackfillOlderThanLiveIsNoPositionJump(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	at := func(sec int, lat float64) Sample {
		return Sample{TS: t0.Add(time.Duration(sec) * time.Second), Lat: lat, Lon: -96.8, GNSSSpeed: 25, WheelSpeed: 25,
			Fix: "3d", HasPosition: true, HasWheelSpeed: true}
	}
	const degPerSec = 25.0 / 111_195 // 25 m/s northwards, in degrees of latitude
	p, err := New(testCfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []Sample{
		at(600, 32.7+600*degPerSec), // live, after the outage
		at(0, 32.7),                 // backfill: the outage's first frame, 10 min older
		at(1, 32.7+degPerSec),
		at(601, 32.7+601*degPerSec), // live again
	} {
		if got := p.Check("T1", s, nil); len(got) != 0 {
			t.Errorf("frame %d (ts +%v): findings %v on an honest drive", i, s.TS.Sub(t0), got)
		}
	}
	// An older frame 50 km away from a frame 10 s later: a jump.
	if got := p.Check("T1", at(591, 33.2), nil); fmt.Sprint(got) != "[position_jump]" {
		t.Errorf("spoofed older fix: findings %v, want [position_jump]", got)
	}
}
