package gwkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
)

func open(t *testing.T, dir string, kek pki.KeyEncrypter) (*Signer, Opened) {
	t.Helper()
	s, how, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	return s, how
}

// signedBy signs a frame with s and reports the kid it carries, after
// checking that it verifies with k.
func signedBy(t *testing.T, s interface {
	SignFrame(*frame.Frame) ([]byte, error)
}, k *Key) string {
	t.Helper()
	env, err := s.SignFrame(&frame.Frame{VehicleID: "truck-1", Epoch: 1, Seq: 1, TS: time.Unix(1e9, 0).UTC(),
		Body: &frame.Ready{Nonce: make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := frame.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(k.Verifier()); err != nil {
		t.Fatalf("the frame does not verify with %v: %v", k, err)
	}
	return e.KID
}

// published returns the kids of the published file, as a vehicle reads it.
func published(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := agent.ParseGatewayFrameKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func readDoc(t *testing.T, dir string) setDoc {
	t.Helper()
	d, err := readSet(Frame, dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writeDoc writes d over the key set without checking it: what someone who
// can write the CA directory could do.
func writeDoc(t *testing.T, dir string, d setDoc) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SetFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenCreatesThenLoads: the first Open makes a set with one current key,
// encrypted at rest in a 0600 file, and publishes its public key; the next
// Open loads the same key. A wrong KEK, a loose file mode or an edited kid
// are refused; List of a directory without a set says fs.ErrNotExist.
func TestOpenCreatesThenLoads(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	s, how := open(t, dir, kek)
	k := s.Current()
	if how != Created || !strings.HasPrefix(k.KID(), "gw-") {
		t.Fatalf("created %v, kid %q", how, k.KID())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, SetFile))
	if st, _ := os.Stat(filepath.Join(dir, SetFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key set mode %v", st.Mode().Perm())
	}
	if bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Fatal("private key stored in the clear")
	}
	if st, _ := os.Stat(filepath.Join(dir, PublicFile)); st.Mode().Perm() != 0o644 {
		t.Fatalf("published file mode %v", st.Mode().Perm())
	}
	if kids := published(t, dir); len(kids) != 1 || kids[0] != k.KID() {
		t.Fatalf("published %v, want [%s]", kids, k.KID())
	}

	s2, how := open(t, dir, kek)
	if how != Loaded || s2.Current().KID() != k.KID() {
		t.Fatalf("reload: %v %v", how, s2.Current())
	}
	// The reloaded key signs as the original.
	if kid := signedBy(t, s2, k); kid != k.KID() {
		t.Fatalf("signed under %q", kid)
	}

	if _, _, err := Open(dir, pkitest.NewKEK(t)); !errors.Is(err, pki.ErrKeyDecrypt) {
		t.Fatalf("wrong KEK: %v", err)
	}
	edited := bytes.ReplaceAll(raw, []byte(k.KID()), []byte("gw-AAAAAAAAAAAAAAAAAAAAAA"))
	os.WriteFile(filepath.Join(dir, SetFile), edited, 0o600)
	if _, _, err := Open(dir, kek); err == nil {
		t.Fatal("a key set with another kid loaded")
	}
	os.WriteFile(filepath.Join(dir, SetFile), raw, 0o644)
	os.Chmod(filepath.Join(dir, SetFile), 0o644)
	if _, _, err := Open(dir, kek); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Fatalf("a world-readable key set loaded: %v", err)
	}
	if _, err := List(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key set: %v", err)
	}
}

// TestKeyIDAgreesWithAgent: the agent derives the same kid from the public
// key alone, so a vehicle can pin the published file by itself.
func TestKeyIDAgreesWithAgent(t *testing.T) {
	s, _ := open(t, t.TempDir(), pkitest.NewKEK(t))
	k := s.Current()
	der, err := publicDER(k.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	kid, err := agent.GatewayKeyID(k.PublicKeyPEM())
	if err != nil || kid != k.KID() || KeyID(der) != kid {
		t.Fatalf("agent derives %q (%v), gateway %q", kid, err, k.KID())
	}
	if got := k.String(); strings.Contains(got, string(k.PublicKeyPEM())) || !strings.Contains(got, k.KID()) {
		t.Fatalf("String() = %q", got)
	}
}

// TestRotation walks the documented rotation: rotate publishes a next key
// while the current one still signs; promote makes it sign (a running
// Signer switches on Reload) and keeps the old one published as previous
// without its private key; the next promotion drops that one; drop removes
// a key.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	s, _ := open(t, dir, kek)
	first := s.Current()

	next, err := Rotate(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if next.State != Next || next.KID == first.KID() {
		t.Fatalf("rotate: %+v", next)
	}
	if kids := published(t, dir); len(kids) != 2 || kids[0] != first.KID() || kids[1] != next.KID {
		t.Fatalf("published after rotate %v", kids)
	}
	if changed, err := s.Reload(); err != nil || changed {
		t.Fatalf("reload after rotate: %v %v", changed, err)
	}
	if kid := signedBy(t, s, first); kid != first.KID() {
		t.Fatalf("after rotate, signed under %q", kid)
	}
	if _, err := Rotate(dir, kek); !errors.Is(err, ErrNextExists) {
		t.Fatalf("second rotate: %v", err)
	}

	p, err := Promote(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if p.Current.KID != next.KID || p.Previous.KID != first.KID() || p.Dropped != "" || p.Previous.Retired.IsZero() {
		t.Fatalf("promotion %+v", p)
	}
	if changed, err := s.Reload(); err != nil || !changed {
		t.Fatalf("reload after promote: %v %v", changed, err)
	}
	if s.Current().KID() != next.KID {
		t.Fatalf("signing with %v after promote", s.Current())
	}
	if kid := signedBy(t, s, s.Current()); kid != next.KID {
		t.Fatalf("after promote, signed under %q", kid)
	}
	if kids := published(t, dir); len(kids) != 2 || kids[0] != next.KID || kids[1] != first.KID() {
		t.Fatalf("published after promote %v", kids)
	}
	d := readDoc(t, dir)
	if prev := d.Keys[d.find(Previous)]; prev.PrivateKey != "" {
		t.Fatal("the previous key kept its private key")
	}
	if _, err := Promote(dir, kek); !errors.Is(err, ErrNoNext) {
		t.Fatalf("promote without a next key: %v", err)
	}

	third, err := Rotate(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	p, err = Promote(dir, kek)
	if err != nil || p.Dropped != first.KID() || p.Current.KID != third.KID {
		t.Fatalf("second promotion %+v %v", p, err)
	}
	if _, err := Drop(dir, third.KID); !errors.Is(err, ErrCurrentKey) {
		t.Fatalf("drop current: %v", err)
	}
	if _, err := Drop(dir, first.KID()); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("drop a key no longer in the set: %v", err)
	}
	gone, err := Drop(dir, next.KID)
	if err != nil || gone.State != Previous {
		t.Fatalf("drop previous: %+v %v", gone, err)
	}
	if kids := published(t, dir); len(kids) != 1 || kids[0] != third.KID {
		t.Fatalf("published after drop %v", kids)
	}
	infos, err := List(dir)
	if err != nil || len(infos) != 1 || infos[0].KID != third.KID || infos[0].State != Current {
		t.Fatalf("list %+v %v", infos, err)
	}
}

// TestRotateRefusesAWrongKEK: a mistyped passphrase adds no key that no one
// could open.
func TestRotateRefusesAWrongKEK(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, pkitest.NewKEK(t))
	before, _ := os.ReadFile(filepath.Join(dir, SetFile))
	if _, err := Rotate(dir, pkitest.NewKEK(t)); !errors.Is(err, pki.ErrKeyDecrypt) {
		t.Fatalf("rotate with another KEK: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, SetFile)); !bytes.Equal(before, after) {
		t.Fatal("the key set changed")
	}
}

// TestOpenTakesOverTheOlderSingleKey: a gateway-frame-key.json of the
// version before key sets becomes the current key (same kid, so pinned
// vehicles go on working), and its files are removed.
func TestOpenTakesOverTheOlderSingleKey(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := NewKey(priv)
	ct, err := kek.Encrypt(priv.Seed(), []byte("fifthwheel/session gateway-frame-key v1 "+k.KID()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"v": 1, "alg": "Ed25519", "kid": k.KID(), "public_key_pem": string(k.PublicKeyPEM()),
		"private_key": base64.StdEncoding.EncodeToString(ct)})
	os.WriteFile(filepath.Join(dir, legacyFile), b, 0o600)
	os.WriteFile(filepath.Join(dir, legacyPublicFile), k.PublicKeyPEM(), 0o644)

	s, how := open(t, dir, kek)
	if how != Migrated || s.Current().KID() != k.KID() {
		t.Fatalf("migration: %v %v", how, s.Current())
	}
	signedBy(t, s, k)
	for _, f := range []string{legacyFile, legacyPublicFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s left behind: %v", f, err)
		}
	}
	if _, how := open(t, dir, kek); how != Loaded {
		t.Fatalf("second open: %v", how)
	}
}

// TestConcurrentOpensAgree: replicas starting at once on a shared CA
// directory end with one key.
func TestConcurrentOpensAgree(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	kids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Go(func() {
			s, _, err := Open(dir, kek)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = s.Current().KID()
		})
	}
	wg.Wait()
	for _, kid := range kids[1:] {
		if kid != kids[0] {
			t.Fatalf("replicas sign with different keys: %v", kids)
		}
	}
}

// TestReloadKeepsTheKeyOnABadSet: a key set that no longer loads does not
// stop a running gateway from signing.
func TestReloadKeepsTheKeyOnABadSet(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, pkitest.NewKEK(t))
	k := s.Current()
	os.WriteFile(filepath.Join(dir, SetFile), []byte("{"), 0o600)
	if changed, err := s.Reload(); err == nil || changed {
		t.Fatalf("reload of a broken set: %v %v", changed, err)
	}
	if kid := signedBy(t, s, k); kid != k.KID() {
		t.Fatalf("signed under %q", kid)
	}
}

// TestAttackRetiredGatewayKeyReactivated: after a promotion the old key's
// private key is gone from the set, so editing the file to make it current
// again (to sign with a key being retired because it leaked) cannot work:
// the set is refused and the gateway keeps signing with the new key.
func TestAttackRetiredGatewayKeyReactivated(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	s, _ := open(t, dir, kek)
	old := s.Current().KID()
	if _, err := Rotate(dir, kek); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(dir, kek); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	cur := s.Current()
	d := readDoc(t, dir)
	for i := range d.Keys {
		switch d.Keys[i].State {
		case Previous:
			d.Keys[i].State, d.Keys[i].Retired = Current, nil
		case Current:
			d.Keys[i].State = Next
		}
	}
	writeDoc(t, dir, d)
	if changed, err := s.Reload(); err == nil || changed {
		t.Fatalf("the retired key was made current again: %v %v", changed, err)
	}
	if kid := signedBy(t, s, cur); kid == old {
		t.Fatal("the gateway signs with the retired key")
	}
	if _, _, err := Open(dir, kek); err == nil {
		t.Fatal("a restart signs with the retired key")
	}
}

// TestAttackPublishedKeySwappedInKeySet: someone who can edit the key set
// replaces the next key's public key (and kid) with their own, leaving its
// encrypted private key, so that vehicles would pin a key they hold. The
// gateway refuses the set at start, before publishing anything from it, and
// promotion refuses it too.
func TestAttackPublishedKeySwappedInKeySet(t *testing.T) {
	dir := t.TempDir()
	kek := pkitest.NewKEK(t)
	open(t, dir, kek)
	if _, err := Rotate(dir, kek); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	attacker, _ := NewKey(priv)
	d := readDoc(t, dir)
	ni := d.find(Next)
	d.Keys[ni].KID, d.Keys[ni].PublicPEM = attacker.KID(), string(attacker.PublicKeyPEM())
	writeDoc(t, dir, d)
	os.Remove(filepath.Join(dir, PublicFile))

	if _, _, err := Open(dir, kek); err == nil {
		t.Fatal("a key set whose next key is not its own loaded")
	}
	if _, err := os.Stat(filepath.Join(dir, PublicFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the attacker's key was published: %v", err)
	}
	if _, err := Promote(dir, kek); err == nil {
		t.Fatal("the attacker's key was promoted")
	}
}
