package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/server"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// tmsAccess is the TMS listener's access control, wired from package authz
// and the store: the token-signing keys, the token endpoint and the two
// public documents, and the guard every TMS API route passes.
type tmsAccess struct {
	keys  *authz.KeySet
	dir   *authz.CachedDirectory
	guard *authz.Guard
	// anonymous are the routes served without the guard: the token
	// endpoint (authenticated by the certificate alone) and the public
	// metadata and JWKS.
	anonymous server.Routes
}

// startTMSAccess loads (or, on a fresh store, creates) the token-signing
// keys, and starts on bg their reload and the authorization cache's
// watch of the registry's authority version (polled, and woken by NOTIFY
// on PostgreSQL). sealer is the gateway's secrets key; bus receives events
// about verified principals, agg those about peers without a certificate.
func startTMSAccess(ctx, bg context.Context, cfg config.Config, st store.Store, sealer authz.Sealer,
	rs *pki.RevocationSet, bus, agg event.Emitter, log *slog.Logger) (*tmsAccess, error) {
	keys, err := authz.NewKeySet(authz.KeySetDeps{Store: tokenKeyStore{st}, Sealer: sealer, Events: bus, Log: log},
		authz.KeySetConfig{Alg: cfg.Access.TokenAlg})
	if err != nil {
		return nil, err
	}
	if err := keys.EnsureKey(ctx); err != nil {
		return nil, fmt.Errorf("the access-token signing key: %v", err)
	}
	go keys.Run(bg, 0)
	tcfg := authz.TokenConfig{Issuer: cfg.AccessIssuer()}
	issuer, err := authz.NewIssuer(keys, tcfg)
	if err != nil {
		return nil, err
	}
	verifier, err := authz.NewVerifier(keys, tcfg)
	if err != nil {
		return nil, err
	}
	registry := storeDirectory{st}
	dir, err := authz.NewCachedDirectory(authz.CachedDirectoryConfig{Poll: cfg.Access.DirectoryPoll},
		authz.CachedDirectoryDeps{Directory: registry, Version: st.AuthorityVersion, Log: log})
	if err != nil {
		return nil, err
	}
	if err := dir.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("cannot read the authority version: %v", err)
	}
	go func() { _ = dir.Run(bg) }()
	if n, ok := st.(store.Notifier); ok {
		go listen(bg, n, store.AuthorityChannel, dir.Notify, log)
	}
	guard, err := authz.NewGuard(authz.GuardConfig{RatePerSecond: cfg.Access.RatePerSecond, RateBurst: cfg.Access.Burst,
		Risk: authz.RiskConfig{Threshold: cfg.Access.RiskThreshold}},
		authz.GuardDeps{Peer: authz.TLSPeer, Verifier: verifier, Directory: dir, CertRevoked: certRevoked(rs),
			VehicleCarrier: vehicleCarrier(st), Events: agg, Log: log})
	if err != nil {
		return nil, err
	}
	endpoint, err := authz.NewTokenEndpoint(authz.TokenEndpointDeps{Issuer: issuer, Directory: dir, Events: agg})
	if err != nil {
		return nil, err
	}
	meta, err := authz.NewMetadataHandler(tcfg)
	if err != nil {
		return nil, err
	}
	jwks, err := authz.NewJWKSHandler(keys)
	if err != nil {
		return nil, err
	}
	return &tmsAccess{keys: keys, dir: dir, guard: guard, anonymous: server.Routes{
		"POST " + authz.TokenPath:   endpoint,
		"GET " + authz.MetadataPath: meta,
		"GET " + authz.JWKSPath:     jwks,
	}}, nil
}

// routes guards every TMS API route and adds the anonymous ones. A route
// without a policy entry refuses to start (authz.GuardRoutes).
func (t *tmsAccess) routes(api server.Routes) (server.Routes, error) {
	guarded, err := authz.GuardRoutes(t.guard, api)
	if err != nil {
		return nil, err
	}
	for p, h := range t.anonymous {
		guarded[p] = h
	}
	return guarded, nil
}

// anonymousPatterns are the TMS routes a client without a certificate may
// reach (server.Admission.Anonymous).
func (t *tmsAccess) anonymousPatterns() []string {
	return []string{"GET " + authz.MetadataPath, "GET " + authz.JWKSPath}
}

// certRevoked reports whether a certificate is revoked, and true when the
// revocation state is too old to tell (fail closed).
func certRevoked(rs *pki.RevocationSet) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool {
		revoked, err := rs.IsRevoked(pki.SerialString(c.SerialNumber))
		return err != nil || revoked
	}
}

// vehicleCarrier reads a vehicle's carrier for the guard's carrier scope.
func vehicleCarrier(st store.Store) func(ctx context.Context, id string) (string, error) {
	return func(ctx context.Context, id string) (string, error) {
		v, err := st.GetVehicle(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", authz.ErrUnknownVehicle
		}
		return v.Carrier, err
	}
}

// storeDirectory is authz's Directory over the store's client and operator
// registries. Role names this binary does not know grant nothing; a stored
// source range or hours that does not parse fails the decision closed.
type storeDirectory struct{ st store.Store }

