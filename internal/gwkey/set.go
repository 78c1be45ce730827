package gwkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// Files of the frame key set in the CA directory (see the package
// documentation); Purpose.SetFile and PublicFile name each purpose's.
const (
	SetFile    = "gateway-frame-keys.json"
	PublicFile = "gateway-frame-keys.pem"

	// The single key of versions before key sets, taken over by Open.
	legacyFile       = "gateway-frame-key.json"
	legacyPublicFile = "gateway-frame-key.pem"

	setVersion   = 1
	pemPublicKey = "PUBLIC KEY"
)

// State is a key's place in the rotation.
type State string

// The states, in the order the published file lists them.
const (
	// Current signs every frame. Exactly one.
	Current State = "current"
	// Next is published for vehicles to pin, and signs once promoted. At
	// most one.
	Next State = "next"
	// Previous signed until the last promotion; published still, its
	// private key erased. At most one.
	Previous State = "previous"
)

var stateOrder = []State{Current, Next, Previous}

// Errors of the key set operations (use errors.Is).
var (
	ErrNextExists = errors.New("gwkey: a next key is already published; promote or drop it first")
	ErrNoNext     = errors.New("gwkey: there is no next key to promote; rotate first")
	ErrUnknownKID = errors.New("gwkey: no key with this kid in the set")
	ErrCurrentKey = errors.New("gwkey: the current key cannot be dropped; promote another first")
)

// Info describes a key of the set: nothing secret.
type Info struct {
	KID   string
	State State
	// Created is when the key was made; Retired, for the previous key, when
	// it stopped signing.
	Created, Retired time.Time
	// PublicKeyPEM is the PEM "PUBLIC KEY" vehicles pin.
	PublicKeyPEM []byte
}

// setDoc is the key set file, version 1.
type setDoc struct {
	V    int     `json:"v"`
	Keys []entry `json:"keys"`
}

type entry struct {
	KID       string     `json:"kid"`
	Alg       string     `json:"alg"`
	State     State      `json:"state"`
	Created   time.Time  `json:"created"`
	Retired   *time.Time `json:"retired,omitempty"`
	PublicPEM string     `json:"public_key_pem"`
	// PrivateKey is the Ed25519 seed encrypted by the KEK (fwkey1,
	// base64), for the current and next keys only.
	PrivateKey string `json:"private_key,omitempty"`
}

func (e entry) info() Info {
	i := Info{KID: e.KID, State: e.State, Created: e.Created, PublicKeyPEM: []byte(e.PublicPEM)}
	if e.Retired != nil {
		i.Retired = *e.Retired
	}
	return i
}

// aad binds an encrypted key to its role and kid.
func (p Purpose) aad(kid string) []byte { return []byte("fifthwheel/gwkey " + p.role + " v1 " + kid) }

// find returns the index of the key in state s, or -1.
func (d *setDoc) find(s State) int {
	return slices.IndexFunc(d.Keys, func(e entry) bool { return e.State == s })
}

// check enforces the shape described in the package documentation.
func (d *setDoc) check(p Purpose) error {
	if d.V != setVersion {
		return fmt.Errorf("version %d is not supported (want %d)", d.V, setVersion)
	}
	count := map[State]int{}
	seen := map[string]bool{}
	for i, e := range d.Keys {
		if e.Alg != string(frame.AlgEd25519) {
			return fmt.Errorf("key %d: alg %q; want Ed25519", i, e.Alg)
		}
		switch e.State {
		case Current, Next:
			if e.PrivateKey == "" {
				return fmt.Errorf("key %s: a %s key needs its private key", e.KID, e.State)
			}
		case Previous:
			if e.PrivateKey != "" {
				return fmt.Errorf("key %s: a previous key keeps no private key", e.KID)
			}
		default:
			return fmt.Errorf("key %d: state %q", i, e.State)
		}
		count[e.State]++
		der, err := publicDER([]byte(e.PublicPEM))
		if err != nil {
			return fmt.Errorf("key %d: %v", i, err)
		}
		if p.keyID(der) != e.KID {
			return fmt.Errorf("key %d: kid %q does not match its public key", i, e.KID)
		}
		if seen[e.KID] {
			return fmt.Errorf("key %s is listed twice", e.KID)
		}
		seen[e.KID] = true
	}
	if count[Current] != 1 || count[Next] > 1 || count[Previous] > 1 {
		return errors.New("a key set holds one current key, at most one next and at most one previous")
	}
	return nil
}

