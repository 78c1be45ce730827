package pki

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// MemRegistry is a Registry in memory, for tests and the demo. It is not
// durable and is shared only within one process.
type MemRegistry struct {
	mu         sync.Mutex // one lock: every method is serialized, per principal included
	certs      map[string]IssuedCert
	seq        map[string]int64 // serial → its number among its principal's certificates
	principals map[principal.Principal]*memPrincipal
	tokens     map[TokenHash]JoinTokenRecord
	version    int64
	crlNum     int64
	failWith   error
}

// memPrincipal is a principal's issuance count and revocation watermark.
type memPrincipal struct {
	issued  int64
	revoked bool
	through int64 // with revoked: certificates numbered up to this are revoked
}

var _ Registry = (*MemRegistry)(nil)

// NewMemRegistry returns an empty MemRegistry.
func NewMemRegistry() *MemRegistry {
	return &MemRegistry{certs: map[string]IssuedCert{}, seq: map[string]int64{},
		principals: map[principal.Principal]*memPrincipal{}, tokens: map[TokenHash]JoinTokenRecord{}}
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
func (m *MemRegistry) RecordIssued(_ context.Context, c IssuedCert, basis IssueBasis) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.certs[c.Serial]; ok {
		return ErrConflict
	}
	var seq int64
	if p := c.Principal(); p.Kind != "" {
		st := m.principals[p]
		if st == nil {
			st = &memPrincipal{}
		}
		if basis.RenewedFrom != "" {
			parent, ok := m.certs[basis.RenewedFrom]
			switch {
			case !ok || parent.Principal() != p:
				return ErrNotFound
			case parent.Revoked() || (st.revoked && m.seq[parent.Serial] <= st.through):
				return ErrRevoked
			}
		}
		if basis.JoinToken != nil {
			if err := m.consumeLocked(*basis.JoinToken, basis.Now); err != nil {
				return err
			}
		}
		st.issued++
		seq = st.issued
		m.principals[p] = st
	}
	c.RevokedAt, c.Reason = time.Time{}, 0
	m.certs[c.Serial] = cloneCert(c)
	m.seq[c.Serial] = seq
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
	sortIssued(out)
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

// RevokePrincipal implements Registry.
func (m *MemRegistry) RevokePrincipal(_ context.Context, p principal.Principal, reason RevocationReason, at time.Time) (PrincipalRevocation, error) {
	if err := m.lock(); err != nil {
		return PrincipalRevocation{}, err
	}
	defer m.mu.Unlock()
	st := m.principals[p]
	if st == nil {
		st = &memPrincipal{}
		m.principals[p] = st
	}
	st.revoked, st.through = true, st.issued
	var out PrincipalRevocation
	for serial, c := range m.certs {
		if c.Principal() == p && !c.Revoked() {
			c.RevokedAt, c.Reason = at.UTC(), reason
			m.certs[serial] = c
			out.Revoked = append(out.Revoked, cloneCert(c))
		}
	}
	sortIssued(out.Revoked)
	if len(out.Revoked) > 0 {
		m.version++
	}
	if p.Kind == principal.Vehicle {
		for h, t := range m.tokens {
			if t.VehicleID == p.ID && t.UsedAt.IsZero() {
				t.UsedAt = at.UTC()
				m.tokens[h] = t
				out.TokensSpent++
			}
		}
	}
	return out, nil
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

// consumeLocked marks a join token used at now; m.mu is held.
func (m *MemRegistry) consumeLocked(hash TokenHash, now time.Time) error {
	t, ok := m.tokens[hash]
	switch {
	case !ok:
		return ErrNotFound
	case !t.UsedAt.IsZero():
		return ErrTokenUsed
	case !now.Before(t.ExpiresAt):
		return ErrTokenExpired
	}
	t.UsedAt = now.UTC()
	m.tokens[hash] = t
	return nil
}

// sortIssued orders certificates as ListIssued does: NotBefore, then Serial.
func sortIssued(cs []IssuedCert) {
	slices.SortFunc(cs, func(a, b IssuedCert) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
}
