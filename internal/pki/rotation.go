package pki

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Intermediate rotation, without a moment when any valid certificate is
// refused:
//
//  1. AddIntermediate (needs the offline root key): the new intermediate is
//     Trusted, so listeners accept what it will issue, while the old one
//     keeps issuing.
//  2. Distribute the CA directory to every replica and Reload there.
//  3. SetIssuing(new): new certificates come from the new intermediate;
//     the old one is Trusted, so certificates it issued keep working until
//     their holders renew (a vehicle within 16 h at 2/3 of 24 h).
//  4. RetireIntermediate(old) once its certificates are renewed or expired:
//     listeners stop trusting it at their next handshake, resumed sessions
//     included (VerifyConnection checks the anchor is still trusted).
//
// The root key shares the CA's KEK.

// IntermediateOptions describes a new intermediate. Zero fields take
// defaults (ECDSAP256, DefaultIntermediateLifetime, "fifthwheel fleet").
type IntermediateOptions struct {
	Algorithm KeyAlgorithm
	Lifetime  time.Duration
	Name      string
}

// AddIntermediate creates a new intermediate, signed with the root key read
// from rootKeyFile, in state Trusted, and returns its key id.
func (ca *CA) AddIntermediate(ctx context.Context, rootKeyFile string, opts IntermediateOptions, by principal.Principal) (string, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = ECDSAP256
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = DefaultIntermediateLifetime
	}
	if opts.Lifetime > MaxIntermediateLifetime {
		return "", fmt.Errorf("pki: intermediate lifetime above %v", MaxIntermediateLifetime)
	}
	if opts.Name == "" {
		opts.Name = "fifthwheel fleet"
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	rootKey, err := readKeyFile(rootKeyFile, ca.kek, keyRoleRoot, ca.root)
	if err != nil {
		return "", err
	}
	der, key, err := newIntermediate(ca.root, rootKey, opts.Algorithm, opts.Name, opts.Lifetime, ca.now())
	if err != nil {
		return "", err
	}
	kid, _ := KeyID(key.Public())
	doc, err := readStateDoc(ca.dir)
	if err != nil {
		return "", err
	}
	certPath, keyPath := intermediatePaths(ca.dir, kid)
	if err := writeKeyFile(keyPath, ca.kek, keyRoleIntermedia, kid, key); err != nil {
		return "", err
	}
	if err := atomicfile.Write(certPath, certPEM(der), 0o644); err != nil {
		return "", err
	}
	doc.Intermediates = append(doc.Intermediates, intermediateItem{KeyID: kid, State: StateTrusted})
	if err := ca.commitLocked(ctx, doc); err != nil {
		return "", err
	}
	return kid, ca.ev.emit(ctx, event.ClassPKI, "ca_rotate", event.Accept, event.SeverityMedium, codes.IntermediateAdded,
		by, "ca:"+kid, map[string]any{"key_alg": string(opts.Algorithm)})
}

// SetIssuing makes the Trusted intermediate kid the issuing one; the
// previous issuing intermediate becomes Trusted.
func (ca *CA) SetIssuing(ctx context.Context, kid string, by principal.Principal) error {
	return ca.transition(ctx, kid, by, codes.IntermediateIssuing, func(doc *caStateDoc, i int) error {
		it := ca.state.Load().byKID[kid]
		if doc.Intermediates[i].State != StateTrusted || it == nil || it.signer == nil {
			return refusal(http.StatusBadRequest, codes.IssueInvalid, "only a trusted intermediate with its key can become the issuing one", nil)
		}
		for j := range doc.Intermediates {
			if doc.Intermediates[j].State == StateIssuing {
				doc.Intermediates[j].State = StateTrusted
			}
		}
		doc.Intermediates[i].State = StateIssuing
		return nil
	})
}

// RetireIntermediate stops trusting the intermediate kid. The issuing
// intermediate cannot be retired. Its key file stays, so it can still sign
// CRLs and OCSP answers for what it issued; delete the file to stop that.
func (ca *CA) RetireIntermediate(ctx context.Context, kid string, by principal.Principal) error {
	return ca.transition(ctx, kid, by, codes.IntermediateRetired, func(doc *caStateDoc, i int) error {
		if doc.Intermediates[i].State == StateIssuing {
			return refusal(http.StatusBadRequest, codes.IssueInvalid, "the issuing intermediate cannot be retired", nil)
		}
		doc.Intermediates[i].State = StateRetired
		return nil
	})
}

func (ca *CA) transition(ctx context.Context, kid string, by principal.Principal, code string, change func(*caStateDoc, int) error) error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	doc, err := readStateDoc(ca.dir)
	if err != nil {
		return err
	}
	i := -1
	for j, it := range doc.Intermediates {
		if it.KeyID == kid {
			i = j
		}
	}
	if i < 0 {
		return refusal(http.StatusNotFound, codes.CertUnknown, "no intermediate with this key id", nil)
	}
	if err := change(&doc, i); err != nil {
		return err
	}
	if err := ca.commitLocked(ctx, doc); err != nil {
		return err
	}
	return ca.ev.emit(ctx, event.ClassPKI, "ca_rotate", event.Accept, event.SeverityMedium, code, by, "ca:"+kid, nil)
}

// commitLocked writes ca.json, reloads, and records new intermediates. On a
// reload failure the previous ca.json is restored.
func (ca *CA) commitLocked(ctx context.Context, doc caStateDoc) error {
	prev, err := os.ReadFile(filepath.Join(ca.dir, caStateFile))
	if err != nil {
		return fmt.Errorf("pki: read CA state: %w", err)
	}
	if err := writeStateDoc(ca.dir, doc); err != nil {
		return err
	}
	if err := ca.reloadLocked(); err != nil {
		_ = atomicfile.Write(filepath.Join(ca.dir, caStateFile), prev, 0o600)
		_ = ca.reloadLocked()
		return err
	}
	rootKID := keyIDFromSPKI(ca.root.RawSubjectPublicKeyInfo)
	for _, it := range ca.state.Load().byKID {
		if err := ca.recordCA(ctx, it.cert, ProfileIntermediate, it.kid, rootKID); err != nil {
			return err
		}
	}
	return nil
}
