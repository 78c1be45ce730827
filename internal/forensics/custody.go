package forensics

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// CustodyHeader is the first line of a custody entry.
const CustodyHeader = "fifthwheel-custody/v1"

// The custody actions.
var custodyActions = map[string]bool{"transferred": true, "received": true, "analysed": true}

// CustodyEntry is what a custodian records.
type CustodyEntry struct {
	By     string // who (a name or principal URI)
	Action string // transferred, received or analysed
	Note   string
	At     time.Time
}

// GenerateCustodianKey makes an Ed25519 signed-note key pair for a
// custodian named name: skey signs entries, vkey is given to Verify.
func GenerateCustodianKey(name string) (skey, vkey string, err error) {
	if err := tokenErr(name, "._-"); err != nil {
		return "", "", fmt.Errorf("forensics: custodian name: %v", err)
	}
	return note.GenerateKey(rand.Reader, name)
}

// AddCustody returns bundle with e appended to its custody log, signed by
// signer when it is not nil. Every earlier file is kept byte for byte and
// in its place; the new entry names the manifest's hash and the last
// entry's (the manifest's for the first).
func AddCustody(bundle []byte, e CustodyEntry, signer note.Signer) ([]byte, error) {
	if err := tokenErr(e.By, refExtra); err != nil {
		return nil, fmt.Errorf("forensics: custodian: %v", err)
	}
	if !custodyActions[e.Action] {
		return nil, fmt.Errorf("forensics: custody action %q: transferred, received or analysed", e.Action)
	}
	if len(e.Note) > MaxNoteLen {
		return nil, fmt.Errorf("forensics: custody note over %d bytes", MaxNoteLen)
	}
	files, err := readBundle(bundle)
	if err != nil {
		return nil, err
	}
	var manifest []byte
	var entries []file
	for _, f := range files {
		if f.path == manifestPath {
			manifest = f.data
		}
		if strings.HasPrefix(f.path, custodyDir) {
			entries = append(entries, f)
		}
	}
	if manifest == nil {
		return nil, fmt.Errorf("%w: no manifest", ErrBundle)
	}
	if len(entries) >= MaxCustody {
		return nil, fmt.Errorf("%w: %d custody entries already", ErrTooLarge, len(entries))
	}
	prev := manifest
	if len(entries) > 0 {
		prev = entries[len(entries)-1].data
	}
	n := len(entries) + 1
	text := custodyText(n, sha256.Sum256(manifest), sha256.Sum256(prev), e)
	data := []byte(text)
	if signer != nil {
		if data, err = note.Sign(&note.Note{Text: text}, signer); err != nil {
			return nil, err
		}
	}
	return writeBundle(append(files, file{path: custodyPath(n), data: data}))
}

func custodyPath(n int) string { return fmt.Sprintf("%s%06d.note", custodyDir, n) }

func custodyText(n int, manifest, prev [sha256.Size]byte, e CustodyEntry) string {
	return fmt.Sprintf("%s\nseq %d\nmanifest %x\nprev %x\nat %s\nby %s\naction %s\nnote %s\n",
		CustodyHeader, n, manifest, prev, e.At.UTC().Format(timeLayout), e.By, e.Action, strconv.QuoteToASCII(e.Note))
}