// publicDER returns the PKIX DER of a PEM Ed25519 public key.
func publicDER(p []byte) ([]byte, error) {
	blk, rest := pem.Decode(p)
	if blk == nil || blk.Type != pemPublicKey || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("public_key_pem is not one PEM PUBLIC KEY")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if _, ok := pub.(ed25519.PublicKey); err != nil || !ok {
		return nil, errors.New("public_key_pem is not an Ed25519 public key")
	}
	return blk.Bytes, nil
}

// readKeyFile reads a private key file: a regular file of mode 0600 or
// stricter, of bounded size. A missing file is an error wrapping
// fs.ErrNotExist. The checks are of the open file, the one read (a file
// renamed over path meanwhile is not), and the read stops past the bound
// whatever the size said. O_NONBLOCK: opening a FIFO put at path returns
// at once, for the check to refuse it.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("gwkey: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gwkey: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("gwkey: %s has mode %v; want a regular file of mode 0600", path, st.Mode().Perm())
	}
	tooBig := fmt.Errorf("gwkey: %s is larger than %d bytes", path, maxSetFileBytes)
	if st.Size() > maxSetFileBytes {
		return nil, tooBig
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSetFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gwkey: read %s: %w", path, err)
	}
	if len(b) > maxSetFileBytes {
		return nil, tooBig
	}
	return b, nil
}

// readSet reads and checks the key set in dir. A missing set is an error
// wrapping fs.ErrNotExist.
func readSet(p Purpose, dir string) (setDoc, error) {
	path := filepath.Join(dir, p.SetFile)
	b, err := readKeyFile(path)
	if err != nil {
		return setDoc{}, err
	}
	var d setDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || dec.More() {
		return setDoc{}, fmt.Errorf("gwkey: %s is not a key set file", path)
	}
	if err := d.check(p); err != nil {
		return setDoc{}, fmt.Errorf("gwkey: %s: %v", path, err)
	}
	return d, nil
}

