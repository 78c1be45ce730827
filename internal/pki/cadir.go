package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// The CA directory (ca.json version 1):
//
//	<dir>/ca.json                    which intermediates exist and their state
//	<dir>/root.crt                   the root certificate (PEM), public
//	<dir>/intermediates/<kid>.crt    each intermediate certificate (PEM)
//	<dir>/intermediates/<kid>.key    its private key, encrypted (PEM, fwkey1)
//
// The root private key is written by Init to InitConfig.RootKeyFile (by
// default <dir>/root.key), encrypted like the others. Load never reads it:
// move it to offline storage after Init and bring it back only to add an
// intermediate. Directories are created 0700, key files 0600.
const (
	caStateFile       = "ca.json"
	rootCertFile      = "root.crt"
	intermediatesDir  = "intermediates"
	defaultRootKey    = "root.key"
	pemCertificate    = "CERTIFICATE"
	pemEncryptedKey   = "FIFTHWHEEL ENCRYPTED KEY"
	keyRoleRoot       = "root"
	keyRoleIntermedia = "intermediate"
	caStateVersion    = 1
)

// IntermediateState is an intermediate's place in its rotation.
type IntermediateState string

// The states. Exactly one intermediate is Issuing; Trusted ones verify but do
// not issue (a new one before promotion, an old one until its certificates
// have been renewed); Retired ones are no longer trusted by listeners but
// still sign CRLs and OCSP answers for what they issued, if their key file is
// still there. Issuing and Trusted intermediates need their key file (they
// sign CRLs and OCSP responder certificates); only a Retired one may lack it.
const (
	StateIssuing IntermediateState = "issuing"
	StateTrusted IntermediateState = "trusted"
	StateRetired IntermediateState = "retired"
)

type caStateDoc struct {
	Version       int                `json:"version"`
	Intermediates []intermediateItem `json:"intermediates"`
}

type intermediateItem struct {
	KeyID string            `json:"key_id"`
	State IntermediateState `json:"state"`
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func readStateDoc(dir string) (caStateDoc, error) {
	b, err := os.ReadFile(filepath.Join(dir, caStateFile))
	if err != nil {
		return caStateDoc{}, fmt.Errorf("pki: read CA state: %w", err)
	}
	var doc caStateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return caStateDoc{}, fmt.Errorf("pki: parse %s: %v", caStateFile, err)
	}
	if doc.Version != caStateVersion {
		return caStateDoc{}, fmt.Errorf("pki: %s version %d not supported (want %d)", caStateFile, doc.Version, caStateVersion)
	}
	issuing := 0
	seen := map[string]bool{}
	for _, it := range doc.Intermediates {
		if !keyIDPattern.MatchString(it.KeyID) || seen[it.KeyID] {
			return caStateDoc{}, fmt.Errorf("pki: %s: bad or repeated key id %q", caStateFile, it.KeyID)
		}
		seen[it.KeyID] = true
		switch it.State {
		case StateIssuing:
			issuing++
		case StateTrusted, StateRetired:
		default:
			return caStateDoc{}, fmt.Errorf("pki: %s: unknown state %q", caStateFile, it.State)
		}
	}
	if issuing != 1 {
		return caStateDoc{}, fmt.Errorf("pki: %s: %d issuing intermediates; want exactly 1", caStateFile, issuing)
	}
	return doc, nil
}

func writeStateDoc(dir string, doc caStateDoc) error {
	doc.Version = caStateVersion
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, caStateFile), append(b, '\n'), 0o600)
}

// readRoot reads the root certificate of the CA in dir and checks that it
// is a self-signed CA certificate.
func readRoot(dir string) (*x509.Certificate, error) {
	root, err := readCertFile(filepath.Join(dir, rootCertFile))
	if err != nil {
		return nil, err
	}
	if err := root.CheckSignatureFrom(root); err != nil || !root.IsCA {
		return nil, fmt.Errorf("pki: %s is not a self-signed CA certificate", rootCertFile)
	}
	return root, nil
}

// readIntermediates reads ca.json and every intermediate certificate it
// lists, in its order, checking that each matches its key id and is a CA
// certificate root signed. Keys are not read.
func readIntermediates(dir string, root *x509.Certificate) ([]*intermediate, error) {
	doc, err := readStateDoc(dir)
	if err != nil {
		return nil, err
	}
	out := make([]*intermediate, 0, len(doc.Intermediates))
	for _, item := range doc.Intermediates {
		certPath, _ := intermediatePaths(dir, item.KeyID)
		cert, err := readCertFile(certPath)
		if err != nil {
			return nil, err
		}
		if keyIDFromSPKI(cert.RawSubjectPublicKeyInfo) != item.KeyID {
			return nil, fmt.Errorf("pki: intermediate %s: certificate does not match its key id", item.KeyID)
		}
		if err := cert.CheckSignatureFrom(root); err != nil || !cert.IsCA {
			return nil, fmt.Errorf("pki: intermediate %s is not a CA certificate signed by the root", item.KeyID)
		}
		out = append(out, &intermediate{kid: item.KeyID, cert: cert, state: item.State})
	}
	return out, nil
}

