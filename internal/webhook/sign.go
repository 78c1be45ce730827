package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The request headers (see the package doc).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"

	// sigPrefix marks the scheme of a signature value.
	sigPrefix = "v1="
)

// Errors of Verify, for receivers to match with errors.Is.
var (
	ErrMissingHeader = errors.New("webhook: missing Webhook-Id, Webhook-Timestamp or Webhook-Signature")
	ErrStale         = errors.New("webhook: timestamp outside the tolerance")
	ErrBadSignature  = errors.New("webhook: no signature matches")
)

// Sign returns the Webhook-Signature value for a message: "v1=" and the
// lowercase hex HMAC-SHA256 under secret of id "." timestamp "." body.
func Sign(secret []byte, id, timestamp string, body []byte) string {
	return sigPrefix + hex.EncodeToString(mac(secret, id, timestamp, body))
}

func mac(secret []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received webhook request's headers h and exact body
// against secret, at the receiver's time now, with ReplayTolerance: the
// recipe of the package doc, steps 1 and 2. It returns the message id,
// which the receiver must still deduplicate (step 3).
func Verify(secret []byte, h http.Header, body []byte, now time.Time) (id string, err error) {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return "", ErrMissingHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > ReplayTolerance || d < -ReplayTolerance {
		return "", ErrStale
	}
	want := mac(secret, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		hexSig, ok := strings.CutPrefix(s, sigPrefix)
		if !ok {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			return id, nil
		}
	}
	return "", ErrBadSignature
}