// writeSet writes the key set (created exclusively if create, else
// replaced atomically) and then the published file. The caller holds the
// lock (lockSet) and read the set it changed under it.
func writeSet(p Purpose, dir string, d setDoc, create bool) error {
	if err := d.check(p); err != nil {
		return fmt.Errorf("gwkey: refusing to write a bad key set: %v", err)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	path := filepath.Join(dir, p.SetFile)
	write := atomicfile.Write
	if create {
		write = atomicfile.CreateExclusive
	}
	if err := write(path, b, 0o600); err != nil {
		return fmt.Errorf("gwkey: write %s: %w", path, err)
	}
	return writePublic(p, dir, d)
}

// publicPEM is the published file's content.
func publicPEM(d setDoc) []byte {
	var out []byte
	for _, s := range stateOrder {
		if i := d.find(s); i >= 0 {
			out = fmt.Appendf(out, "# %s %s\n%s", d.Keys[i].KID, s, d.Keys[i].PublicPEM)
		}
	}
	return out
}

// publicUpToDate reports whether the published file in dir is d's.
func publicUpToDate(p Purpose, dir string, d setDoc) bool {
	have, err := os.ReadFile(filepath.Join(dir, p.PublicFile))
	return err == nil && bytes.Equal(have, publicPEM(d))
}

// writePublic writes the published file unless it is up to date. The
// caller holds the lock (lockSet).
func writePublic(p Purpose, dir string, d setDoc) error {
	if publicUpToDate(p, dir, d) {
		return nil
	}
	path := filepath.Join(dir, p.PublicFile)
	if err := atomicfile.Write(path, publicPEM(d), 0o644); err != nil {
		return fmt.Errorf("gwkey: write %s: %w", path, err)
	}
	return nil
}

// openKey decrypts a key of the set. A wrong KEK, or a ciphertext moved
// under another kid, is an error wrapping pki.ErrKeyDecrypt.
func (p Purpose) openKey(e entry, kek pki.KeyEncrypter) (*Key, error) {
	ad := p.aad(e.KID)
	seed, err := decryptSeed(e, kek, ad)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	k, err := p.NewKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	if k.kid != e.KID {
		return nil, fmt.Errorf("gwkey: key %s: the private key does not match its kid", e.KID)
	}
	return k, nil
}

// decryptSeed decrypts e's Ed25519 seed with additional data ad.
func decryptSeed(e entry, kek pki.KeyEncrypter, ad []byte) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(e.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("gwkey: key %s: the private key is not base64", e.KID)
	}
	seed, err := kek.Decrypt(ct, ad)
	if err != nil {
		return nil, fmt.Errorf("gwkey: key %s: %w", e.KID, err)
	}
	if len(seed) != ed25519.SeedSize {
		clear(seed)
		return nil, fmt.Errorf("gwkey: key %s: wrong seed size", e.KID)
	}
	return seed, nil
}

// newEntry makes a key in state s, its private key encrypted by kek.
func (p Purpose) newEntry(kek pki.KeyEncrypter, s State, now time.Time) (entry, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return entry{}, err
	}
	defer clear(priv)
	k, err := p.NewKey(priv)
	if err != nil {
		return entry{}, err
	}
	ct, err := kek.Encrypt(priv.Seed(), p.aad(k.kid))
	if err != nil {
		return entry{}, fmt.Errorf("gwkey: encrypt the new key: %w", err)
	}
	return entry{KID: k.kid, Alg: string(frame.AlgEd25519), State: s, Created: now, PublicPEM: string(k.pub),
		PrivateKey: base64.StdEncoding.EncodeToString(ct)}, nil
}

// Opened says what Open found.
type Opened int

// What Open found.
const (
	// Loaded: the key set was there.
	Loaded Opened = iota
	// Created: there was none; a set with a new current key was made, whose
	// public key must reach the vehicles before they can connect.
	Created
	// Migrated: the single key of an older version became the current key
	// of a new set, and its old files were removed.
	Migrated
)

// Open loads the key set in dir with kek and returns a Signer for its
// current key, after checking that every key that may sign opens with kek
// and matches its kid. Without a key set it takes over the key of an older version
// (Migrated) or makes a set with a new key (Created); two processes doing
// so at once end with one set, the loser loading the winner's. It rewrites
// the published file if it does not match the set (an interrupted write).
// It writes only under the key set's lock, from the set as it is then; a
// set whose published file is up to date is loaded without it.
func (p Purpose) Open(dir string, kek pki.KeyEncrypter) (*Signer, Opened, error) {
	if kek == nil {
		return nil, 0, errors.New("gwkey: the key set needs a KEK")
	}
	d, err := readSet(p, dir)
	how := Loaded
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !publicUpToDate(p, dir, d):
		return p.openLocked(dir, kek)
	case err != nil:
		return nil, 0, err
	}
	k, err := p.signingKey(d, kek)
	if err != nil {
		return nil, 0, err
	}
	return newSigner(p, dir, kek, k), how, nil
}

