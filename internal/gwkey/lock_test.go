package gwkey

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// Environment of TestRotateHelperProcess, run by
// TestAttackConcurrentRotationsLoseAKey as another fifthwheel process.
const (
	helperDirEnv = "GWKEY_TEST_ROTATE_DIR"
	helperKEKEnv = "GWKEY_TEST_ROTATE_KEK"
)

// TestRotateHelperProcess is not a test: run with helperDirEnv set, it waits
// for a byte on stdin, rotates the key set once and prints the outcome.
func TestRotateHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process of TestAttackConcurrentRotationsLoseAKey")
	}
	kek, err := pki.LoadKeyFileKEK(os.Getenv(helperKEKEnv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	k, err := Rotate(dir, kek)
	fmt.Println(rotationLine(k.KID, err))
}

// rotationLine says how a Rotate ended: "rotated KID", "refused next_exists"
// or "refused locked" (clear refusals, nothing changed), else "failed ...".
func rotationLine(kid string, err error) string {
	switch {
	case err == nil:
		return "rotated " + kid
	case errors.Is(err, ErrNextExists):
		return "refused next_exists"
	case errors.Is(err, ErrLocked):
		return "refused locked"
	}
	return "failed " + err.Error()
}

// kids returns the kids of the key set in dir, and checks that the
// published file is the set's.
func kidsOf(t *testing.T, dir string) []string {
	t.Helper()
	d := readDoc(t, dir)
	var out []string
	for _, e := range d.Keys {
		out = append(out, e.KID)
	}
	pub, err := os.ReadFile(filepath.Join(dir, PublicFile))
	if err != nil || !bytes.Equal(pub, publicPEM(d)) {
		t.Fatalf("the published file is not the key set's (%v):\n%s\nset: %v", err, pub, out)
	}
	return out
}

// TestAttackConcurrentRotationsLoseAKey: operators (goroutines here, and two
// more fifthwheel processes) run `gateway key rotate` at once. Each that is
// told its next key was published must find it in the set and in the
// published file: a key that is reported published, pinned on the trucks,
// then silently lost would make them refuse the gateway after the
// promotion. With the lock exactly one rotation wins each round and the
// others are refused with ErrNextExists.
func TestAttackConcurrentRotationsLoseAKey(t *testing.T) {
	dir := t.TempDir()
	kekPath := filepath.Join(t.TempDir(), "kek")
	if err := pki.CreateKeyFile(kekPath); err != nil {
		t.Fatal(err)
	}
	kek, err := pki.LoadKeyFileKEK(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	open(t, dir, kek)
	const goroutines, processes, rounds = 6, 2, 8
	for round := range rounds {
		// The processes start first and wait on stdin for the go.
		var gos []io.WriteCloser
		var outs []*bytes.Buffer
		var cmds []*exec.Cmd
		if round%2 == 0 { // every other round: a fork is slow under -race
			for range processes {
				cmd := exec.Command(os.Args[0], "-test.run=^TestRotateHelperProcess$")
				cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperKEKEnv+"="+kekPath)
				in, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				out := new(bytes.Buffer)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				gos, outs, cmds = append(gos, in), append(outs, out), append(cmds, cmd)
			}
		}
		var (
			mu    sync.Mutex
			lines []string
			wg    sync.WaitGroup
		)
		start := make(chan struct{})
		for range goroutines {
			wg.Go(func() {
				<-start
				k, err := Rotate(dir, kek)
				mu.Lock()
				lines = append(lines, rotationLine(k.KID, err))
				mu.Unlock()
			})
		}
		close(start)
		for _, in := range gos {
			in.Write([]byte{1})
			in.Close()
		}
		wg.Wait()
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("helper process: %v\n%s", err, outs[i])
			}
			sc := bufio.NewScanner(outs[i])
			found := false
			for sc.Scan() {
				if l := sc.Text(); strings.HasPrefix(l, "rotated ") || strings.HasPrefix(l, "refused ") || strings.HasPrefix(l, "failed ") {
					lines, found = append(lines, l+" (process)"), true
				}
			}
			if !found {
				t.Fatalf("helper process said nothing:\n%s", outs[i])
			}
		}

		have := kidsOf(t, dir)
		var won []string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "rotated "):
				kid := strings.Fields(l)[1]
				won = append(won, kid)
				if !slices.Contains(have, kid) {
					t.Errorf("round %d: %s was reported published but is not in the key set %v", round, kid, have)
				}
			case strings.HasPrefix(l, "failed "):
				t.Errorf("round %d: a rotation failed without a clear refusal: %s", round, l)
			}
		}
		if len(won) != 1 {
			t.Errorf("round %d: %d rotations reported success (want 1): %v", round, len(won), lines)
		}
		if t.Failed() {
			t.FailNow()
		}
		if len(won) == 1 {
			if _, err := Drop(dir, won[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAttackChangesRacingLoseAKey: a rotate racing a drop of the previous
// key, or a starting gateway repairing the published file, must not undo
// it: the rotated key stays in the set and in the published file, the
// dropped one is gone.
func TestAttackChangesRacingLoseAKey(t *testing.T) {
	dir := t.TempDir()
	kek, err := func() (pki.KeyEncrypter, error) {
		p := filepath.Join(t.TempDir(), "kek")
		if err := pki.CreateKeyFile(p); err != nil {
			return nil, err
		}
		return pki.LoadKeyFileKEK(p)
	}()
	if err != nil {
		t.Fatal(err)
	}
	open(t, dir, kek)
	if _, err := Rotate(dir, kek); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(dir, kek); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		// The set is {current, previous}; the published file is stale, as
		// after an interrupted write, so a starting gateway rewrites it.
		d := readDoc(t, dir)
		prev := d.Keys[d.find(Previous)].KID
		os.Remove(filepath.Join(dir, PublicFile))
		var (
			wg      sync.WaitGroup
			rotated Info
			rerr    error
			derr    error
		)
		start := make(chan struct{})
		wg.Go(func() { <-start; rotated, rerr = Rotate(dir, kek) })
		wg.Go(func() { <-start; _, derr = Drop(dir, prev) })
		wg.Go(func() {
			<-start
			if _, _, err := Open(dir, kek); err != nil {
				t.Error(err)
			}
		})
		close(start)
		wg.Wait()
		if rerr != nil || derr != nil {
			t.Fatalf("round %d: rotate %v, drop %v", round, rerr, derr)
		}
		have := kidsOf(t, dir)
		if !slices.Contains(have, rotated.KID) {
			t.Fatalf("round %d: the rotated key %s was lost: %v", round, rotated.KID, have)
		}
		if slices.Contains(have, prev) {
			t.Fatalf("round %d: the dropped key %s came back: %v", round, prev, have)
		}
		if _, err := Promote(dir, kek); err != nil {
			t.Fatal(err)
		}
	}
}
