package authz

import (
	"testing"
)

// BenchmarkVerifyWithBinding is the per-request cost of a TMS API call's
// token: bounds, header, kid, signature, claims, and the RFC 8705 binding
// against the connection's certificate (issue 19 target: ≤ 50 µs on one
// core). Run: go test -run x -bench Verify -benchtime 2s ./internal/authz
func BenchmarkVerifyWithBinding(b *testing.B) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg)
			acct, leaf, _ := e.account(b, "acme", Dispatcher)
			raw := e.issue(b, acct, leaf, 0, FleetRead, TelemetryRead)
			// A client reuses its token for minutes: every request but the
			// first finds it in the verified-token cache.
			b.Run("reused", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.verifier.Verify(ctx, raw, leaf); err != nil {
						b.Fatal(err)
					}
				}
			})
			// The first request of each token: header, signature, claims.
			b.Run("first", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					e.verifier.cache = newTokenCache()
					if _, err := e.verifier.Verify(ctx, raw, leaf); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkIssue is the token endpoint's signing cost (tokens per second
// per core is 1/ns/op).
func BenchmarkIssue(b *testing.B) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b, alg)
			acct, leaf, _ := e.account(b, "acme", Dispatcher)
			scopes := []Scope{FleetRead, TelemetryRead}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := e.issuer.Issue(acct, leaf, scopes, e.clock.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
