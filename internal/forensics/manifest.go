package forensics

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/audit"
)

// ManifestHeader is the first line of a manifest: a signed statement of the
// log key (audit.StatementPrefix), never a checkpoint.
const ManifestHeader = audit.StatementPrefix + "forensic-manifest/v1"

// Fixed paths of a bundle.
const (
	manifestPath   = "manifest.sig"
	checkpointPath = "checkpoint.note"
	vehiclePath    = "vehicle.json"
	rootPath       = "pki/fleet-root.pem"
	interPath      = "pki/intermediates.pem"
	certsPath      = "pki/certificates.json"
	keysPath       = "keys/keys.json"
	heartbeatPath  = "heartbeat/latest.json"
	custodyDir     = "custody/"
)

// Why an item is listed as not covered by the bundle's checkpoint.
const (
	uncoveredPending  = "not-yet-sequenced" // the sequencer had not covered it when the export ended
	uncoveredMissing  = "not-in-log"        // the log has no item for it
	uncoveredMismatch = "log-hash-differs"  // the log's item has another hash: the row changed after it was logged
	uncoveredNotItem  = "not-a-log-item"    // the row is not an audit item (the latest heartbeat)
	// noFile is the path of an uncovered line about a purged frame: its
	// payload is gone, so no file holds it.
	noFile     = "-"
	timeLayout = "2006-01-02T15:04:05.000000000Z"
)

// manifest is a manifest's content.
type manifest struct {
	Case, Vehicle, ExportedBy string
	Since, Until, ExportedAt  time.Time
	CheckpointSize            uint64
	Files                     []manifestFile
	Items                     []manifestItem
	Purged                    []manifestPurged
	Uncovered                 []manifestUncovered
}

type manifestFile struct {
	Path string
	Hash [sha256.Size]byte
	Size int
}

// manifestItem is a logged item: its kind and reference, the file whose
// bytes it hashes, and its proof's file.
type manifestItem struct {
	Kind, Ref, Path, Proof string
}

// manifestPurged is a logged frame whose payload retention purged: its
// reference, the SHA-256 of the frame as received (the row's kept hash,
// the item's hash) and its proof's file. No file holds the frame.
type manifestPurged struct {
	Kind, Ref string
	Hash      [sha256.Size]byte
	Proof     string
}

type manifestUncovered struct {
	Kind, Ref, Path, Reason string
}

func (m *manifest) encode() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\ncase %s\nvehicle %s\nsince %s\nuntil %s\nexported-by %s\nexported-at %s\ncheckpoint %d\n",
		ManifestHeader, m.Case, m.Vehicle, m.Since.UTC().Format(timeLayout), m.Until.UTC().Format(timeLayout),
		m.ExportedBy, m.ExportedAt.UTC().Format(timeLayout), m.CheckpointSize)
	for _, f := range m.Files {
		fmt.Fprintf(&b, "file %x %d %s\n", f.Hash, f.Size, f.Path)
	}
	for _, it := range m.Items {
		fmt.Fprintf(&b, "item %s %s %s %s\n", it.Kind, it.Ref, it.Path, it.Proof)
	}
	for _, p := range m.Purged {
		fmt.Fprintf(&b, "purged %s %s %x %s\n", p.Kind, p.Ref, p.Hash, p.Proof)
	}
	for _, u := range m.Uncovered {
		fmt.Fprintf(&b, "uncovered %s %s %s %s\n", u.Kind, u.Ref, u.Path, u.Reason)
	}
	return b.String()
}

