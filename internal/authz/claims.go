package authz

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Role is a role a TMS client or an operator holds. A new principal holds
// none: it can obtain no token until an operator sets its roles.
type Role string

// The roles.
const (
	Dispatcher    Role = "dispatcher"     // tenders, dispatches, route updates for its carrier
	Planner       Role = "planner"        // reads its carrier's fleet and telemetry, tenders loads
	Approver      Role = "approver"       // approves commands above the risk threshold
	SecurityAdmin Role = "security-admin" // containment: revocation, suspension, holds
	Auditor       Role = "auditor"        // reads the audit log, proofs and telemetry
	FleetAdmin    Role = "fleet-admin"    // reads and manages the fleet
)

// Roles lists every role in documentation order.
var Roles = []Role{Dispatcher, Planner, Approver, SecurityAdmin, Auditor, FleetAdmin}

// Scope is an OAuth2 scope (RFC 6749 §3.3) of an access token.
type Scope string

// The scopes. Control scopes act on trucks or on security state; a token
// carrying any of them lives ControlTokenLifetime, a read-only token
// ReadTokenLifetime.
const (
	FleetRead       Scope = "fleet:read"       // vehicle list, vehicle and fleet state
	TelemetryRead   Scope = "telemetry:read"   // telemetry and raw frames
	CommandsRead    Scope = "commands:read"    // commands and their state
	AuditRead       Scope = "audit:read"       // the audit log, checkpoints and proofs
	TendersWrite    Scope = "tenders:write"    // load tenders (control)
	DispatchWrite   Scope = "dispatch:write"   // dispatches and route updates (control)
	CommandsApprove Scope = "commands:approve" // approvals (control)
	CommandsCancel  Scope = "commands:cancel"  // cancellation (control)
	SecurityWrite   Scope = "security:write"   // containment actions (control)
	IncidentsRead   Scope = "incidents:read"   // incidents, their clocks and runbooks (operators only)
	IncidentsWrite  Scope = "incidents:write"  // acknowledge, contain, resolve, notes, notifications (control; operators only)
)

// Scopes lists every scope in documentation order.
var Scopes = []Scope{FleetRead, TelemetryRead, CommandsRead, AuditRead, TendersWrite, DispatchWrite,
	CommandsApprove, CommandsCancel, SecurityWrite, IncidentsRead, IncidentsWrite}

// Control reports whether s is a control scope.
func (s Scope) Control() bool {
	switch s {
	case TendersWrite, DispatchWrite, CommandsApprove, CommandsCancel, SecurityWrite, IncidentsWrite:
		return true
	}
	return false
}

// RoleScopes is the one table of what each role grants. A token's scopes
// are at most the union of its principal's roles' scopes at issuance, and
// every request is checked against the roles the principal holds now.
var RoleScopes = map[Role][]Scope{
	Dispatcher:    {FleetRead, TelemetryRead, CommandsRead, TendersWrite, DispatchWrite, CommandsCancel},
	Planner:       {FleetRead, TelemetryRead, CommandsRead, TendersWrite},
	Approver:      {FleetRead, CommandsRead, CommandsApprove},
	SecurityAdmin: {FleetRead, TelemetryRead, AuditRead, SecurityWrite, IncidentsRead, IncidentsWrite},
	Auditor:       {FleetRead, TelemetryRead, CommandsRead, AuditRead, IncidentsRead},
	FleetAdmin:    {FleetRead, TelemetryRead, CommandsRead},
}

// Grants reports whether any of roles grants s.
func Grants(roles []Role, s Scope) bool {
	for _, r := range roles {
		if slices.Contains(RoleScopes[r], s) {
			return true
		}
	}
	return false
}

// ParseRole returns the Role named s, or false.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles, r)
}

// ParseScope returns the Scope named s, or false.
func ParseScope(s string) (Scope, bool) {
	sc := Scope(s)
	return sc, slices.Contains(Scopes, sc)
}

// Claims are the claims of an access token the gateway issued and verified.
type Claims struct {
	Issuer    string    // iss: the gateway's issuer URL
	Subject   string    // sub: the principal's URI, urn:fifthwheel:client:ID or urn:fifthwheel:operator:ID
	Audience  string    // aud: the TMS API's audience
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expiry    time.Time // exp
	ID        string    // jti
	Scopes    []Scope   // scope, space-separated on the wire
	Roles     []Role    // roles at issuance (informative: requests are checked against the live roles)
	Carrier   string    // carrier at issuance ("" for an operator: every carrier)
	// Thumbprint is cnf.x5t#S256 (RFC 8705 §3.1): unpadded base64url of
	// the SHA-256 of the DER of the certificate the token is bound to.
	Thumbprint string
}

// Account is a principal as the registry knows it now.
type Account struct {
	Principal principal.Principal
	// Active is false for a suspended (or otherwise inactive) principal.
	Active bool
	// Carrier is a client's carrier; "" for an operator, who acts on every
	// carrier. A client whose carrier is "" sees no vehicle.
	Carrier string
	Roles   []Role
	// AllowedSources are the source ranges a client may call from; empty:
	// any.
	AllowedSources []netip.Prefix
	// Hours is the client's usual hours, for the risk score; zero: any.
	Hours Hours
}

// Hours is a daily window in UTC, [From, To) as minutes after midnight;
// From > To wraps midnight. The zero value is "any time".
type Hours struct{ From, To int }

// IsZero reports whether h is "any time".
func (h Hours) IsZero() bool { return h.From == 0 && h.To == 0 }

// Contains reports whether t falls in the window.
func (h Hours) Contains(t time.Time) bool {
	if h.IsZero() {
		return true
	}
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	if h.From <= h.To {
		return m >= h.From && m < h.To
	}
	return m >= h.From || m < h.To
}

// ErrUnknownPrincipal reports a principal the registry does not hold.
var ErrUnknownPrincipal = errors.New("authz: unknown principal")

// Directory reads principals' accounts from the registry. Account returns
// ErrUnknownPrincipal for one it does not hold; any other error fails the
// decision closed.
type Directory interface {
	Account(ctx context.Context, p principal.Principal) (Account, error)
}

// Error is a refusal with its stable reason code (package codes). Detail
// is for the event and the log; the caller of a TMS route gets a generic
// answer for token failures.
type Error struct {
	Code   string
	Detail string
}

func (e *Error) Error() string { return "authz: " + e.Code + ": " + e.Detail }

// CodeOf returns the reason code of err, or "" if it carries none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