// openLocked is Open when it has something to write: under the lock it
// reads the set again, makes it if there is none, checks it and writes the
// published file.
func (p Purpose) openLocked(dir string, kek pki.KeyEncrypter) (*Signer, Opened, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("gwkey: key directory: %w", err)
	}
	unlock, err := lockSet(p, dir)
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	d, err := readSet(p, dir)
	how := Loaded
	if errors.Is(err, fs.ErrNotExist) {
		d, how, err = p.create(dir, kek)
	}
	if err != nil {
		return nil, 0, err
	}
	k, err := p.signingKey(d, kek)
	if err != nil {
		return nil, 0, err
	}
	if err := writePublic(p, dir, d); err != nil {
		return nil, 0, err
	}
	return newSigner(p, dir, kek, k), how, nil
}

func newSigner(p Purpose, dir string, kek pki.KeyEncrypter, k *Key) *Signer {
	s := &Signer{p: p, dir: dir, kek: kek}
	s.cur.Store(k)
	return s
}

// signingKey returns the current key of d, after checking that every key
// that may sign opens with kek and matches its kid and public key, the
// next one too: a set whose published keys are not its own is refused
// before anything is published from it.
func (p Purpose) signingKey(d setDoc, kek pki.KeyEncrypter) (*Key, error) {
	var k *Key
	for _, e := range d.Keys {
		if e.State == Previous {
			continue
		}
		ek, err := p.openKey(e, kek)
		if err != nil {
			return nil, err
		}
		if e.State == Current {
			k = ek
		}
	}
	return k, nil
}

// create makes the key set of dir: from the older version's key if there
// is one, else with a new key. The caller holds the lock.
func (p Purpose) create(dir string, kek pki.KeyEncrypter) (setDoc, Opened, error) {
	now := time.Now().UTC().Truncate(time.Second)
	how := Migrated
	e, err := p.legacyEntry(dir, kek, now)
	if errors.Is(err, fs.ErrNotExist) {
		how = Created
		e, err = p.newEntry(kek, Current, now)
	}
	if err != nil {
		return setDoc{}, 0, err
	}
	d := setDoc{V: setVersion, Keys: []entry{e}}
	switch err := writeSet(p, dir, d, true); {
	case errors.Is(err, fs.ErrExist): // made first by a version without the lock
		d, err := readSet(p, dir)
		return d, Loaded, err
	case err != nil:
		return setDoc{}, 0, err
	}
	if how == Migrated {
		for _, f := range []string{legacyFile, legacyPublicFile} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return setDoc{}, 0, fmt.Errorf("gwkey: the key set was made; remove the old %s: %w", f, err)
			}
		}
	}
	return d, how, nil
}

