// Package auditapi serves the audit log (package audit) to auditors on the
// TMS listener:
//
//	GET /v1/audit/checkpoint                      the latest signed checkpoint (text/plain, a C2SP signed note)
//	GET /v1/audit/proof/inclusion?kind=K&ref=R    an item's proof (text/plain, a C2SP tlog-proof; audit.VerifyItemProof)
//	GET /v1/audit/proof/consistency?old=N         the RFC 6962 consistency proof from size N to the latest checkpoint (JSON),
//	                                              checked against the log's stored checkpoint of size N, returned with it
//
// # Security model
//
// Every route is behind the TMS access guard with scope audit:read (roles
// auditor and security-admin; authz.Policy); a handler reached without a
// verified caller refuses (403), so a route wired without the guard fails
// closed. What is served needs no trust in the gateway: a checkpoint is
// signed by the log key and every proof verifies offline against it and
// the key alone, and a proof is checked before it is served: an inclusion
// proof against the latest checkpoint, a consistency proof against the
// log's own signed checkpoint of the old size (a proof the stored nodes
// cannot back is a 500 audit_log_inconsistent and a security event, never
// an answer). Query parameters are bounded (limits.go) and the work per
// request is one item lookup and O(log n) node reads.
package auditapi
