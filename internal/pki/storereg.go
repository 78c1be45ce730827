package pki

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// StoreRegistry adapts the store's PKI rows (SQLite or PostgreSQL) to
// Registry, mapping the store's sentinels to this package's. The store cannot
// import pki (pki → event → store), so the adapter lives here.
type StoreRegistry struct{ st store.PKIStore }

// NewStoreRegistry returns a Registry backed by st.
func NewStoreRegistry(st store.PKIStore) *StoreRegistry { return &StoreRegistry{st: st} }

var _ Registry = (*StoreRegistry)(nil)

func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, store.ErrTokenUsed):
		return ErrTokenUsed
	case errors.Is(err, store.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, store.ErrRevoked):
		return fmt.Errorf("%w: %v", ErrRevoked, err)
	}
	return err
}

func toRow(c IssuedCert) store.CertRow {
	return store.CertRow{Serial: c.Serial, Kind: string(c.Kind), ID: c.ID, Profile: string(c.Profile), NotBefore: c.NotBefore,
		NotAfter: c.NotAfter, IssuerKeyID: c.IssuerKeyID, DER: c.DER, RevokedAt: c.RevokedAt, Reason: int(c.Reason)}
}

func fromRow(r store.CertRow) IssuedCert {
	return IssuedCert{Serial: r.Serial, Kind: principal.Kind(r.Kind), ID: r.ID, Profile: Profile(r.Profile), NotBefore: r.NotBefore,
		NotAfter: r.NotAfter, IssuerKeyID: r.IssuerKeyID, DER: r.DER, RevokedAt: r.RevokedAt, Reason: RevocationReason(r.Reason)}
}

// RecordIssued implements Registry.
func (s *StoreRegistry) RecordIssued(ctx context.Context, c IssuedCert, basis IssueBasis) error {
	b := store.IssueBasis{RenewedFrom: basis.RenewedFrom, Now: basis.Now}
	if basis.JoinToken != nil {
		b.JoinToken = basis.JoinToken[:]
	}
	return mapStoreErr(s.st.RecordIssued(ctx, toRow(c), b))
}

// GetIssued implements Registry.
func (s *StoreRegistry) GetIssued(ctx context.Context, serial string) (IssuedCert, error) {
	r, err := s.st.GetIssued(ctx, serial)
	if err != nil {
		return IssuedCert{}, mapStoreErr(err)
	}
	return fromRow(r), nil
}

// ListIssued implements Registry.
func (s *StoreRegistry) ListIssued(ctx context.Context, f IssuedFilter) ([]IssuedCert, error) {
	rows, err := s.st.ListIssued(ctx, string(f.Kind), f.ID, f.Limit)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	out := make([]IssuedCert, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Revoke implements Registry.
func (s *StoreRegistry) Revoke(ctx context.Context, serial string, reason RevocationReason, at time.Time) (IssuedCert, bool, error) {
	r, changed, err := s.st.RevokeCert(ctx, serial, int(reason), at)
	if err != nil {
		return IssuedCert{}, false, mapStoreErr(err)
	}
	return fromRow(r), changed, nil
}

// RevokePrincipal implements Registry.
func (s *StoreRegistry) RevokePrincipal(ctx context.Context, p principal.Principal, reason RevocationReason, at time.Time) (PrincipalRevocation, error) {
	r, err := s.st.RevokePrincipal(ctx, string(p.Kind), p.ID, int(reason), at)
	if err != nil {
		return PrincipalRevocation{}, mapStoreErr(err)
	}
	out := PrincipalRevocation{Revoked: make([]IssuedCert, len(r.Revoked)), TokensSpent: r.TokensSpent}
	for i, row := range r.Revoked {
		out.Revoked[i] = fromRow(row)
	}
	return out, nil
}

// NextCRLNumber implements Registry.
func (s *StoreRegistry) NextCRLNumber(ctx context.Context) (int64, error) {
	n, err := s.st.NextCRLNumber(ctx)
	return n, mapStoreErr(err)
}

// RevocationVersion implements RevocationSource.
func (s *StoreRegistry) RevocationVersion(ctx context.Context) (int64, error) {
	v, err := s.st.RevocationVersion(ctx)
	return v, mapStoreErr(err)
}

// ListRevoked implements RevocationSource.
func (s *StoreRegistry) ListRevoked(ctx context.Context, activeAt time.Time) ([]RevokedCert, error) {
	rows, err := s.st.ListRevokedCerts(ctx, activeAt)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	out := make([]RevokedCert, len(rows))
	for i, r := range rows {
		out[i] = RevokedCert{Serial: r.Serial, IssuerKeyID: r.IssuerKeyID, NotAfter: r.NotAfter, RevokedAt: r.RevokedAt, Reason: RevocationReason(r.Reason)}
	}
	return out, nil
}

func tokenFromRow(r store.JoinTokenRow) JoinTokenRecord {
	var h TokenHash
	copy(h[:], r.Hash)
	return JoinTokenRecord{Hash: h, VehicleID: r.VehicleID, Carrier: r.Carrier, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt}
}

// CreateJoinToken implements Registry. A new token is unused whatever
// t.UsedAt says.
func (s *StoreRegistry) CreateJoinToken(ctx context.Context, t JoinTokenRecord) error {
	return mapStoreErr(s.st.CreateJoinToken(ctx, store.JoinTokenRow{Hash: t.Hash[:], VehicleID: t.VehicleID, Carrier: t.Carrier,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}))
}

// GetJoinToken implements Registry.
func (s *StoreRegistry) GetJoinToken(ctx context.Context, hash TokenHash) (JoinTokenRecord, error) {
	r, err := s.st.GetJoinToken(ctx, hash[:])
	if err != nil {
		return JoinTokenRecord{}, mapStoreErr(err)
	}
	return tokenFromRow(r), nil
}