func (d storeDirectory) Account(ctx context.Context, p principal.Principal) (authz.Account, error) {
	switch p.Kind {
	case principal.Client:
		c, err := d.st.GetClient(ctx, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return authz.Account{}, authz.ErrUnknownPrincipal
		}
		if err != nil {
			return authz.Account{}, err
		}
		sources, err := prefixes(c.AllowedSources)
		if err != nil {
			return authz.Account{}, fmt.Errorf("client %s: %v", c.ID, err)
		}
		hours, err := hoursOf(c.Hours)
		if err != nil {
			return authz.Account{}, fmt.Errorf("client %s: %v", c.ID, err)
		}
		return authz.Account{Principal: p, Active: c.Status == store.ClientActive, Carrier: c.Carrier,
			Roles: rolesOf(c.Roles), AllowedSources: sources, Hours: hours}, nil
	case principal.Operator:
		o, err := d.st.GetOperator(ctx, p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return authz.Account{}, authz.ErrUnknownPrincipal
		}
		if err != nil {
			return authz.Account{}, err
		}
		return authz.Account{Principal: p, Active: o.Status == store.OperatorActive, Roles: rolesOf(o.Roles)}, nil
	}
	return authz.Account{}, authz.ErrUnknownPrincipal
}

func rolesOf(names []string) []authz.Role {
	var roles []authz.Role
	for _, n := range names {
		if r, ok := authz.ParseRole(n); ok {
			roles = append(roles, r)
		}
	}
	return roles
}

func prefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("allowed source %q: %v", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// hoursOf reads the registry's "HH:MM-HH:MM" (UTC; "" any time).
func hoursOf(s string) (authz.Hours, error) {
	if s == "" {
		return authz.Hours{}, nil
	}
	canon, err := parseHours(s)
	if err != nil || canon == "" {
		return authz.Hours{}, fmt.Errorf("hours %q do not parse", s)
	}
	from, _ := minuteOfDay(canon[:5])
	to, _ := minuteOfDay(canon[6:])
	return authz.Hours{From: from, To: to}, nil
}

// tokenKeyStore is authz's KeyStore over the store's token_keys table.
type tokenKeyStore struct{ st store.Store }

func (k tokenKeyStore) ListTokenKeys(ctx context.Context) ([]authz.TokenKeyRecord, error) {
	rows, err := k.st.ListTokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]authz.TokenKeyRecord, len(rows))
	for i, r := range rows {
		out[i] = authz.TokenKeyRecord{KID: r.KID, Alg: r.Alg, Public: r.Public, Sealed: r.Sealed,
			CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, PublishUntil: r.PublishUntil}
	}
	return out, nil
}

func (k tokenKeyStore) AddTokenKey(ctx context.Context, r authz.TokenKeyRecord, retireOthersAt, publishUntil time.Time) error {
	return k.st.AddTokenKey(ctx, store.TokenKey{KID: r.KID, Alg: r.Alg, Public: r.Public, Sealed: r.Sealed,
		CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, PublishUntil: r.PublishUntil}, retireOthersAt, publishUntil)
}

// visibleRegistry is liveness's Registry: the vehicles the request's
// caller may see, by the guard's Caller (a client its carrier's, an
// operator every carrier's). A request without a Caller sees nothing.
type visibleRegistry struct{ st store.Store }

func (v visibleRegistry) scope(r *http.Request) (store.CarrierScope, bool) {
	c, ok := authz.CallerFrom(r.Context())
	switch {
	case !ok:
		return store.CarrierScope{}, false
	case c.Principal.Kind == principal.Operator && c.Carrier == "":
		return store.AllCarriers(), true
	}
	return store.OnlyCarrier(c.Carrier), c.Carrier != ""
}

func (v visibleRegistry) Vehicles(r *http.Request, after string, limit int) ([]liveness.RegisteredVehicle, error) {
	sc, ok := v.scope(r)
	if !ok {
		return nil, nil
	}
	rows, err := v.st.ListVehiclesPage(r.Context(), sc, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]liveness.RegisteredVehicle, len(rows))
	for i, x := range rows {
		out[i] = liveness.RegisteredVehicle{ID: x.ID, Carrier: x.Carrier, Status: string(x.Status)}
	}
	return out, nil
}

func (v visibleRegistry) Vehicle(r *http.Request, id string) (liveness.RegisteredVehicle, bool, error) {
	c, ok := authz.CallerFrom(r.Context())
	if !ok {
		return liveness.RegisteredVehicle{}, false, nil
	}
	x, err := v.st.GetVehicle(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return liveness.RegisteredVehicle{}, false, nil
	}
	if err != nil {
		return liveness.RegisteredVehicle{}, false, err
	}
	if !c.MaySee(x.Carrier) {
		return liveness.RegisteredVehicle{}, false, nil
	}
	return liveness.RegisteredVehicle{ID: x.ID, Carrier: x.Carrier, Status: string(x.Status)}, true, nil
}

// notImplemented answers a TMS route of the policy table that has no
// handler in this release: 501, after the guard allowed the caller.
func notImplemented(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusNotImplemented, codes.NotImplemented,
		"this endpoint is not implemented in this release"))
}
