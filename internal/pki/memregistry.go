package pki

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemRegistry is a Registry in memory, for tests and the demo. It is not
// durable and is shared only within one process.
type MemRegistry struct {
	mu       sync.Mutex
	certs    map[string]IssuedCert
	tokens   map[TokenHash]JoinTokenRecord
	version  int64
	crlNum   int64
	failWith error
}

var _ Registry = (*MemRegistry)(nil)

// NewMemRegistry returns an empty MemRegistry.
func NewMemRegistry() *MemRegistry {
	return &MemRegistry{certs: map[string]IssuedCert{}, tokens: map[TokenHash]JoinTokenRecord{}}
}

// FailWith makes every later call return err (nil restores service); tests
// use it to stand for a store outage.
func (m *MemRegistry) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failWith = err
}

func (m *MemRegistry) lock() error {
	m.mu.Lock()
	if m.failWith != nil {
		err := m.failWith
		m.mu.Unlock()
		return err
	}
	return nil
}

func cloneCert(c IssuedCert) IssuedCert {
	c.DER = slices.Clone(c.DER)
	return c
}

// RecordIssued implements Registry.
func (m *MemRegistry) RecordIssued(_ context.Context, c IssuedCert) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.certs[c.Serial]; ok {
		return ErrConflict
	}
	c.RevokedAt, c.Reason = time.Time{}, 0
	m.certs[c.Serial] = cloneCert(c)
	return nil
}

// GetIssued implements Registry.
func (m *MemRegistry) GetIssued(_ context.Context, serial string) (IssuedCert, error) {
	if err := m.lock(); err != nil {
		return IssuedCert{}, err
	}
	defer m.mu.Unlock()
	c, ok := m.certs[serial]
	if !ok {
		return IssuedCert{}, ErrNotFound
	}
	return cloneCert(c), nil
}

// ListIssued implements Registry.
func (m *MemRegistry) ListIssued(_ context.Context, f IssuedFilter) ([]IssuedCert, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []IssuedCert
	for _, c := range m.certs {
		if (f.Kind == "" || c.Kind == f.Kind) && (f.ID == "" || c.ID == f.ID) {
			out = append(out, cloneCert(c))
		}
	}
	slices.SortFunc(out, func(a, b IssuedCert) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Revoke implements Registry.
func (m *MemRegistry) Revoke(_ context.Context, serial string, reason RevocationReason, at time.Time) (IssuedCert, bool, error) {
	if err := m.lock(); err != nil {
		return IssuedCert{}, false, err
	}
	defer m.mu.Unlock()
	c, ok := m.certs[serial]
	if !ok {
		return IssuedCert{}, false, ErrNotFound
	}
	if c.Revoked() {
		return cloneCert(c), false, nil
	}
	c.RevokedAt, c.Reason = at.UTC(), reason
	m.certs[serial] = c
	m.version++
	return cloneCert(c), true, nil
}

// RevocationVersion implements RevocationSource.
func (m *MemRegistry) RevocationVersion(context.Context) (int64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return m.version, nil
}

// ListRevoked implements RevocationSource.
func (m *MemRegistry) ListRevoked(_ context.Context, activeAt time.Time) ([]RevokedCert, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []RevokedCert
	for _, c := range m.certs {
		if c.Revoked() && c.NotAfter.After(activeAt) {
			out = append(out, RevokedCert{Serial: c.Serial, IssuerKeyID: c.IssuerKeyID, NotAfter: c.NotAfter,
				RevokedAt: c.RevokedAt, Reason: c.Reason})
		}
	}
	slices.SortFunc(out, func(a, b RevokedCert) int { return strings.Compare(a.Serial, b.Serial) })
	return out, nil
}

// NextCRLNumber implements Registry.
func (m *MemRegistry) NextCRLNumber(context.Context) (int64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	m.crlNum++
	return m.crlNum, nil
}

// CreateJoinToken implements Registry.
func (m *MemRegistry) CreateJoinToken(_ context.Context, t JoinTokenRecord) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.tokens[t.Hash]; ok {
		return ErrConflict
	}
	t.UsedAt = time.Time{}
	m.tokens[t.Hash] = t
	return nil
}

// GetJoinToken implements Registry.
func (m *MemRegistry) GetJoinToken(_ context.Context, hash TokenHash) (JoinTokenRecord, error) {
	if err := m.lock(); err != nil {
		return JoinTokenRecord{}, err
	}
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	if !ok {
		return JoinTokenRecord{}, ErrNotFound
	}
	return t, nil
}

// ConsumeJoinToken implements Registry.
func (m *MemRegistry) ConsumeJoinToken(_ context.Context, hash TokenHash, now time.Time) (JoinTokenRecord, error) {
	if err := m.lock(); err != nil {
		return JoinTokenRecord{}, err
	}
	defer m.mu.Unlock()
	t, ok := m.tokens[hash]
	switch {
	case !ok:
		return JoinTokenRecord{}, ErrNotFound
	case !t.UsedAt.IsZero():
		return JoinTokenRecord{}, ErrTokenUsed
	case !now.Before(t.ExpiresAt):
		return JoinTokenRecord{}, ErrTokenExpired
	}
	t.UsedAt = now.UTC()
	m.tokens[hash] = t
	return t, nil
}
