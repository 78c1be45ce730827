package frame_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

func Example() {
	// Vehicle side: a frame-signing key (here in memory; a TPM or secure
	// element behind crypto.Signer works the same way).
	seed := sha256.Sum256([]byte("example TEST-ONLY key"))
	signer, err := frame.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	env, err := frame.Sign(signer, "k1", &frame.Frame{
		VehicleID: "truck-0042",
		Epoch:     1,
		Seq:       7,
		TS:        time.Date(2026, 11, 24, 21, 0, 0, 123e6, time.UTC),
		Body:      &frame.Heartbeat{State: frame.StateDriving},
	})
	if err != nil {
		panic(err)
	}

	// Gateway side: the key registered under kid "k1" for this vehicle.
	registered := signer.Public()
	e, err := frame.ParseEnvelope(env)
	if err != nil {
		fmt.Println("refused:", frame.CodeOf(err))
		return
	}
	if err := e.Verify(registered); err != nil {
		fmt.Println("refused:", frame.CodeOf(err))
		return
	}
	f, err := e.DecodeFrame()
	if err != nil {
		fmt.Println("refused:", frame.CodeOf(err))
		return
	}
	fmt.Println(f.VehicleID, f.Kind(), f.Epoch, f.Seq, f.Body.(*frame.Heartbeat).State)
	fmt.Printf("%s\n", e.Frame())

	// An envelope naming alg "none" is refused with a stable reason code.
	_, err = frame.ParseEnvelope([]byte(`{"alg":"none","kid":"k1","frame":{},"sig":""}`))
	fmt.Println("refused:", frame.CodeOf(err))
	// Output:
	// truck-0042 heartbeat 1 7 driving
	// {"epoch":1,"kind":"heartbeat","seq":7,"state":"driving","ts":"2026-11-24T21:00:00.123Z","v":1,"vehicle_id":"truck-0042"}
	// refused: alg_not_allowed
}
