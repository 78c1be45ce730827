package gwkey

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
)

func testCommand() *frame.Frame {
	now := time.Unix(1e9, 0).UTC()
	return &frame.Frame{VehicleID: "truck-1", Epoch: 1, Seq: 1, TS: now, Body: &frame.Command{
		CommandID: "cmd-1", CommandType: frame.CommandCancel, CmdSeq: 1, Nonce: make([]byte, 16),
		IssuedAt: now, ExpiresAt: now.Add(time.Minute), Risk: frame.RiskLow,
		Payload: frame.CommandPayload{Cancels: "cmd-0"}}}
}

// TestCommandKeySet: the command key set lives in files of its own next to
// the frame keys, with "gc-" kids, and goes through the same rotation; the
// published file is what the agent pins (ParseGatewayCommandKeys).
func TestCommandKeySet(t *testing.T) {
	dir, kek := t.TempDir(), pkitest.NewKEK(t)
	fs, _ := open(t, dir, kek)
	cs, how, err := Command.Open(dir, kek)
	if err != nil || how != Created {
		t.Fatalf("Command.Open: %v, %v", how, err)
	}
	if !strings.HasPrefix(cs.Current().KID(), frame.CommandKIDPrefix) || strings.HasPrefix(fs.Current().KID(), frame.CommandKIDPrefix) {
		t.Fatalf("kids: command %s, frame %s", cs.Current().KID(), fs.Current().KID())
	}
	for _, f := range []string{"gateway-command-keys.json", "gateway-command-keys.pem", "gateway-frame-keys.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	pem, err := os.ReadFile(filepath.Join(dir, Command.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := agent.ParseGatewayCommandKeys(pem)
	if err != nil || len(pinned) != 1 || pinned[0].KID != cs.Current().KID() {
		t.Fatalf("pinned %v, %v; want %s", pinned, err, cs.Current().KID())
	}
	env, err := cs.SignCommand(testCommand())
	if err != nil {
		t.Fatal(err)
	}
	e, err := frame.ParseEnvelope(env)
	if err != nil || e.KID != cs.Current().KID() || e.Verify(cs.Current().Verifier()) != nil {
		t.Fatalf("command envelope: kid %s, %v", e.KID, err)
	}

	next, err := Command.Rotate(dir, kek)
	if err != nil || !strings.HasPrefix(next.KID, frame.CommandKIDPrefix) {
		t.Fatalf("rotate: %v %v", next.KID, err)
	}
	if _, err := Command.Promote(dir, kek); err != nil {
		t.Fatal(err)
	}
	if changed, err := cs.Reload(); !changed || err != nil || cs.Current().KID() != next.KID {
		t.Fatalf("reload: %v %v %s", changed, err, cs.Current().KID())
	}
	if keys, _ := List(dir); len(keys) != 1 {
		t.Fatalf("the frame key set changed with the command keys: %v", keys)
	}
	if keys, _ := Command.List(dir); len(keys) != 2 {
		t.Fatalf("command keys after a promotion: %v", keys)
	}
}

// TestAttackKeyPurposeConfusion: a command key never signs a session frame,
// a frame key never signs a command, and a command key set file put in
// place of the frame key set does not load as frame keys.
func TestAttackKeyPurposeConfusion(t *testing.T) {
	dir, kek := t.TempDir(), pkitest.NewKEK(t)
	fs, _ := open(t, dir, kek)
	cs, _, err := Command.Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.SignFrame(&frame.Frame{VehicleID: "truck-1", Epoch: 1, Seq: 1, TS: time.Unix(1e9, 0).UTC(),
		Body: &frame.Ready{Nonce: make([]byte, 32)}}); err == nil {
		t.Error("a command key signed a session frame")
	}
	if _, err := fs.SignCommand(testCommand()); err == nil {
		t.Error("a frame key signed a command")
	}
	other := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, Command.SetFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, SetFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(other, kek); err == nil {
		t.Error("a command key set loaded as the frame key set")
	}
}
