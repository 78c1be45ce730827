package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Config is the agent's configuration: data only. Zero fields take the
// defaults in limits.go; New validates the result.
type Config struct {
	// GatewayURL is the gateway's vehicle listener, https://host:port. The
	// session is at wss://host:port/v1/vehicle/session.
	GatewayURL string
	// ServerName, when set, is the name the gateway's TLS certificate must
	// carry, instead of the URL's host.
	ServerName string
	// GatewayCAPEM holds the PEM certificates that may issue the gateway's
	// TLS certificate (the fleet CA root). Required.
	GatewayCAPEM []byte
	// GatewayFrameKeys are the pinned keys the gateway signs session frames
	// with (challenge, ready, ack, nack, resume). At least one is required;
	// pin every key the gateway publishes (current, next, previous), so
	// frames verify throughout a key rotation. A frame is verified with the
	// pinned key its kid names and no other; a kid not pinned is refused
	// (ReasonUnknownKey).
	GatewayFrameKeys []GatewayFrameKey
	// GatewayCommandKeys are the pinned keys the gateway signs commands
	// with: a purpose of their own (kids "gc-..."), never a frame key. A
	// command is verified with the pinned command key its kid names and
	// no other; a frame key never authorizes a command, nor a command key
	// a session frame. Pin every command key the gateway publishes
	// (gateway-command-keys.pem). With none pinned, every command is
	// refused (unknown_kid).
	GatewayCommandKeys []GatewayCommandKey

	// HeartbeatInterval is the heartbeat period, MinHeartbeatInterval to
	// MaxHeartbeatInterval (default 1 s). It must match the gateway's.
	HeartbeatInterval time.Duration
	// Misses is how many intervals without an answered heartbeat start the
	// safe-state maneuver, MinMisses to MaxMisses (default 3).
	Misses int
	// HandshakeTimeout bounds dial, TLS, upgrade and session handshake.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds writing one message.
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff.
	ReconnectMin, ReconnectMax time.Duration

	// StateDir holds the persisted frame counter (counter.json). Required.
	StateDir string
	// Epoch is the frame epoch an operator authorized for this vehicle (0
	// for a new one). See Counter.
	Epoch uint64

	// CommandStateDir holds the executed-command log (commands.json);
	// empty is StateDir. Losing it can let a redelivered command run
	// twice: keep it with the counter, on storage that survives restarts.
	CommandStateDir string
	// CommandExpiryTolerance is how far past a command's expires_at the
	// truck's clock may be for the command still to run, 0 to
	// MaxCommandExpiryTolerance (default DefaultCommandExpiryTolerance, 5 s).
	CommandExpiryTolerance time.Duration
	// NoSafeStateOnCommandAttack turns off the safe-state maneuver on a
	// command that fails authentication (bad signature, unpinned key,
	// another vehicle's, rolled-back cmd_seq, conflicting content). The
	// operator event (EventCommandRefused) is raised either way. Off by
	// default: such a command means the gateway or its keys are not what
	// the truck trusts, and the seed's decision flow stops the truck.
	NoSafeStateOnCommandAttack bool

	// BufferFrames bounds the telemetry buffered while offline; the oldest
	// is dropped when full (default DefaultBufferFrames).
	BufferFrames int
	// LiveMaxAge: telemetry older than this when sent goes to the batch
	// path instead of the session (default 2 s).
	LiveMaxAge time.Duration

	// RenewAt is the fraction of the certificate's life at which it is
	// renewed (default 2/3), and RenewJitter the random spread around it as
	// a fraction of the life (default 0.05). DisableRenewal turns renewal
	// off (a certificate managed outside the agent).
	RenewAt        float64
	RenewJitter    float64
	DisableRenewal bool
}