// trustedOf returns the certificates of the intermediates listeners trust:
// every one that is not retired.
func trustedOf(its []*intermediate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, it := range its {
		if it.state != StateRetired {
			out = append(out, it.cert)
		}
	}
	return out
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

func readCertFile(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemCertificate {
		return nil, fmt.Errorf("pki: %s: no PEM certificate", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// keyAAD binds an encrypted key to its role and key id.
func keyAAD(role, kid string) []byte {
	return []byte("fifthwheel ca key\x00" + role + "\x00" + kid)
}

func writeKeyFile(path string, kek KeyEncrypter, role, kid string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %v", err)
	}
	out, err := encryptKeyPEM(kek, role, kid, der)
	clear(der)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, out, 0o600)
}

// encryptKeyPEM encrypts the key material plain under kek, bound to role and
// kid (keyAAD), as the contents of a key file (fwkey1 in a PEM block whose
// headers name the role and the key id).
func encryptKeyPEM(kek KeyEncrypter, role, kid string, plain []byte) ([]byte, error) {
	blob, err := kek.Encrypt(plain, keyAAD(role, kid))
	if err != nil {
		return nil, fmt.Errorf("pki: encrypt key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedKey, Headers: map[string]string{"Role": role, "Key-Id": kid}, Bytes: blob}), nil
}

// decryptKeyFile reads the key file at path and decrypts it with kek as
// role's key kid. With kid "", the key id is the one the file's headers
// name, which must be well formed, with the headers naming role. The caller
// clears the result. A wrong KEK or an altered file is an error wrapping
// ErrKeyDecrypt; an absent file one wrapping fs.ErrNotExist.
func decryptKeyFile(path string, kek KeyEncrypter, role, kid string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemEncryptedKey {
		return nil, fmt.Errorf("pki: %s: not a %s PEM block", path, pemEncryptedKey)
	}
	if kid == "" {
		if kid = blk.Headers["Key-Id"]; blk.Headers["Role"] != role || !keyIDPattern.MatchString(kid) {
			return nil, fmt.Errorf("pki: %s is not a %s key file", path, role)
		}
	}
	plain, err := kek.Decrypt(blk.Bytes, keyAAD(role, kid))
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return plain, nil
}

// readKeyFile decrypts a key file and checks that it holds the private key
// for cert. It returns an error wrapping fs.ErrNotExist if the file is absent.
func readKeyFile(path string, kek KeyEncrypter, role string, cert *x509.Certificate) (crypto.Signer, error) {
	kid := keyIDFromSPKI(cert.RawSubjectPublicKeyInfo)
	der, err := decryptKeyFile(path, kek, role, kid)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: parse key: %v", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not a signing key", path)
	}
	pkid, err := KeyID(signer.Public())
	if err != nil || pkid != kid {
		return nil, fmt.Errorf("pki: %s: key does not match its certificate", path)
	}
	return signer, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func intermediatePaths(dir, kid string) (cert, key string) {
	base := filepath.Join(dir, intermediatesDir, kid)
	return base + ".crt", base + ".key"
}

// WriteFileAtomic writes data to path with mode perm through a temporary
// file in the same directory, fsyncs it, renames it over path and fsyncs the
// directory: a crash leaves either the old file or the new one, never half of
// one. Key and CA files of the gateway go through it.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFileDurably(path, data, perm, os.Rename)
}

// CreateFileExclusive writes data to a new file path with mode perm, durably
// like WriteFileAtomic but linking the temporary file to path instead of
// renaming it, so it fails with an error wrapping fs.ErrExist if path exists
// (*LinkError wrapping EEXIST): a crash leaves no half-written file, and of
// two concurrent creators exactly one wins.
func CreateFileExclusive(path string, data []byte, perm fs.FileMode) error {
	return writeFileDurably(path, data, perm, os.Link)
}

// writeFileDurably writes data with mode perm to a temporary file next to
// path, fsyncs it, puts it in place with place(tmp, path) (os.Rename or
// os.Link), fsyncs the directory and removes what is left of the
// temporary name.
func writeFileDurably(path string, data []byte, perm fs.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename, a no-op
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
