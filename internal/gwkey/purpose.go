package gwkey

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki"
)

// Purpose is what a key set's keys sign: session frames (Frame) or
// commands (Command). Each purpose has its own files, kid prefix and
// encryption role, so a key of one can never be loaded, or sign, as the
// other: a ciphertext moved from one set file to the other does not
// decrypt, and a kid names its purpose.
type Purpose struct {
	base       string // file names without extension
	role       string // in the additional data of its encrypted keys
	prefix     string // of every kid
	legacy     bool   // a single-key file of an older version may exist
	command    bool
	SetFile    string // the key set file in the CA directory (0600)
	PublicFile string // the published public keys (0644)
}

// The purposes.
var (
	// Frame keys sign the session frames (challenge, ready, ack, nack,
	// resume): gateway-frame-keys.json, kids "gw-".
	Frame = newPurpose("gateway-frame-keys", "frame-key", "gw-", true, false)
	// Command keys sign commands (frame.SignCommand):
	// gateway-command-keys.json, kids "gc-" (frame.CommandKIDPrefix).
	Command = newPurpose("gateway-command-keys", "command-key", frame.CommandKIDPrefix, false, true)
)

func newPurpose(base, role, prefix string, legacy, command bool) Purpose {
	return Purpose{base: base, role: role, prefix: prefix, legacy: legacy, command: command,
		SetFile: base + ".json", PublicFile: base + ".pem"}
}

// String names the purpose: "frame" or "command".
func (p Purpose) String() string {
	if p.command {
		return "command"
	}
	return "frame"
}

// keyID derives the kid of a key of purpose p from its PKIX DER: the
// purpose's prefix and the unpadded base64url of the first 16 bytes of its
// SHA-256.
func (p Purpose) keyID(spkiDER []byte) string {
	h := sha256.Sum256(spkiDER)
	return p.prefix + base64.RawURLEncoding.EncodeToString(h[:16])
}

// Open opens the frame key set: Frame.Open.
func Open(dir string, kek pki.KeyEncrypter) (*Signer, Opened, error) { return Frame.Open(dir, kek) }

// List lists the frame key set: Frame.List.
func List(dir string) ([]Info, error) { return Frame.List(dir) }

// Rotate rotates the frame key set: Frame.Rotate.
func Rotate(dir string, kek pki.KeyEncrypter) (Info, error) { return Frame.Rotate(dir, kek) }

// Promote promotes the frame key set's next key: Frame.Promote.
func Promote(dir string, kek pki.KeyEncrypter) (Promotion, error) { return Frame.Promote(dir, kek) }

// Drop drops a key of the frame key set: Frame.Drop.
func Drop(dir, kid string) (Info, error) { return Frame.Drop(dir, kid) }
