package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// devOperatorID and devOperatorLifetime: the operator credential
// 'serve --dev' writes for the local CLI. A week, so a trial does not lose
// its operator overnight (operators are 12 h in production).
const (
	devOperatorID       = "dev"
	devOperatorLifetime = 7 * 24 * time.Hour
)

// gatewayID names the gateway principal: the host name when it is a valid
// principal id, else "gateway".
func gatewayID() string {
	if h, err := os.Hostname(); err == nil && principal.ValidID(h) {
		return h
	}
	return "gateway"
}

// devOperatorRoles are the roles the development operator is registered
// with on a store that does not hold it yet: every role, so that a trial
// can call every TMS route with one credential. A production operator
// gets no role until `operator roles set`.
func devOperatorRoles() []string {
	names := make([]string, len(authz.Roles))
	for i, r := range authz.Roles {
		names[i] = string(r)
	}
	return names
}

// ensureDevOperator registers the development operator with every role
// unless the registry holds it already (its roles are then left as an
// operator set them), and writes the local CLI's operator credential to
// DATA/operator unless the one there is current, unrevoked and before 2/3
// of its life.
func ensureDevOperator(ctx context.Context, ca *pki.CA, rs pki.RevocationChecker, st store.Store, dataDir string, log *slog.Logger) error {
	err := st.CreateOperator(ctx, store.Operator{ID: devOperatorID, Name: "development operator (serve --dev)",
		Status: store.OperatorActive, Roles: devOperatorRoles(), CreatedAt: time.Now().UTC()})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("register the development operator: %v", err)
	}
	dir := filepath.Join(dataDir, operatorDir)
	now := time.Now()
	if c, err := pki.LoadCredential(dir); err == nil {
		if _, leaf, err := pki.VerifyCredential(c, pki.CredentialPolicy{Trust: ca.Trust(), Revocations: rs,
			Allowed: []principal.Kind{principal.Operator}, Now: now}); err == nil && !pki.RenewDue(leaf.NotBefore, leaf.NotAfter, now) {
			return nil
		}
	}
	is, key, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: principal.Principal{Kind: principal.Operator, ID: devOperatorID},
		Lifetime: devOperatorLifetime, RequestedBy: gatewayActor}, pki.ECDSAP256)
	if err != nil {
		return fmt.Errorf("issue the development operator credential: %v", err)
	}
	if err := writeCredential(dir, is, key, ca.Root(), true); err != nil {
		return fmt.Errorf("write the development operator credential: %v", err)
	}
	log.Info("development operator credential written", slog.String("dir", dir),
		slog.String("operator", is.Record.Principal().String()), slog.Time("not_after", is.Record.NotAfter))
	return nil
}
