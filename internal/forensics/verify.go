package forensics

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// The checks Verify runs, as they are named in its result.
const (
	CheckBundle     = "bundle"          // the archive reads
	CheckManifest   = "manifest"        // signed by the log key, well formed
	CheckFileHash   = "file-hash"       // a file's SHA-256 and size are the manifest's
	CheckFileSet    = "file-set"        // no file missing, none extra
	CheckCheckpoint = "checkpoint"      // signed by the log key, the manifest's size
	CheckInclusion  = "inclusion-proof" // an item's bytes are in the log under the checkpoint
	CheckFrameSig   = "frame-signature" // a frame verifies with the bundled vehicle key
	CheckCertChain  = "cert-chain"      // a vehicle certificate chains to the bundled fleet root
	CheckCustody    = "custody"         // the custody chain, and its signatures when keys are given
	CheckCoverage   = "coverage"        // every evidence file is either proven or listed as not covered, once
)

// Check is one check's outcome.
type Check struct {
	Name   string
	File   string // the file it is about; "" for the bundle as a whole
	OK     bool
	Detail string
}

func (c Check) String() string {
	v := "ok  "
	if !c.OK {
		v = "FAIL"
	}
	s := v + " " + c.Name
	if c.File != "" {
		s += " " + c.File
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Result is Verify's outcome: every check run.
type Result struct {
	Checks []Check
	// Manifest facts, when the manifest verified.
	Case, Vehicle, ExportedBy string
	Uncovered                 int
	// Purged is how many frames the manifest lists as purged by retention:
	// proven by their kept hash, with no envelope to check a signature on.
	Purged int
}

// OK reports whether every check passed (and there was at least one).
func (r *Result) OK() bool {
	if len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Failed returns the failed checks.
func (r *Result) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Lines summarizes: one line per check name that passed everywhere (with a
// count), one line per failure naming its file.
func (r *Result) Lines() []string {
	counts := map[string]int{}
	var order []string
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			continue
		}
		if counts[c.Name] == 0 {
			order = append(order, c.Name)
		}
		counts[c.Name]++
	}
	for _, n := range order {
		out = append(out, fmt.Sprintf("ok   %s (%d)", n, counts[n]))
	}
	for _, c := range r.Failed() {
		out = append(out, c.String())
	}
	return out
}

func (r *Result) add(name, path string, err error) {
	c := Check{Name: name, File: path, OK: err == nil}
	if err != nil {
		c.Detail = err.Error()
	}
	r.Checks = append(r.Checks, c)
}

// Verify checks a bundle offline, trusting only logKey (and custodians,
// the custodians' note verifier keys, for signed custody entries).
func Verify(bundle []byte, logKey note.Verifier, custodians []note.Verifier) *Result {
	r := &Result{}
	files, err := readBundle(bundle)
	if err != nil {
		r.add(CheckBundle, "", err)
		return r
	}
	r.add(CheckBundle, "", nil)
	verifyFiles(r, files, logKey, custodians)
	return r
}

// verifyFiles runs every check after the archive is read.
func verifyFiles(r *Result, files []file, logKey note.Verifier, custodians []note.Verifier) {
	logKey = &onceVerifier{Verifier: logKey, ok: map[[sha256.Size]byte]bool{}}
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.path] = f.data
	}
	signed, ok := byPath[manifestPath]
	if !ok {
		r.add(CheckManifest, manifestPath, fmt.Errorf("missing"))
		return
	}
	text, err := audit.OpenStatement(signed, logKey, ManifestHeader)
	if err != nil {
		r.add(CheckManifest, manifestPath, err)
		return
	}
	m, err := parseManifest(text)
	if err != nil {
		r.add(CheckManifest, manifestPath, err)
		return
	}
	r.add(CheckManifest, manifestPath, nil)
	r.Case, r.Vehicle, r.ExportedBy, r.Uncovered, r.Purged = m.Case, m.Vehicle, m.ExportedBy, len(m.Uncovered), len(m.Purged)

	// Every file: listed, with its hash; nothing extra.
	listed := map[string]bool{manifestPath: true}
	for _, mf := range m.Files {
		listed[mf.Path] = true
		data, ok := byPath[mf.Path]
		switch {
		case !ok:
			r.add(CheckFileSet, mf.Path, fmt.Errorf("missing"))
		case len(data) != mf.Size || sha256.Sum256(data) != mf.Hash:
			r.add(CheckFileHash, mf.Path, fmt.Errorf("SHA-256 or size differs from the manifest"))
		default:
			r.add(CheckFileHash, mf.Path, nil)
		}
	}
	var custody []file
	for _, f := range files {
		switch {
		case listed[f.path]:
		case strings.HasPrefix(f.path, custodyDir):
			custody = append(custody, f)
		default:
			r.add(CheckFileSet, f.path, fmt.Errorf("not in the manifest"))
		}
	}
	// From here on, a file is read only if its hash matched (ok below).
	good := func(p string) ([]byte, bool) {
		d, ok := byPath[p]
		if !ok {
			return nil, false
		}
		for _, mf := range m.Files {
			if mf.Path == p {
				return d, len(d) == mf.Size && sha256.Sum256(d) == mf.Hash
			}
		}
		return nil, false
	}

	cpNote, _ := good(checkpointPath)
	cp, err := audit.OpenCheckpoint(cpNote, logKey)
	if err == nil && cp.Size != m.CheckpointSize {
		err = fmt.Errorf("size %d, the manifest says %d", cp.Size, m.CheckpointSize)
	}
	r.add(CheckCheckpoint, checkpointPath, err)

	// Every piece of evidence is either a proven item or listed as not
	// covered, with its reason: never silently neither.
	named := map[string]int{}
	for _, it := range m.Items {
		named[it.Path]++
	}
	for _, u := range m.Uncovered {
		named[u.Path]++
	}
	for _, mf := range m.Files {
		if evidence(mf.Path) {
			var err error
			if named[mf.Path] != 1 {
				err = fmt.Errorf("named by %d item or uncovered lines, want 1", named[mf.Path])
			}
			r.add(CheckCoverage, mf.Path, err)
		}
	}

	for _, it := range m.Items {
		data, _ := good(it.Path)
		pr, _ := good(it.Proof)
		r.add(CheckInclusion, it.Path, checkItem(it, data, pr, logKey, cp, m.Vehicle))
	}

	for _, p := range m.Purged {
		pr, _ := good(p.Proof)
		r.add(CheckInclusion, p.Proof, checkPurged(p, pr, logKey, cp, m.Vehicle))
	}

	keys, secrets := loadKeys(good)
	for _, mf := range m.Files {
		if strings.HasPrefix(mf.Path, "frames/") || mf.Path == heartbeatPath {
			data, _ := good(mf.Path)
			err := checkFrame(data, keys, secrets, m.Vehicle)
			var u *unchecked
			if errors.As(err, &u) {
				r.Checks = append(r.Checks, Check{Name: CheckFrameSig, File: mf.Path, OK: true, Detail: u.msg})
				continue
			}
			r.add(CheckFrameSig, mf.Path, err)
		}
	}
	checkCerts(r, good, m)
	checkCustody(r, custody, signed, custodians)
}

