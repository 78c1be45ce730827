package gwkey

import (
	"sync"
	"sync/atomic"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// Signer signs with the current key of a key set, and follows the set
// when it changes (Reload). Open returns it. Safe for concurrent use.
type Signer struct {
	p   Purpose
	dir string
	kek pki.KeyEncrypter
	mu  sync.Mutex // serializes Reload
	cur atomic.Pointer[Key]
}

// SignFrame signs f with the current key, under its kid: a frame key's
// only (a command key refuses).
func (s *Signer) SignFrame(f *frame.Frame) ([]byte, error) { return s.cur.Load().SignFrame(f) }

// SignCommand signs a command frame with the current key, under its kid:
// a command key's only (frame.SignCommand refuses a frame key's kid).
func (s *Signer) SignCommand(f *frame.Frame) ([]byte, error) { return s.cur.Load().SignCommand(f) }

// Purpose returns the purpose of the set the signer signs with.
func (s *Signer) Purpose() Purpose { return s.p }

// Current returns the key that signs now.
func (s *Signer) Current() *Key { return s.cur.Load() }

// Reload re-reads the key set and, if its current key changed (a
// promotion), signs with the new one from now on. On an error (the file
// unreadable or malformed, the new key not opening with the KEK) it keeps
// the key it has and says why; changed reports a switch.
func (s *Signer) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := readSet(s.p, s.dir)
	if err != nil {
		return false, err
	}
	e := d.Keys[d.find(Current)]
	if e.KID == s.cur.Load().kid {
		return false, nil
	}
	k, err := s.p.openKey(e, s.kek)
	if err != nil {
		return false, err
	}
	s.cur.Store(k)
	return true, nil
}
