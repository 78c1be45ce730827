package frame

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strconv"
)

// HS256Key is a vehicle's shared HMAC-SHA256 frame key: the vehicle signs
// with it and the gateway verifies with the same secret. Lower assurance
// than Ed25519 or ES256 (see Alg.LowerAssurance). Not comparable with ==;
// Equal compares in constant time. The secret is never printed: String,
// GoString, Format and LogValue redact it, and errors never contain it.
type HS256Key struct {
	_      [0]func()
	secret []byte
}

// NewHS256Key registers a secret of MinHS256SecretSize..MaxHS256SecretSize
// raw bytes (an HS256 secret file holds exactly these bytes). Anything else
// is refused with CodeBadKey. The secret is copied.
func NewHS256Key(secret []byte) (*HS256Key, error) {
	if len(secret) < MinHS256SecretSize || len(secret) > MaxHS256SecretSize {
		return nil, newError(CodeBadKey, "", "HS256 secret is not "+strconv.Itoa(MinHS256SecretSize)+" to "+strconv.Itoa(MaxHS256SecretSize)+" bytes")
	}
	return &HS256Key{secret: bytes.Clone(secret)}, nil
}

func (*HS256Key) Alg() Alg    { return AlgHS256 }
func (*HS256Key) isVerifier() {}

func (k *HS256Key) mac(frame []byte) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write(frame)
	return m.Sum(nil)
}

// Verify checks a full 32-byte HMAC-SHA256 tag over frame, in constant time.
// Truncated tags are refused.
func (k *HS256Key) Verify(frame, sig []byte) error {
	if !k.usable() {
		return errUnusableKey()
	}
	if !hmac.Equal(k.mac(frame), sig) {
		return newError(CodeBadSignature, "", "HS256 tag does not verify")
	}
	return nil
}

func (k *HS256Key) sign(frame []byte) ([]byte, error) {
	if !k.usable() {
		return nil, newError(CodeBadKey, "", "key was not made by NewHS256Key")
	}
	return k.mac(frame), nil
}

// usable is false for a nil or zero HS256Key, whose empty secret anyone
// could use: it must never verify or sign.
func (k *HS256Key) usable() bool {
	return k != nil && len(k.secret) >= MinHS256SecretSize && len(k.secret) <= MaxHS256SecretSize
}

// Equal reports, in constant time, whether k and o hold the same secret.
func (k *HS256Key) Equal(o *HS256Key) bool {
	return k.usable() && o.usable() && subtle.ConstantTimeCompare(k.secret, o.secret) == 1
}

// The redacting methods have value receivers so that a copied HS256Key
// value is redacted too.
func (k HS256Key) String() string                { return "HS256Key(REDACTED)" }
func (k HS256Key) GoString() string              { return k.String() }
func (k HS256Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }
func (k HS256Key) LogValue() slog.Value          { return slog.StringValue(k.String()) }