// parseCustody checks an entry's text and returns its fields.
func parseCustody(text string) (n int, manifest, prev string, e CustodyEntry, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	keys := []string{"", "seq", "manifest", "prev", "at", "by", "action", "note"}
	if len(lines) != len(keys) || lines[0] != CustodyHeader || !strings.HasSuffix(text, "\n") {
		return 0, "", "", e, errors.New("not a custody entry")
	}
	v := make([]string, len(keys))
	for i := 1; i < len(keys); i++ {
		k, val, ok := strings.Cut(lines[i], " ")
		if !ok || k != keys[i] {
			return 0, "", "", e, fmt.Errorf("line %d: want %q", i+1, keys[i])
		}
		v[i] = val
	}
	if n, err = strconv.Atoi(v[1]); err != nil || strconv.Itoa(n) != v[1] {
		return 0, "", "", e, errors.New("bad seq")
	}
	if e.At, err = time.Parse(timeLayout, v[4]); err != nil {
		return 0, "", "", e, errors.New("bad time")
	}
	if e.Note, err = strconv.Unquote(v[7]); err != nil || strconv.QuoteToASCII(e.Note) != v[7] {
		return 0, "", "", e, errors.New("bad note")
	}
	e.By, e.Action = v[5], v[6]
	if tokenErr(e.By, refExtra) != nil || !custodyActions[e.Action] {
		return 0, "", "", e, errors.New("bad custodian or action")
	}
	return n, v[2], v[3], e, nil
}

// checkCustody checks the custody log: consecutive entries in order, each
// naming the manifest's hash and the previous entry's, each signature
// checked when its signer's key is given.
func checkCustody(r *Result, entries []file, manifest []byte, custodians []note.Verifier) {
	mh := sha256.Sum256(manifest)
	prev := mh
	for i, f := range entries {
		err := checkEntry(i+1, f, hex.EncodeToString(mh[:]), hex.EncodeToString(prev[:]), custodians)
		var u *unchecked
		if errors.As(err, &u) {
			r.Checks = append(r.Checks, Check{Name: CheckCustody, File: f.path, OK: true, Detail: u.msg})
		} else {
			r.add(CheckCustody, f.path, err)
		}
		prev = sha256.Sum256(f.data)
	}
}

func checkEntry(want int, f file, mh, prev string, custodians []note.Verifier) error {
	if f.path != custodyPath(want) {
		return fmt.Errorf("out of order: entry %d expected at %s", want, custodyPath(want))
	}
	text := string(f.data)
	signer, unverified := "", false
	if i := bytes.Index(f.data, []byte("\n\n")); i >= 0 {
		text = string(f.data[:i+1])
		if err := strictSigs(f.data[i+2:]); err != nil {
			return err
		}
		n, err := note.Open(f.data, note.VerifierList(custodians...))
		var unknown *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unknown) && len(custodians) == 0 && len(unknown.Note.UnverifiedSigs) == 1:
			// No custodian key given: the chain is checked, the
			// signature reported as not checked.
			signer, unverified = unknown.Note.UnverifiedSigs[0].Name, true
		case err != nil:
			return fmt.Errorf("signature: %v", err)
		case len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0:
			return errors.New("signature: not exactly one signer")
		default:
			signer = n.Sigs[0].Name
		}
	}
	n, gotM, gotPrev, e, err := parseCustody(text)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("seq %d, expected %d (entries reordered or dropped)", n, want)
	}
	if gotM != mh {
		return errors.New("names another manifest")
	}
	if gotPrev != prev {
		return errors.New("does not chain to the previous entry (entries reordered, dropped or edited)")
	}
	if signer != "" && signer != e.By {
		return fmt.Errorf("signed by %s, recorded as by %s", signer, e.By)
	}
	if unverified {
		return &unchecked{"signed by " + signer + ", no custodian key given: signature not checked"}
	}
	return nil
}

// unchecked is a custody entry whose chain holds but whose signature could
// not be checked (no key given). It is reported, and does not fail Verify.
type unchecked struct{ msg string }

func (u *unchecked) Error() string { return u.msg }

// strictSigs refuses a signature block that is not exactly "— name
// base64\n" lines in strict base64: note.Open ignores base64's unused bits,
// which would let a flipped byte leave an entry that still verifies.
func strictSigs(block []byte) error {
	s := string(block)
	if !strings.HasSuffix(s, "\n") {
		return errors.New("malformed signature block")
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		f := strings.Split(line, " ")
		if len(f) != 3 || f[0] != "\u2014" {
			return errors.New("malformed signature line")
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(f[2]); err != nil {
			return errors.New("signature not in strict base64")
		}
	}
	return nil
}
