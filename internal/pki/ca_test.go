package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

func TestInitLoad(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()

	// The root key is not needed to run: take it offline and Load again.
	offline := filepath.Join(t.TempDir(), "usb-stick.key")
	if err := os.Rename(e.rootKeyFile, offline); err != nil {
		t.Fatal(err)
	}
	ca, err := Load(ctx, e.dir, Config{}, Deps{KEK: e.kek, Registry: e.reg, Events: e.bus})
	if err != nil {
		t.Fatalf("Load without the root key: %v", err)
	}
	if ca.IssuingKeyID() != e.init.IntermediateKeyID {
		t.Fatal("issuing intermediate differs after reload")
	}

	// Private keys are encrypted and private.
	_, keyPath := intermediatePaths(e.dir, e.init.IntermediateKeyID)
	for _, p := range []string{keyPath, offline} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", p, st.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), pemEncryptedKey) || strings.Contains(string(b), "PRIVATE KEY-----") {
			t.Fatalf("%s is not an encrypted key file", p)
		}
	}
	if st, _ := os.Stat(e.dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("CA directory mode %v", st.Mode().Perm())
	}

	if _, err := Init(InitConfig{Dir: e.dir, RootKeyFile: filepath.Join(t.TempDir(), "r.key")}, e.kek); err == nil {
		t.Fatal("Init overwrote an existing CA")
	}

	// Another KEK cannot open the keys.
	otherKEKPath := filepath.Join(t.TempDir(), "kek")
	if err := CreateKeyFile(otherKEKPath); err != nil {
		t.Fatal(err)
	}
	otherKEK, _ := LoadKeyFileKEK(otherKEKPath)
	if _, err := Load(ctx, e.dir, Config{}, Deps{KEK: otherKEK, Registry: e.reg, Events: e.bus}); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatalf("Load with the wrong KEK: %v", err)
	}
	// A key file moved to another intermediate's name does not decrypt
	// (its additional data names its own key id).
	rootPath := filepath.Join(t.TempDir(), "root-as-intermediate.key")
	_ = os.Rename(offline, rootPath)
	b, _ := os.ReadFile(rootPath)
	if err := os.WriteFile(keyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, e.dir, Config{}, Deps{KEK: e.kek, Registry: e.reg, Events: e.bus}); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatalf("Load with a swapped key file: %v", err)
	}

	if _, err := Load(ctx, e.dir, Config{VehicleLifetime: 30 * 24 * time.Hour}, Deps{KEK: e.kek, Registry: e.reg, Events: e.bus}); err == nil {
		t.Fatal("vehicle lifetime above the maximum accepted")
	}
}