// GatewayFrameKey is a pinned gateway frame-verification key.
type GatewayFrameKey struct {
	// KID is the key id the gateway signs under; empty derives it from
	// the key (GatewayKeyID), as the gateway does.
	KID string
	// PublicKeyPEM is the PEM "PUBLIC KEY" (Ed25519) the gateway publishes
	// (gateway-frame-keys.pem in its CA directory, which may list several:
	// ParseGatewayFrameKeys).
	PublicKeyPEM []byte
}

// GatewayCommandKey is a pinned gateway command-verification key. It is a
// type of its own so that a frame key cannot be pinned where a command key
// goes by mistake.
type GatewayCommandKey struct {
	// KID is the key id the gateway signs commands under; empty derives
	// it from the key (GatewayCommandKeyID).
	KID string
	// PublicKeyPEM is the PEM "PUBLIC KEY" (Ed25519 or P-256) the gateway
	// publishes (gateway-command-keys.pem: ParseGatewayCommandKeys).
	PublicKeyPEM []byte
}

// GatewayCommandKeyID derives a gateway command key's kid: "gc-"
// (frame.CommandKIDPrefix) and the unpadded base64url of the first 16
// bytes of the SHA-256 of its PKIX DER.
func GatewayCommandKeyID(publicKeyPEM []byte) (string, error) {
	kid, err := GatewayKeyID(publicKeyPEM)
	if err != nil {
		return "", err
	}
	return frame.CommandKIDPrefix + strings.TrimPrefix(kid, "gw-"), nil
}

// ParseGatewayCommandKeys reads the gateway's published command keys (one
// PEM "PUBLIC KEY" block per key, text between blocks ignored), each under
// the kid derived from it, as ParseGatewayFrameKeys does for frame keys.
func ParseGatewayCommandKeys(pemData []byte) ([]GatewayCommandKey, error) {
	fks, err := ParseGatewayFrameKeys(pemData)
	if err != nil {
		return nil, errors.New(strings.Replace(err.Error(), "frame key", "command key", 1))
	}
	keys := make([]GatewayCommandKey, len(fks))
	for i, k := range fks {
		keys[i].PublicKeyPEM = k.PublicKeyPEM
		keys[i].KID, _ = GatewayCommandKeyID(k.PublicKeyPEM)
	}
	return keys, nil
}

// GatewayKeyID derives a gateway key's kid from its PEM "PUBLIC KEY":
// "gw-" and the unpadded base64url of the first 16 bytes of the SHA-256 of
// its PKIX DER.
func GatewayKeyID(publicKeyPEM []byte) (string, error) {
	blk, _ := pem.Decode(publicKeyPEM)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return "", errors.New("agent: not a PEM PUBLIC KEY")
	}
	h := sha256.Sum256(blk.Bytes)
	return "gw-" + base64.RawURLEncoding.EncodeToString(h[:16]), nil
}

// ParseGatewayFrameKeys reads the gateway's published frame keys (the
// gateway's gateway-frame-keys.pem: one PEM "PUBLIC KEY" block per key,
// text between blocks ignored) as keys to pin, each under the kid derived
// from it. Every block must be an Ed25519 or P-256 public key; a file with
// none is an error.
func ParseGatewayFrameKeys(pemData []byte) ([]GatewayFrameKey, error) {
	var keys []GatewayFrameKey
	for rest := pemData; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		k := GatewayFrameKey{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: blk.Bytes})}
		if _, err := parseGatewayKey(k); err != nil || blk.Type != "PUBLIC KEY" || len(blk.Headers) != 0 {
			return nil, fmt.Errorf("agent: gateway frame key %d is not a PEM PUBLIC KEY of an Ed25519 or P-256 key", len(keys)+1)
		}
		k.KID, _ = GatewayKeyID(k.PublicKeyPEM)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("agent: no PEM PUBLIC KEY among the gateway frame keys")
	}
	return keys, nil
}