// evidence reports whether path is a piece of evidence (not a proof, key,
// certificate or the checkpoint).
func evidence(path string) bool {
	for _, dir := range []string{"frames/", "events/", "commands/"} {
		if strings.HasPrefix(path, dir) {
			return true
		}
	}
	return path == heartbeatPath
}

// checkItem proves an item's bundled bytes are in the log under the
// bundled checkpoint.
func checkItem(it manifestItem, data, pr []byte, v note.Verifier, cp audit.Checkpoint, vehicle string) error {
	if data == nil || pr == nil {
		return fmt.Errorf("its file or proof does not match the manifest")
	}
	hashed := data
	if audit.Kind(it.Kind) == audit.KindFrame {
		// A frame's item is over its frame member (what the vehicle
		// signed, as stored); the reference must be the frame's own key,
		// so a proof cannot vouch for a frame under another name.
		env, err := frame.ParseEnvelope(data)
		if err != nil {
			return err
		}
		f, err := env.DecodeFrame()
		if err != nil {
			return err
		}
		if f.VehicleID != vehicle || FrameRef(f.VehicleID, int64(f.Epoch), int64(f.Seq)) != it.Ref {
			return fmt.Errorf("the frame is not %s", it.Ref)
		}
		hashed = env.Frame()
	}
	got, _, _, err := audit.VerifyItemProof(pr, audit.NewItem(audit.Kind(it.Kind), it.Ref, hashed), v)
	if err != nil {
		return err
	}
	if got.Size != cp.Size || !bytes.Equal(got.Hash, cp.Hash) || got.Origin != cp.Origin {
		return fmt.Errorf("proven against checkpoint of size %d, not the bundle's", got.Size)
	}
	return nil
}