// parseManifest parses a manifest's text strictly: the fixed lines in
// order, then file, item, purged and uncovered lines in that order; every token
// safe, every path valid, no path listed twice.
func parseManifest(text string) (*manifest, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 8 || lines[0] != ManifestHeader {
		return nil, fmt.Errorf("not a %s manifest", ManifestHeader)
	}
	m := &manifest{}
	fixed := []struct {
		key string
		set func(string) error
	}{
		{"case", func(v string) error { m.Case = v; return tokenErr(v, refExtra) }},
		{"vehicle", func(v string) error { m.Vehicle = v; return tokenErr(v, refExtra) }},
		{"since", func(v string) (err error) { m.Since, err = time.Parse(timeLayout, v); return }},
		{"until", func(v string) (err error) { m.Until, err = time.Parse(timeLayout, v); return }},
		{"exported-by", func(v string) error { m.ExportedBy = v; return tokenErr(v, refExtra) }},
		{"exported-at", func(v string) (err error) { m.ExportedAt, err = time.Parse(timeLayout, v); return }},
		{"checkpoint", func(v string) (err error) { m.CheckpointSize, err = strconv.ParseUint(v, 10, 64); return }},
	}
	for i, f := range fixed {
		k, v, ok := strings.Cut(lines[i+1], " ")
		if !ok || k != f.key {
			return nil, fmt.Errorf("line %d: want %q", i+2, f.key)
		}
		if err := f.set(v); err != nil {
			return nil, fmt.Errorf("line %d (%s): %v", i+2, k, err)
		}
	}
	paths := map[string]bool{}
	stage := 0
	for i, line := range lines[8:] {
		fs := strings.Split(line, " ")
		n := i + 9
		switch {
		case fs[0] == "file" && len(fs) == 4 && stage == 0:
			var mf manifestFile
			h, err := hex.DecodeString(fs[1])
			if err != nil || len(h) != sha256.Size || hex.EncodeToString(h) != fs[1] {
				return nil, fmt.Errorf("line %d: bad hash", n)
			}
			copy(mf.Hash[:], h)
			if mf.Size, err = strconv.Atoi(fs[2]); err != nil || mf.Size < 0 || strconv.Itoa(mf.Size) != fs[2] {
				return nil, fmt.Errorf("line %d: bad size", n)
			}
			mf.Path = fs[3]
			if !validPath(mf.Path) || mf.Path == manifestPath || strings.HasPrefix(mf.Path, custodyDir) || paths[mf.Path] {
				return nil, fmt.Errorf("line %d: bad or repeated path", n)
			}
			paths[mf.Path] = true
			m.Files = append(m.Files, mf)
		case fs[0] == "item" && len(fs) == 5 && stage <= 1:
			stage = 1
			it := manifestItem{Kind: fs[1], Ref: fs[2], Path: fs[3], Proof: fs[4]}
			if tokenErr(it.Kind, "") != nil || tokenErr(it.Ref, refExtra) != nil || !paths[it.Path] || !paths[it.Proof] {
				return nil, fmt.Errorf("line %d: bad item", n)
			}
			m.Items = append(m.Items, it)
		case fs[0] == "purged" && len(fs) == 5 && stage <= 2:
			stage = 2
			p := manifestPurged{Kind: fs[1], Ref: fs[2], Proof: fs[4]}
			h, err := hex.DecodeString(fs[3])
			if err != nil || len(h) != sha256.Size || hex.EncodeToString(h) != fs[3] {
				return nil, fmt.Errorf("line %d: bad hash", n)
			}
			copy(p.Hash[:], h)
			if p.Kind != string(audit.KindFrame) || tokenErr(p.Ref, refExtra) != nil || !paths[p.Proof] {
				return nil, fmt.Errorf("line %d: bad purged line", n)
			}
			m.Purged = append(m.Purged, p)
		case fs[0] == "uncovered" && len(fs) == 5 && stage <= 3:
			stage = 3
			u := manifestUncovered{Kind: fs[1], Ref: fs[2], Path: fs[3], Reason: fs[4]}
			if tokenErr(u.Kind, "") != nil || tokenErr(u.Ref, refExtra) != nil || !(paths[u.Path] || u.Path == noFile && u.Kind == string(audit.KindFrame)) || tokenErr(u.Reason, "-") != nil {
				return nil, fmt.Errorf("line %d: bad uncovered line", n)
			}
			m.Uncovered = append(m.Uncovered, u)
		default:
			return nil, fmt.Errorf("line %d: unexpected", n)
		}
	}
	return m, nil
}

// refExtra is what a reference, case id, vehicle id or principal URI may
// hold besides letters and digits.
const refExtra = "._-:/@"

func tokenErr(s, extra string) error {
	if !safeToken(s, extra) {
		return fmt.Errorf("%q: 1 to %d bytes of letters, digits and %q", s, MaxTokenLen, extra)
	}
	return nil
}
