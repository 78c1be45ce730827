// Package archtest holds no code, only the tests that keep the
// architecture's rules true for the whole module:
//
//   - Import rules (imports_test.go). Package frame imports nothing of the
//     module; package codes only frame; package agent only frame and codes,
//     so an AV team vendors the three and nothing else. The simulator
//     reaches the gateway only through agent, codes and what provisioning
//     needs (pki, principal, store), so what it tests is what customers
//     embed. No package outside cmd/ imports internal/server, and none
//     imports cmd/: domain packages (pki, ingest, liveness, session, enroll,
//     event, store, ...) are wired by cmd/fifthwheel, never the reverse.
//     internal/server in turn imports no domain package but event.
//     internal/store imports nothing of the module: it knows rows and
//     transactions, not HTTP, tokens or policy. internal/config imports only
//     agent and internal/plausibility (and their codes and frame), whose
//     constants its defaults refer to; internal/plausibility only codes.
//   - One catalogue of reason codes (codes_test.go). Every code constant of
//     packages codes and frame has its entry, and a string of the catalogue
//     is declared nowhere else; every problem+json answer
//     written with a literal status and code has the catalogue's status;
//     every event recorded with a literal severity and code is at least the
//     catalogue's severity.
//
// # Security model
//
// None of its own. The rules it checks are what keep a security check in
// one place: a code or a dependency declared twice is a place where the two
// can drift apart.
//
// # Compatibility
//
// Tests only; nothing here is imported.
package archtest
