package frame

import (
	"crypto/subtle"
	"encoding/base64"
	"strconv"
)

// The gateway's session kinds. The gateway signs them with its own frame
// key (which vehicles pin), sets vehicle_id to the addressed vehicle, and
// uses its own (epoch, seq) sequence. docs/PROTOCOL.md, "Vehicle session",
// says when each is sent and what the vehicle checks.
const (
	// KindChallenge: the gateway's challenge (session nonce) to a vehicle,
	// echoing the vehicle's hello nonce.
	KindChallenge Kind = "challenge"
	// KindReady: the gateway accepted the challenge response; the session
	// is established.
	KindReady Kind = "ready"
	// KindResume: the gateway authorizes the vehicle to leave safe_state.
	KindResume Kind = "resume"
	// KindNack: the gateway refused a vehicle frame, with a reason code.
	KindNack Kind = "nack"
)

// Challenge is the body of the gateway's challenge. Nonce is the gateway's
// fresh session nonce, which the vehicle signs back in a challenge_response
// and to which ready and resume are bound; PeerNonce echoes the nonce of
// the vehicle's hello on this connection, so the vehicle knows the
// challenge was made for it now and is not a replay.
type Challenge struct {
	// Nonce and PeerNonce are MinNonceSize..MaxNonceSize bytes, sent as
	// unpadded base64url.
	Nonce     []byte
	PeerNonce []byte
}

func (*Challenge) Kind() Kind         { return KindChallenge }
func (*Challenge) required() []string { return []string{"nonce", "peer_nonce"} }

func (c *Challenge) StaticValidate() error {
	if err := checkNonce(c.Nonce); err != nil {
		return err
	}
	if len(c.PeerNonce) < MinNonceSize || len(c.PeerNonce) > MaxNonceSize {
		return newError(CodeSchema, "/peer_nonce", "peer_nonce is not "+strconv.Itoa(MinNonceSize)+" to "+strconv.Itoa(MaxNonceSize)+" bytes")
	}
	return nil
}

func (c *Challenge) decodeMember(name string, r *reader) (bool, error) {
	if name == "peer_nonce" {
		var err error
		c.PeerNonce, err = r.bytes64("/peer_nonce")
		return true, err
	}
	return decodeNonce(name, r, &c.Nonce)
}

func (c *Challenge) encodeMembers(w *writer) {
	encodeNonce(w, c.Nonce)
	w.raw("peer_nonce", appendString(nil, base64.RawURLEncoding.EncodeToString(c.PeerNonce)))
}

// Ready is the body of the gateway's answer to a valid challenge_response:
// the session is established. Nonce is the session's challenge nonce.
type Ready struct {
	// Nonce is MinNonceSize..MaxNonceSize bytes, sent as unpadded base64url.
	Nonce []byte
}

func (*Ready) Kind() Kind                                       { return KindReady }
func (*Ready) required() []string                               { return []string{"nonce"} }
func (r *Ready) StaticValidate() error                          { return checkNonce(r.Nonce) }
func (r *Ready) decodeMember(n string, d *reader) (bool, error) { return decodeNonce(n, d, &r.Nonce) }
func (r *Ready) encodeMembers(w *writer)                        { encodeNonce(w, r.Nonce) }

// Resume is the body of the gateway's authorization to leave safe_state.
// Nonce is the nonce of the latest challenge the vehicle answered on this
// session: a resume is only ever valid on the connection, and after the
// challenge, it was made for.
type Resume struct {
	// Nonce is MinNonceSize..MaxNonceSize bytes, sent as unpadded base64url.
	Nonce []byte
}

func (*Resume) Kind() Kind                                       { return KindResume }
func (*Resume) required() []string                               { return []string{"nonce"} }
func (r *Resume) StaticValidate() error                          { return checkNonce(r.Nonce) }
func (r *Resume) decodeMember(n string, d *reader) (bool, error) { return decodeNonce(n, d, &r.Nonce) }
func (r *Resume) encodeMembers(w *writer)                        { encodeNonce(w, r.Nonce) }

// Nack is the body of the gateway's refusal of a vehicle frame. AckEpoch and
// AckSeq name the refused frame; Reason is the reason code the gateway's
// pipeline gave it (docs/PROTOCOL.md lists them).
type Nack struct {
	AckEpoch uint64
	AckSeq   uint64
	// Reason is 1..MaxReasonLen characters of [A-Za-z0-9._-].
	Reason string
}

func (*Nack) Kind() Kind         { return KindNack }
func (*Nack) required() []string { return []string{"ack_epoch", "ack_seq", "reason"} }

func (n *Nack) StaticValidate() error {
	a := Ack{AckEpoch: n.AckEpoch, AckSeq: n.AckSeq}
	if err := a.StaticValidate(); err != nil {
		return err
	}
	if !validID(n.Reason, MaxReasonLen) {
		return newError(CodeSchema, "/reason", "reason is not 1 to "+strconv.Itoa(MaxReasonLen)+" characters of [A-Za-z0-9._-]")
	}
	return nil
}

func (n *Nack) decodeMember(name string, r *reader) (bool, error) {
	switch name {
	case "ack_epoch", "ack_seq":
		a := Ack{AckEpoch: n.AckEpoch, AckSeq: n.AckSeq}
		ok, err := a.decodeMember(name, r)
		n.AckEpoch, n.AckSeq = a.AckEpoch, a.AckSeq
		return ok, err
	case "reason":
		var err error
		n.Reason, err = r.str("/reason")
		return true, err
	}
	return false, nil
}

func (n *Nack) encodeMembers(w *writer) {
	w.uint("ack_epoch", n.AckEpoch)
	w.uint("ack_seq", n.AckSeq)
	w.str("reason", n.Reason)
}

// EqualNonce reports whether a and b are the same nonce, in time that
// depends only on their lengths. Both must be non-empty: an absent nonce
// never matches.
func EqualNonce(a, b []byte) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}
