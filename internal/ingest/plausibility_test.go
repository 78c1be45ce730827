package ingest

import (
	"math"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/plausibility"
)

var testPlausCfg = plausibility.Config{SpeedDisagreeRatio: 0.2, SpeedDisagreeMinMPS: 5, SpeedDisagreeFrames: 3, MaxImpliedSpeedMPS: 60}

// TestPlausibilityConfigRefusals: thresholds that would turn a rule off or
// make it fire on healthy trucks are refused by New, as the gateway's
// configuration refuses them (plausibility.*).
func TestPlausibilityConfigRefusals(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  plausibility.Config
		want string
	}{
		{"ratio that fires on healthy sensors", plausibility.Config{SpeedDisagreeRatio: 0.01}, "speed disagree ratio"},
		{"ratio that can never fire", plausibility.Config{SpeedDisagreeRatio: 1}, "speed disagree ratio"},
		{"NaN ratio", plausibility.Config{SpeedDisagreeRatio: math.NaN()}, "speed disagree ratio"},
		{"speed floor above any truck", plausibility.Config{SpeedDisagreeMinMPS: 50}, "speed disagree min m/s"},
		{"negative frame count", plausibility.Config{SpeedDisagreeFrames: -1}, "speed disagree frames"},
		{"jump threshold below highway speed", plausibility.Config{MaxImpliedSpeedMPS: 20}, "max implied speed m/s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Plausibility: tt.cfg}, Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a refusal of %s", err, tt.want)
			}
		})
	}
	if _, err := New(Config{Plausibility: testPlausCfg}, Deps{}); err == nil || strings.Contains(err.Error(), "speed") {
		t.Fatalf("valid thresholds: %v (want only the missing dependencies)", err)
	}
}