// legacyEntry reads the single key file of versions before key sets and
// returns it as a current key, encrypted anew for the set.
func (p Purpose) legacyEntry(dir string, kek pki.KeyEncrypter, now time.Time) (entry, error) {
	if !p.legacy {
		return entry{}, fs.ErrNotExist // only the frame keys had a version before key sets
	}
	path := filepath.Join(dir, legacyFile)
	b, err := readKeyFile(path)
	if err != nil {
		return entry{}, err
	}
	var f struct {
		V          int    `json:"v"`
		Alg        string `json:"alg"`
		KID        string `json:"kid"`
		PublicPEM  string `json:"public_key_pem"`
		PrivateKey string `json:"private_key"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.V != 1 || f.Alg != string(frame.AlgEd25519) {
		return entry{}, fmt.Errorf("gwkey: %s is not a version 1 Ed25519 key file", path)
	}
	// The older version's additional data: its role was named after the
	// session package.
	old := entry{KID: f.KID, PrivateKey: f.PrivateKey}
	seed, err := decryptSeed(old, kek, []byte("fifthwheel/session gateway-frame-key v1 "+f.KID))
	if err != nil {
		return entry{}, err
	}
	defer clear(seed)
	k, err := p.NewKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return entry{}, err
	}
	if k.kid != f.KID {
		return entry{}, fmt.Errorf("gwkey: %s: the private key does not match its kid", path)
	}
	ct, err := kek.Encrypt(seed, p.aad(k.kid))
	if err != nil {
		return entry{}, fmt.Errorf("gwkey: encrypt the key: %w", err)
	}
	return entry{KID: k.kid, Alg: string(frame.AlgEd25519), State: Current, Created: now, PublicPEM: string(k.pub),
		PrivateKey: base64.StdEncoding.EncodeToString(ct)}, nil
}

// List returns the keys of the set in dir: current, next, previous. It
// needs no KEK.
func (p Purpose) List(dir string) ([]Info, error) {
	d, err := readSet(p, dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, s := range stateOrder {
		if i := d.find(s); i >= 0 {
			out = append(out, d.Keys[i].info())
		}
	}
	return out, nil
}

// Rotate adds a next key to the set in dir and publishes it; the current
// key goes on signing. kek must open the current key (so a mistyped
// passphrase cannot add a key no one can open). ErrNextExists if there is
// a next key already (of two rotations at once, the second one gets it).
func (p Purpose) Rotate(dir string, kek pki.KeyEncrypter) (Info, error) {
	var added entry
	err := p.changeSet(dir, func(d *setDoc) error {
		if i := d.find(Next); i >= 0 {
			return fmt.Errorf("%w (%s)", ErrNextExists, d.Keys[i].KID)
		}
		cur := d.Keys[d.find(Current)]
		if _, err := p.openKey(cur, kek); err != nil {
			return err
		}
		e, err := p.newEntry(kek, Next, time.Now().UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		d.Keys = append(d.Keys, e)
		added = e
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	return added.info(), nil
}

// changeSet applies change to the set in dir under the set's lock and
// writes the result; nothing is written if change fails.
func (p Purpose) changeSet(dir string, change func(d *setDoc) error) error {
	unlock, err := lockSet(p, dir)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := readSet(p, dir)
	if err != nil {
		return err
	}
	if err := change(&d); err != nil {
		return err
	}
	return writeSet(p, dir, d, false)
}

// Promotion is what Promote changed.
type Promotion struct {
	// Current is the key that signs from now on; Previous the one that did.
	Current, Previous Info
	// Dropped is the kid of the earlier previous key, no longer published,
	// or "".
	Dropped string
}

// Promote makes the next key of the set in dir current. The current key
// becomes previous (published, its private key erased); an earlier
// previous key is dropped. kek must open the next key, so that every
// gateway can. ErrNoNext if there is no next key.
func (p Purpose) Promote(dir string, kek pki.KeyEncrypter) (Promotion, error) {
	var pr Promotion
	err := p.changeSet(dir, func(d *setDoc) error {
		ni := d.find(Next)
		if ni < 0 {
			return ErrNoNext
		}
		if _, err := p.openKey(d.Keys[ni], kek); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		keys := make([]entry, 0, 2)
		for _, e := range d.Keys {
			switch e.State {
			case Previous:
				pr.Dropped = e.KID
				continue
			case Current:
				e.State, e.PrivateKey, e.Retired = Previous, "", &now
				pr.Previous = e.info()
			case Next:
				e.State = Current
				pr.Current = e.info()
			}
			keys = append(keys, e)
		}
		d.Keys = keys
		return nil
	})
	if err != nil {
		return Promotion{}, err
	}
	return pr, nil
}

// Drop removes the next or previous key kid from the set in dir and from
// the published file. ErrUnknownKID, or ErrCurrentKey for the current key.
func (p Purpose) Drop(dir, kid string) (Info, error) {
	var gone entry
	err := p.changeSet(dir, func(d *setDoc) error {
		i := slices.IndexFunc(d.Keys, func(e entry) bool { return e.KID == kid })
		switch {
		case i < 0:
			return fmt.Errorf("%w: %q", ErrUnknownKID, kid)
		case d.Keys[i].State == Current:
			return ErrCurrentKey
		}
		gone = d.Keys[i]
		d.Keys = slices.Delete(d.Keys, i, i+1)
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	return gone.info(), nil
}