// Identity is the truck's credentials. The keys are crypto.Signers so a TPM
// or secure element can hold them; the agent never asks for private key
// bytes.
type Identity struct {
	// Chain is the truck's certificate chain, leaf first. The leaf's
	// urn:fifthwheel:vehicle:<id> URI name is the truck's identity.
	Chain []*x509.Certificate
	// TLSKey is the leaf certificate's key.
	TLSKey crypto.Signer
	// FrameKey signs frames: Ed25519 or ECDSA P-256 (ES256), a key
	// separate from TLSKey, registered at the gateway under FrameKID.
	FrameKey crypto.Signer
	FrameKID string
}

// SafeStater is what the AV stack implements for the safe-state machine.
// The agent calls it from one goroutine, in order; the methods must return
// promptly (start the action, do not wait for it).
type SafeStater interface {
	// BeginStop starts the minimal-risk maneuver: slow down (−2.5 m/s²,
	// jerk-limited), pull over, stop. why says what the watchdog saw.
	BeginStop(why Reason)
	// Stopped reports whether the truck is at a standstill in a safe
	// place. The agent polls it while stopping.
	Stopped() bool
	// Resume reports that the gateway authorized leaving safe_state.
	Resume()
}

// Renewer renews the truck's certificate: it sends csrDER (PKCS #10, DER)
// and returns the new chain, leaf first. The default posts to the gateway's
// POST /v1/pki/renew over the current mTLS identity.
type Renewer interface {
	Renew(ctx context.Context, csrDER []byte) ([]*x509.Certificate, error)
}

// Deps are the agent's live collaborators.
type Deps struct {
	// SafeStater is the AV stack's safe-state interface. Required.
	SafeStater SafeStater
	// OnEvent, if set, receives every Event, in order, from one goroutine.
	// It must not block for long.
	OnEvent func(Event)
	// Renewer, if set, replaces the HTTP renewal.
	Renewer Renewer
	// NewTLSKey, if set, makes the key for a renewed certificate (in the
	// TPM, say); nil renews for the current key.
	NewTLSKey func() (crypto.Signer, error)
	// OnRenewed, if set, is told of a renewed chain and its key, to persist
	// them. The agent uses them for its next connections either way.
	OnRenewed func(chain []*x509.Certificate, key crypto.Signer)
	// DialContext, if set, dials the gateway's TCP connections (proxies,
	// simulation and fault injection).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for frame timestamps and the watchdog; nil is
	// time.Now.
	Now func() time.Time
	// Log receives operational messages; nil is slog.Default().
	Log *slog.Logger
	// CommandHandler, if set, decides the gateway's commands. Without
	// one every command is answered rejected, command_unsupported.
	CommandHandler CommandHandler
	// OnTelemetryAcked, if set, is told of every telemetry frame the
	// gateway acknowledged: stored durably, or answered as an exact
	// re-send of a frame it had stored (docs/PROTOCOL.md). An AV stack
	// keeping its own recorder may release what was acknowledged. It is
	// called with no agent lock held, from the goroutine that read the
	// answer, and must not block for long.
	OnTelemetryAcked func(TelemetryAck)
}

// TelemetryAck is a telemetry frame the gateway acknowledged.
type TelemetryAck struct {
	Epoch, Seq uint64
	// Envelope is the signed envelope exactly as sent; the agent keeps no
	// reference to it.
	Envelope []byte
}

// withDefaults fills zero fields: the one place defaults are applied.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ReconnectMin, DefaultReconnectMin)
	def(&c.ReconnectMax, DefaultReconnectMax)
	def(&c.LiveMaxAge, DefaultLiveMaxAge)
	def(&c.CommandExpiryTolerance, DefaultCommandExpiryTolerance)
	if c.Misses == 0 {
		c.Misses = DefaultMisses
	}
	if c.CommandStateDir == "" {
		c.CommandStateDir = c.StateDir
	}
	if c.BufferFrames == 0 {
		c.BufferFrames = DefaultBufferFrames
	}
	if c.RenewAt == 0 {
		c.RenewAt = DefaultRenewAt
	}
	if c.RenewJitter == 0 {
		c.RenewJitter = DefaultRenewJitter
	}
	return c
}

