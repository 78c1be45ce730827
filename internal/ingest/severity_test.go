package ingest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAttackAlgorithmConfusionIsRecordedHigh: a frame signed with an HS256
// MAC keyed with the vehicle's Ed25519 public key (the classic
// key-confusion attempt) is refused with alg_mismatch and recorded as a
// high-severity event, as the vehicle session records it: the severity of
// a frame refusal is the catalogue's, the same on every path. The other
// refusals that point at an attacker (a forged signature, a replay, a
// frame claiming another vehicle) are high too; the rest medium.
func TestAttackAlgorithmConfusionIsRecordedHigh(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f, t1 := newAttackFleet(t, e.Open(t))
		k, err := f.st.GetVehicleKey(context.Background(), "T1", "k1")
		if err != nil {
			t.Fatal(err)
		}
		mac, err := frame.NewHS256Key(append(append([]byte{}, k.Material...), k.Material...)[:44])
		if err != nil {
			t.Fatal(err)
		}
		confused, _ := frame.Sign(mac, "k1", telemetry("T1", 0, 11, f.now))
		forged := bytes.Replace(f.sign("T1", "k1", telemetry("T1", 0, 11, f.now)), []byte(`"lat":32.7767`), []byte(`"lat":32.7768`), 1)
		for _, tc := range []struct {
			name string
			env  []byte
			code string
			want event.Severity
		}{
			{"hs256_mac_keyed_with_the_ed25519_public_key", confused, string(frame.CodeAlgMismatch), event.SeverityHigh},
			{"tampered_field_after_signing", forged, string(frame.CodeBadSignature), event.SeverityHigh},
			{"replay_of_an_accepted_seq_with_other_bytes", f.sign("T1", "k1", telemetry("T1", 0, 10, f.now.Add(time.Millisecond))), codes.Replay, event.SeverityHigh},
			{"frame_claiming_another_vehicle", f.sign("T2", "k2", telemetry("T2", 0, 1, f.now)), codes.VehicleMismatch, event.SeverityHigh},
			{"counter_rollback", f.sign("T1", "k1", telemetry("T1", 0, 3, f.now)), codes.StaleCounter, event.SeverityMedium},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f.expectReject(t, t1, Live, tc.env, tc.code)
				evs := f.mem.ByCode(tc.code)
				if got := evs[len(evs)-1].Severity; got != tc.want {
					t.Fatalf("%s recorded with severity %v, want %v", tc.code, got, tc.want)
				}
			})
		}
	})
}