// checkPurged proves a purged frame's kept hash is its item in the log
// under the bundled checkpoint: the reference must be a frame of the
// bundle's vehicle (vehicle/epoch/seq), so a proof cannot vouch for a frame
// under another name. Only the hash is proven: the frame itself is gone.
func checkPurged(p manifestPurged, pr []byte, v note.Verifier, cp audit.Checkpoint, vehicle string) error {
	if pr == nil {
		return fmt.Errorf("purged frame %s: its proof does not match the manifest", p.Ref)
	}
	rest, ok := strings.CutPrefix(p.Ref, vehicle+"/")
	epoch, seq, ok2 := strings.Cut(rest, "/")
	e, err1 := strconv.ParseInt(epoch, 10, 64)
	s, err2 := strconv.ParseInt(seq, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || FrameRef(vehicle, e, s) != p.Ref {
		return fmt.Errorf("purged frame %s is not a frame of vehicle %s", p.Ref, vehicle)
	}
	got, _, _, err := audit.VerifyItemProof(pr, audit.Item{Kind: audit.KindFrame, Ref: p.Ref, Hash: p.Hash}, v)
	if err != nil {
		return fmt.Errorf("purged frame %s: %w", p.Ref, err)
	}
	if got.Size != cp.Size || !bytes.Equal(got.Hash, cp.Hash) || got.Origin != cp.Origin {
		return fmt.Errorf("purged frame %s: proven against checkpoint of size %d, not the bundle's", p.Ref, got.Size)
	}
	return nil
}

// loadKeys reads the bundled frame keys: kid → verifier; and the kids of
// shared secrets (HS256), listed but never exported.
func loadKeys(good func(string) ([]byte, bool)) (map[string]frame.Verifier, map[string]bool) {
	out, secrets := map[string]frame.Verifier{}, map[string]bool{}
	b, ok := good(keysPath)
	if !ok {
		return out, secrets
	}
	var infos []keyInfo
	if json.Unmarshal(b, &infos) != nil {
		return out, secrets
	}
	for _, ki := range infos {
		if ki.File == "" {
			if ki.Alg == string(frame.AlgHS256) {
				secrets[ki.KID] = true
			}
			continue
		}
		p, ok := good(ki.File)
		if !ok {
			continue
		}
		if v, err := frame.ParsePublicKeyPEM(frame.Alg(ki.Alg), p); err == nil {
			out[ki.KID] = v
		}
	}
	return out, secrets
}

// checkFrame verifies a frame's vehicle signature with the bundled key of
// its kid.
func checkFrame(data []byte, keys map[string]frame.Verifier, secrets map[string]bool, vehicle string) error {
	if data == nil {
		return fmt.Errorf("does not match the manifest")
	}
	env, err := frame.ParseEnvelope(data)
	if err != nil {
		return err
	}
	f, err := env.DecodeFrame()
	if err != nil {
		return err
	}
	if f.VehicleID != vehicle {
		return fmt.Errorf("a frame of vehicle %q", f.VehicleID)
	}
	k, ok := keys[env.KID]
	if !ok && secrets[env.KID] && env.Alg == frame.AlgHS256 {
		// The gateway holds the same secret, so an HS256 signature proves
		// nothing to a third party; the frame's bytes are still proven by
		// the log.
		return &unchecked{"HS256 (a shared secret, never exported): the vehicle signature is not checkable offline"}
	}
	if !ok {
		return fmt.Errorf("no bundled public key for kid %q", env.KID)
	}
	return env.Verify(k)
}

// checkCerts chains every bundled vehicle certificate to the bundled fleet
// root, at its own issuance, and checks it names the vehicle.
func checkCerts(r *Result, good func(string) ([]byte, bool), m *manifest) {
	rootPEM, ok := good(rootPath)
	root, err := parseCerts(rootPEM)
	if !ok || err != nil || len(root) != 1 {
		r.add(CheckCertChain, rootPath, fmt.Errorf("no usable fleet root"))
		return
	}
	roots := x509.NewCertPool()
	roots.AddCert(root[0])
	interPEM, _ := good(interPath)
	inter, err := parseCerts(interPEM)
	if err != nil {
		r.add(CheckCertChain, interPath, err)
		return
	}
	inters := x509.NewCertPool()
	for _, c := range inter {
		inters.AddCert(c)
	}
	b, ok := good(certsPath)
	var infos []struct {
		Serial string `json:"serial"`
		File   string `json:"file"`
	}
	if !ok || json.Unmarshal(b, &infos) != nil {
		r.add(CheckCertChain, certsPath, fmt.Errorf("unreadable"))
		return
	}
	want := principal.Principal{Kind: principal.Vehicle, ID: m.Vehicle}.String()
	for _, ci := range infos {
		p, ok := good(ci.File)
		cs, err := parseCerts(p)
		if !ok || err != nil || len(cs) != 1 {
			r.add(CheckCertChain, ci.File, fmt.Errorf("unreadable"))
			continue
		}
		c := cs[0]
		_, err = c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: c.NotBefore,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil && pki.SerialString(c.SerialNumber) != ci.Serial {
			err = fmt.Errorf("serial %x, listed as %s", c.SerialNumber, ci.Serial)
		}
		if err == nil && !names(c, want) {
			err = fmt.Errorf("does not name %s", want)
		}
		r.add(CheckCertChain, ci.File, err)
	}
}

func names(c *x509.Certificate, uri string) bool {
	for _, u := range c.URIs {
		if u.String() == uri {
			return true
		}
	}
	return false
}

// parseCerts parses PEM CERTIFICATE blocks and nothing else.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(bytes.TrimSpace(b)) > 0 {
		blk, rest := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			return nil, fmt.Errorf("not a PEM certificate")
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		b = rest
	}
	return out, nil
}

// onceVerifier is the log key for one Verify: every item proof carries the
// same signed checkpoint, so a signature it has verified over exactly the
// same message is not verified again (a bundle of 10,000 items checks one
// checkpoint signature, not 10,000). The memo is keyed by the SHA-256 of
// the message's length, the message and the signature, so other bytes are
// always verified afresh; only successes are kept.
type onceVerifier struct {
	note.Verifier
	ok map[[sha256.Size]byte]bool
}

func (v *onceVerifier) Verify(msg, sig []byte) bool {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(msg)))
	h.Write(n[:])
	h.Write(msg)
	h.Write(sig)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	if v.ok[k] {
		return true
	}
	if !v.Verifier.Verify(msg, sig) {
		return false
	}
	v.ok[k] = true
	return true
}