// validate checks a Config whose defaults are filled and reports every
// problem at once.
func (c Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	u, err := url.Parse(c.GatewayURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		bad("gateway URL: must be https://host[:port]")
	}
	if len(c.GatewayCAPEM) == 0 || !x509.NewCertPool().AppendCertsFromPEM(c.GatewayCAPEM) {
		bad("gateway CA: no PEM certificate")
	}
	if len(c.GatewayFrameKeys) == 0 {
		bad("gateway frame keys: at least one pinned key is required")
	}
	kids := map[string]bool{}
	for i, k := range c.GatewayFrameKeys {
		if _, err := parseGatewayKey(k); err != nil {
			bad("gateway frame key %d: %v", i, err)
			continue
		}
		kid := k.KID
		if kid == "" {
			kid, _ = GatewayKeyID(k.PublicKeyPEM)
		}
		if kids[kid] {
			bad("gateway frame key %d: kid %q is pinned twice", i, kid)
		}
		kids[kid] = true
	}
	for i, k := range c.GatewayCommandKeys {
		v, err := parseGatewayKey(GatewayFrameKey(k))
		if err != nil {
			bad("gateway command key %d: %v", i, err)
			continue
		}
		kid := k.KID
		if kid == "" {
			kid, _ = GatewayCommandKeyID(k.PublicKeyPEM)
		}
		if kids[kid] {
			bad("gateway command key %d: kid %q is pinned twice (or as a frame key)", i, kid)
		}
		kids[kid] = true
		for _, fk := range c.GatewayFrameKeys {
			if fv, err := parseGatewayKey(fk); err == nil && sameVerifier(fv, v) {
				bad("gateway command key %d: the same key is pinned as a frame key (the purposes must be separate keys)", i)
			}
		}
	}
	if c.CommandExpiryTolerance < 0 || c.CommandExpiryTolerance > MaxCommandExpiryTolerance {
		bad("command expiry tolerance: must be between 0 and %v", MaxCommandExpiryTolerance)
	}
	if c.HeartbeatInterval < MinHeartbeatInterval || c.HeartbeatInterval > MaxHeartbeatInterval {
		bad("heartbeat interval: must be between %v and %v", MinHeartbeatInterval, MaxHeartbeatInterval)
	}
	if c.Misses < MinMisses || c.Misses > MaxMisses {
		bad("misses: must be between %d and %d", MinMisses, MaxMisses)
	}
	if c.HandshakeTimeout < 0 || c.HandshakeTimeout > MaxHandshakeTimeout {
		bad("handshake timeout: must be between 0 and %v", MaxHandshakeTimeout)
	}
	if c.WriteTimeout < 0 || c.WriteTimeout > time.Minute {
		bad("write timeout: must be between 0 and 1m")
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin || c.ReconnectMax > 10*time.Minute {
		bad("reconnect backoff: need 0 < min <= max <= 10m")
	}
	if c.StateDir == "" {
		bad("state dir: required (the frame counter persists there)")
	}
	if c.Epoch > maxSafeInteger {
		bad("epoch: must be at most 2^53-1")
	}
	if c.BufferFrames < 1 || c.BufferFrames > MaxBufferFrames {
		bad("buffer frames: must be between 1 and %d", MaxBufferFrames)
	}
	if c.LiveMaxAge <= 0 || c.LiveMaxAge > MaxLiveMaxAge {
		bad("live max age: must be between 0 and %v (the gateway's live skew is %v by default)", MaxLiveMaxAge, DefaultClockSkew)
	}
	if !(c.RenewAt >= 0.5 && c.RenewAt <= 0.9) {
		bad("renew at: must be between 0.5 and 0.9 of the certificate's life")
	}
	if !(c.RenewJitter >= 0 && c.RenewJitter <= 0.2) || c.RenewAt-c.RenewJitter < 0.4 || c.RenewAt+c.RenewJitter > 0.95 {
		bad("renew jitter: must be between 0 and 0.2 and keep renewal between 0.4 and 0.95 of the life")
	}
	if len(errs) > 0 {
		return errors.New("agent: config: " + strings.Join(errs, "; "))
	}
	return nil
}

// sameVerifier reports whether two verifiers hold the same public key.
func sameVerifier(a, b frame.Verifier) bool {
	switch x := a.(type) {
	case *frame.Ed25519PublicKey:
		y, ok := b.(*frame.Ed25519PublicKey)
		return ok && x.Equal(y)
	case *frame.ES256PublicKey:
		y, ok := b.(*frame.ES256PublicKey)
		return ok && x.Equal(y)
	}
	return false
}

func parseGatewayKey(k GatewayFrameKey) (frame.Verifier, error) {
	v, err := frame.ParsePublicKeyPEM(frame.AlgEd25519, k.PublicKeyPEM)
	if err != nil {
		if v2, err2 := frame.ParsePublicKeyPEM(frame.AlgES256, k.PublicKeyPEM); err2 == nil {
			return v2, nil
		}
		return nil, err
	}
	return v, nil
}

// vehiclePrefix is the URI name prefix of a vehicle certificate.
const vehiclePrefix = "urn:fifthwheel:vehicle:"

// VehicleIDOf returns the vehicle id in a vehicle certificate's URI name,
// urn:fifthwheel:vehicle:<id>. The gateway takes the identity from the same
// name.
func VehicleIDOf(leaf *x509.Certificate) (string, error) {
	if leaf == nil || len(leaf.URIs) != 1 {
		return "", errors.New("agent: the certificate must carry exactly one urn:fifthwheel:vehicle URI name")
	}
	id, ok := strings.CutPrefix(leaf.URIs[0].String(), vehiclePrefix)
	if !ok || !validID(id) {
		return "", errors.New("agent: the certificate's URI name is not urn:fifthwheel:vehicle:<id>")
	}
	return id, nil
}

// validID reports whether id is a valid principal id: 1..64 characters of
// [A-Za-z0-9._-], not starting with '.' or '-'.
func validID(id string) bool {
	if id == "" || len(id) > frame.MaxVehicleIDLen || id[0] == '.' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// frameSigner wraps the identity's frame key.
func frameSigner(k crypto.Signer) (frame.Signer, error) {
	if k == nil {
		return nil, errors.New("agent: identity has no frame key")
	}
	switch k.Public().(type) {
	case ed25519.PublicKey:
		return frame.NewEd25519Signer(k)
	case *ecdsa.PublicKey:
		return frame.NewES256Signer(k)
	}
	return nil, errors.New("agent: the frame key must be Ed25519 or ECDSA P-256")
}

// checkIdentity validates id and returns the vehicle id.
func checkIdentity(id Identity) (string, error) {
	if len(id.Chain) == 0 {
		return "", errors.New("agent: identity has no certificate")
	}
	vid, err := VehicleIDOf(id.Chain[0])
	if err != nil {
		return "", err
	}
	if id.TLSKey == nil {
		return "", errors.New("agent: identity has no TLS key")
	}
	if !publicKeysEqual(id.Chain[0].PublicKey, id.TLSKey.Public()) {
		return "", errors.New("agent: the TLS key does not match the certificate")
	}
	if id.FrameKey != nil && publicKeysEqual(id.FrameKey.Public(), id.TLSKey.Public()) {
		return "", errors.New("agent: the frame key must not be the TLS key")
	}
	return vid, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// jitterFraction returns a fraction in [-j, +j] from r in [0, 1).
func jitterFraction(j, r float64) float64 { return j * (2*r - 1) }

// renewTime is when a certificate valid from nb to na is renewed: at
// renewAt of its life, shifted by jitter (a fraction of the life).
func renewTime(nb, na time.Time, renewAt, jitter float64) time.Time {
	life := na.Sub(nb)
	f := math.Max(0, math.Min(1, renewAt+jitter))
	return nb.Add(time.Duration(f * float64(life)))
}