func TestPassphraseCA(t *testing.T) {
	// The production KEK with its real Argon2 parameters, end to end.
	kek, err := NewPassphraseKEK([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Init(InitConfig{Dir: dir, Algorithm: Ed25519}, kek); err != nil {
		t.Fatal(err)
	}
	reg := NewMemRegistry()
	e := newEnv(t, ECDSAP256) // for its event bus
	ca, err := Load(context.Background(), dir, Config{}, Deps{KEK: kek, Registry: reg, Events: e.bus})
	if err != nil {
		t.Fatal(err)
	}
	is, _, err := ca.IssueWithNewKey(context.Background(), IssueRequest{Subject: principal.Principal{Kind: principal.Vehicle, ID: "t"}}, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root())
	inter := x509.NewCertPool()
	inter.AddCert(ca.state.Load().issuing.cert)
	if _, err := is.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("Ed25519 chain does not verify to the root: %v", err)
	}
	wrong, _ := NewPassphraseKEK([]byte("Tr0ub4dor&3"))
	if _, err := Load(context.Background(), dir, Config{}, Deps{KEK: wrong, Registry: reg, Events: e.bus}); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// TestProfiles pins what each profile puts in a certificate.
func TestProfiles(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	// The first Load announced the intermediate it recorded.
	if evs := e.sink.ByCode(codes.CertIssued); len(evs) != 1 || evs[0].Attrs["profile"] != string(ProfileIntermediate) {
		t.Fatalf("intermediate not announced at first Load: %+v", evs)
	}
	for _, tc := range []struct {
		kind principal.Kind
		life time.Duration
		eku  x509.ExtKeyUsage
	}{
		{principal.Vehicle, DefaultVehicleLifetime, x509.ExtKeyUsageClientAuth},
		{principal.Client, DefaultClientLifetime, x509.ExtKeyUsageClientAuth},
		{principal.Operator, DefaultOperatorLifetime, x509.ExtKeyUsageClientAuth},
		{principal.Gateway, DefaultGatewayLifetime, x509.ExtKeyUsageServerAuth},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			now := time.Now()
			is, _ := e.issue(tc.kind, "x-1")
			c := is.Certificate
			if d := now.Sub(c.NotBefore); d < ClockSkew || d > ClockSkew+2*time.Second {
				t.Errorf("NotBefore backdated by %v, want %v", d, ClockSkew)
			}
			if d := c.NotAfter.Sub(now); d < tc.life-2*time.Second || d > tc.life {
				t.Errorf("lifetime %v, want %v", d, tc.life)
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != tc.eku || c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("usage: eku %v ca %v ku %v", c.ExtKeyUsage, c.IsCA, c.KeyUsage)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != "urn:fifthwheel:"+string(tc.kind)+":x-1" || c.Subject.CommonName != "x-1" {
				t.Errorf("identity: %v %q", c.URIs, c.Subject.CommonName)
			}
			if s := is.Record.Serial; len(s) != 32 || c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() != SerialBits {
				t.Errorf("serial %s (%d bits)", s, c.SerialNumber.BitLen())
			}
			rec, err := e.reg.GetIssued(ctx, is.Record.Serial)
			if err != nil || rec.Profile != Profile(tc.kind) || rec.IssuerKeyID != e.ca.IssuingKeyID() || string(rec.DER) != string(c.Raw) {
				t.Errorf("registry row %+v %v", rec, err)
			}
		})
	}
	if n := e.countCode(codes.CertIssued); n != 1+4 {
		t.Fatalf("%d cert_issued events, want 1+4", n)
	}

	key := mustKey(t, ECDSAP256)
	for name, req := range map[string]IssueRequest{
		"lifetime above the profile maximum": {Subject: principal.Principal{Kind: principal.Vehicle, ID: "v"}, PublicKey: key.Public(), Lifetime: MaxVehicleLifetime + time.Hour},
		"DNS name on a vehicle":              {Subject: principal.Principal{Kind: principal.Vehicle, ID: "v"}, PublicKey: key.Public(), DNSNames: []string{"v.example"}},
		"IP on a client":                     {Subject: principal.Principal{Kind: principal.Client, ID: "c"}, PublicKey: key.Public(), IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}},
		"RSA key":                            {Subject: principal.Principal{Kind: principal.Vehicle, ID: "v"}, PublicKey: mustRSA(t).Public()},
		"invalid id":                         {Subject: principal.Principal{Kind: principal.Vehicle, ID: "a b"}, PublicKey: key.Public()},
		"system kind":                        {Subject: principal.Principal{Kind: principal.System, ID: "x"}, PublicKey: key.Public()},
	} {
		if _, err := e.ca.Issue(ctx, req); CodeOf(err) != codes.IssueInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRevokeAPI(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	is, _ := e.issue(principal.Vehicle, "truck-1")
	// As openssl prints it: upper case with colons.
	var colon []string
	for i := 0; i < len(is.Record.Serial); i += 2 {
		colon = append(colon, strings.ToUpper(is.Record.Serial[i:i+2]))
	}
	rec, err := e.ca.Revoke(ctx, strings.Join(colon, ":"), ReasonKeyCompromise, principal.Principal{})
	if err != nil || !rec.Revoked() || rec.Reason != ReasonKeyCompromise {
		t.Fatalf("%+v %v", rec, err)
	}
	if _, err := e.ca.Revoke(ctx, "0123456789abcdef0123456789abcdef", ReasonUnspecified, principal.Principal{}); CodeOf(err) != codes.CertUnknown {
		t.Fatalf("unknown serial: %v", err)
	}
	if _, err := e.ca.Revoke(ctx, "zz", ReasonUnspecified, principal.Principal{}); err == nil {
		t.Fatal("garbage serial accepted")
	}
	if _, err := e.ca.Revoke(ctx, is.Record.Serial, RevocationReason(6), principal.Principal{}); err == nil {
		t.Fatal("certificateHold accepted")
	}
	if r, err := ParseReason("key_compromise"); err != nil || r != ReasonKeyCompromise {
		t.Fatal("ParseReason")
	}
}
