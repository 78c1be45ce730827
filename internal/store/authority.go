package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// AuthorityStore holds who may do what on the TMS side (issue 19): TMS
// clients' carriers, roles, source ranges and hours, operators as
// principals with roles, the vehicles' carriers, and the keys that sign
// access tokens. The store keeps the rows; it does not know what a role
// grants (package authz does), and it never sees a token key's private half
// in the clear.
//
// Every change of a client's or operator's existence, status, roles,
// carrier, sources or hours, and of a vehicle's carrier, bumps the
// authority version in its own transaction; on PostgreSQL the same
// transaction notifies AuthorityChannel. A gateway that caches accounts
// polls AuthorityVersion (and listens on PostgreSQL) and drops its cache
// when it moves, so a suspension or a removed role takes effect on every
// replica at once. A write that fails changes nothing and bumps nothing.
type AuthorityStore interface {
	// SetClientStatus changes a client's status; ErrNotFound if absent.
	SetClientStatus(ctx context.Context, id string, status ClientStatus) error
	// SetClientRoles replaces a client's roles (nil or empty: none);
	// ErrNotFound if absent.
	SetClientRoles(ctx context.Context, id string, roles []string) error
	// SetClientCarrier moves a client to carrier; ErrNotFound if absent.
	SetClientCarrier(ctx context.Context, id, carrier string) error
	// SetClientAccess replaces a client's allowed source prefixes (empty:
	// any) and hours ("": any); ErrNotFound if absent.
	SetClientAccess(ctx context.Context, id string, sources []string, hours string) error

	// CreateOperator registers an operator; ErrConflict if the id exists.
	CreateOperator(ctx context.Context, o Operator) error
	// GetOperator returns one operator or ErrNotFound.
	GetOperator(ctx context.Context, id string) (Operator, error)
	// ListOperators returns every operator ordered by id.
	ListOperators(ctx context.Context) ([]Operator, error)
	// SetOperatorStatus changes an operator's status; ErrNotFound if absent.
	SetOperatorStatus(ctx context.Context, id string, status OperatorStatus) error
	// SetOperatorRoles replaces an operator's roles; ErrNotFound if absent.
	SetOperatorRoles(ctx context.Context, id string, roles []string) error

	// AuthorityVersion returns the authority change counter.
	AuthorityVersion(ctx context.Context) (int64, error)

	// SetVehicleCarrier moves a vehicle to carrier; ErrNotFound if absent.
	// It appends a registry change and bumps the authority version.
	SetVehicleCarrier(ctx context.Context, id, carrier string) error
	// ListVehiclesPage returns the vehicles scope admits with id > after,
	// ordered by id, at most limit (0: DefaultPage; bounded by MaxPage).
	ListVehiclesPage(ctx context.Context, scope CarrierScope, after string, limit int) ([]Vehicle, error)

	// AddTokenKey stores k as the active token-signing key, in one
	// transaction with retiring every other active key: their RetiredAt
	// becomes retireOthersAt and their PublishUntil publishUntil. With
	// retireOthersAt zero it is a first key: ErrConflict if an active key
	// exists, so of replicas racing to create the first key exactly one
	// wins (the others list the keys and use the winner's). ErrConflict if
	// k.KID exists; ErrClearSecret if k.Sealed is empty. k.RetiredAt and
	// k.PublishUntil are ignored (a new key is active).
	AddTokenKey(ctx context.Context, k TokenKey, retireOthersAt, publishUntil time.Time) error
	// ListTokenKeys returns every key, newest (CreatedAt) first.
	ListTokenKeys(ctx context.Context) ([]TokenKey, error)
	// PruneTokenKeys deletes the retired keys whose PublishUntil is at or
	// before now (a key retired with a zero publishUntil: whose RetiredAt
	// is) and returns how many it deleted. The active key is never deleted.
	PruneTokenKeys(ctx context.Context, now time.Time) (int, error)
}

// AuthorityChannel is the LISTEN/NOTIFY channel every authority change
// notifies on PostgreSQL, in its transaction (the payload is the new
// AuthorityVersion). Listen on it through Notifier; SQLite readers poll
// AuthorityVersion.
const AuthorityChannel = "fifthwheel_authority"

// OperatorStatus is an operator's registry status. Only an active operator
// is admitted; any other value refuses (fail closed).
type OperatorStatus string

// The operator statuses.
const (
	OperatorActive    OperatorStatus = "active"
	OperatorSuspended OperatorStatus = "suspended"
)

// Operator is an operator registry entry: a principal with roles (approver,
// security-admin, auditor, fleet-admin live on operators).
type Operator struct {
	ID        string
	Name      string
	Status    OperatorStatus
	Roles     []string
	CreatedAt time.Time
}

// CarrierScope selects vehicles by carrier. Its zero value selects no
// vehicle, so a scope left unset fails closed; OnlyCarrier("") selects none
// either (a client without a carrier sees no vehicle).
type CarrierScope struct {
	all     bool
	carrier string
}

// AllCarriers selects every vehicle (operators' view).
func AllCarriers() CarrierScope { return CarrierScope{all: true} }

// OnlyCarrier selects the vehicles of carrier, matched exactly.
func OnlyCarrier(carrier string) CarrierScope { return CarrierScope{carrier: carrier} }

// none reports whether the scope selects nothing.
func (s CarrierScope) none() bool { return !s.all && s.carrier == "" }

// TokenKey is an access-token signing key. Public is the PKIX DER public
// key; Sealed the private key as the caller sealed it (the store never
// sees it in the clear). RetiredAt zero: the active key; a retired key
// stays published (JWKS) until PublishUntil.
type TokenKey struct {
	KID, Alg     string
	Public       []byte
	Sealed       []byte
	CreatedAt    time.Time
	RetiredAt    time.Time
	PublishUntil time.Time
}

// checkTokenKey refuses a key the store must not write.
func checkTokenKey(k TokenKey) error {
	if len(k.Sealed) == 0 {
		return ErrClearSecret
	}
	if k.KID == "" || k.Alg == "" || len(k.Public) == 0 {
		return errors.New("store: a token key needs a kid, an alg and a public key")
	}
	return nil
}

// encodeList is a string set as stored: a JSON array, "[]" for none.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // strings always marshal
	return string(b)
}

func decodeList(b []byte) ([]string, error) {
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}
