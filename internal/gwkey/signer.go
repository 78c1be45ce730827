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
	dir string
	kek pki.KeyEncrypter
	mu  sync.Mutex // serializes Reload
	cur atomic.Pointer[Key]
}

// SignFrame signs f with the current key, under its kid.
func (s *Signer) SignFrame(f *frame.Frame) ([]byte, error) { return s.cur.Load().SignFrame(f) }

// Current returns the key that signs now.
func (s *Signer) Current() *Key { return s.cur.Load() }

// Reload re-reads the key set and, if its current key changed (a
// promotion), signs with the new one from now on. On an error (the file
// unreadable or malformed, the new key not opening with the KEK) it keeps
// the key it has and says why; changed reports a switch.
func (s *Signer) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := readSet(s.dir)
	if err != nil {
		return false, err
	}
	e := d.Keys[d.find(Current)]
	if e.KID == s.cur.Load().kid {
		return false, nil
	}
	k, err := openKey(e, s.kek, aad(e.KID))
	if err != nil {
		return false, err
	}
	s.cur.Store(k)
	return true, nil
}
