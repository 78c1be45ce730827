// Package frame is fifthwheel's signed telemetry envelope: strict decoding,
// the canonical-bytes check, signing and verification (Ed25519, ES256,
// HS256) and the limits that bound all of it. It imports nothing else of
// fifthwheel, so a vehicle stack can vendor it alone. docs/PROTOCOL.md is
// the byte-exact specification; testdata/frames holds golden vectors.
//
// An envelope is
//
//	{"alg":"Ed25519","kid":"<key id>","frame":{...},"sig":"<base64url>"}
//
// and its signature covers the bytes of the frame member exactly as
// received. A receiver does:
//
//	env, err := frame.ParseEnvelope(b)      // strict, canonical frame bytes
//	key := lookup(vehicleFromCert, env.KID) // your key registry
//	err = env.Verify(key)                   // or a BatchVerifier
//	f, err := env.DecodeFrame()             // strict schema
//	// then: f.VehicleID == vehicleFromCert, (epoch, seq) order, freshness
//
// and a sender does frame.Sign(signer, kid, &frame.Frame{...}).
//
// # Security model
//
// The signed bytes are the received bytes. They must already be in RFC 8785
// (JCS) canonical form; ParseEnvelope canonicalizes them, compares, and
// refuses any difference. So there is one byte string per meaning, and no
// second parser can read the signed message differently from the one that
// checked the signature.
//
// Everything is decoded strictly, before and after the signature check:
// duplicate member names, unknown members, invalid UTF-8, escaped lone
// surrogates, non-finite numbers (1e400), integers outside 0..2^53-1,
// nesting beyond MaxFrameDepth and oversize input are refused, each with a
// stable reason Code in an *Error. Limits are in limits.go. Errors never
// contain key material, signatures or frame values.
//
// A telemetry frame may carry ext (type Ext), an object for the AV stack's
// own data: inside it any member names and values are allowed, under the
// same strict and canonical rules and within MaxExtSize and MaxExtDepth.
// Every other object stays closed. Ext is data only: no decoded field
// ever comes from inside it, and receivers store and return it verbatim
// without interpreting it.
//
// alg must be named (there is no default) and must be one of Ed25519, ES256
// and HS256; "none" and everything else is refused. A receiver verifies
// with the key registered under kid for the vehicle its TLS certificate
// proves, and that key's algorithm must equal alg (CodeAlgMismatch), so an
// attacker cannot choose a weaker algorithm for a vehicle enrolled with a
// stronger one.
//
// Ed25519 verification follows ZIP-215 (hdevalence/ed25519consensus) and
// additionally requires canonical encodings of A and R, on the single and
// the batch path alike; small-order public keys are refused when a key is
// registered. ES256 signatures are IEEE P1363 r||s of exactly 64 bytes;
// they are malleable ((r, n-s) is valid too), so never de-duplicate frames
// on envelope bytes, only on (vehicle, epoch, seq) and frame bytes. HS256
// is lower assurance: the gateway holds the same secret.
//
// # Key management
//
// Each key role has its own type: *Ed25519PublicKey, *ES256PublicKey and
// *HS256Key verify; *Ed25519Signer, *ES256Signer and *HS256Key sign.
// Signers wrap a crypto.Signer, so the private key can stay in a TPM or
// secure element, and check every signature before returning it. Key types
// cannot be compared with == (use Equal; HS256 secrets compare in constant
// time), and secrets never print: String, Format and LogValue redact them.
//
// Commands (kind command) are the gateway's, signed with its command key:
// SignCommand refuses any kid but a command key's (CommandKIDPrefix), and
// a receiver must verify a command only with keys pinned for that purpose.
// Their payload holds bounded arrays of closed objects (stops, waypoints);
// CommandDigest names a command across redeliveries.
//
// What this package does not do: it keeps no state. Replay and ordering
// (epoch, seq), freshness of ts, the vehicle id against the certificate,
// the key registry and rate limits belong to the receiver.
//
// # Compatibility
//
// The wire format is versioned by the frame's v member (Version, now 1).
// Within a version, the envelope, the members, their types, ranges and
// canonical form, the limits and the meaning of every reason Code do not
// change. Three additions are allowed: new reason codes, new frame kinds,
// and new optional members of a kind (as ext was added to telemetry). A
// receiver that predates an addition refuses what uses it (unknown_kind,
// unknown_member), never ignores it, so receivers are upgraded before
// senders use it. Any other change, one that would make an accepted frame
// refused or change what an accepted frame means, is a new version. Until
// fifthwheel's first tagged release the session and command bodies (hello,
// challenge_response, ack, command_ack, stop_event, and the gateway's challenge,
// ready, resume, nack and command) may still change; telemetry and heartbeat are
// fixed but for such additions. The Go API follows semantic import
// versioning.
package frame
