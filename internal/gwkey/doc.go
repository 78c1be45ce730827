// Package gwkey holds the gateway's signing keys, in one key set per
// purpose: the frame keys (Frame), the Ed25519 keys the gateway signs every
// session frame it sends a vehicle with (challenge, ready, ack, nack,
// resume), which vehicles pin (agent.Config.GatewayFrameKeys); and the
// command keys (Command), which sign commands only (frame.SignCommand) and
// which vehicles pin apart (agent.Config.GatewayCommandKeys). It is a
// package of its own so that whatever else the gateway signs for vehicles
// uses them without importing the session layer.
//
// The two sets have the same shape, files and lifecycle; what follows
// describes the frame keys' files, and the command keys' are the same with
// "command" for "frame" (gateway-command-keys.json, .pem, .lock), kids
// "gc-" (frame.CommandKIDPrefix) for "gw-", and "command-key" for
// "frame-key" in the encryption's additional data. A key of one purpose
// never signs as the other (Key.SignFrame refuses a command key,
// frame.SignCommand a frame key's kid), and a set file moved to the other
// purpose's name does not load (its kids do not derive as that purpose's).
//
// # Key set
//
// The keys live in the CA directory (pki.dir), so replicas that share it
// share them:
//
//	<dir>/gateway-frame-keys.json  the key set (0600): every key's kid, state,
//	                               public key and, for the keys that may still
//	                               sign, its private key encrypted under the KEK
//	<dir>/gateway-frame-keys.pem   the public keys vehicles pin (0644), one PEM
//	                               "PUBLIC KEY" block per key, each preceded by
//	                               a "# <kid> <state>" line
//	<dir>/gateway-frame-keys.lock  the lock every change of the two files is
//	                               made under (0600, empty, left in place)
//
// A set holds exactly one current key (the one that signs), at most one next
// key (published, not signing yet) and at most one previous key (signed
// until the last promotion; its private key is erased at that promotion, so
// it can never sign again). A kid is "gw-" and the unpadded base64url of the
// first 16 bytes of the SHA-256 of the key's PKIX SubjectPublicKeyInfo DER
// (KeyID): a vehicle derives it from the public key alone.
//
// # Rotation
//
//  1. Rotate adds a next key and publishes it: the current key still signs.
//  2. The operator adds the published keys to every vehicle's pinned set.
//  3. Promote makes the next key current. Every gateway sharing the
//     directory takes it at its next Reload (serve: within ReloadInterval);
//     vehicles that pin both keys accept frames under either kid
//     throughout. The old key stays published as previous, for vehicles
//     talking to a replica that has not reloaded yet.
//  4. Drop removes the previous key from the set and the published file,
//     once every replica signs with the new one (or at once, if it leaked).
//
// # Concurrent changes
//
// Rotate, Promote, Drop and Open (when it creates the set or repairs the
// published file) hold an exclusive lock on the lock file (flock(2); on
// systems without it, the file's exclusive creation) from their read of the
// set to its atomic write, so of two commands run at once, by one process
// or several on the CA directory, the second starts from what the first
// wrote: two rotations publish one next key and the second is refused with
// ErrNextExists, and no change undoes another. A command that waits for the
// lock longer than lockWait (10 s) gives up with ErrLocked, changing
// nothing. Readers (List, Reload, Open of an up-to-date set) take no lock:
// each file is replaced by an atomic rename, so they read a whole old file
// or a whole new one. The lock serializes writers sharing one kernel (or a
// file system whose flock is coherent across hosts); replicas with copies
// of the directory are changed in one place and copied, as the CA is.
//
// # Security model
//
//   - The private keys (32-byte Ed25519 seeds) are encrypted at rest by the
//     KEK that encrypts the CA keys (pki.KeyEncrypter), with additional data
//     binding each to this role and its kid: a ciphertext moved under another
//     kid, or into another key file, does not decrypt.
//   - Loading refuses a key set file readable by group or others, with
//     unknown members, a kid that does not match its public key, a private
//     key that does not match its public key, or a shape other than the one
//     above. Whatever fails to load changes nothing: a running gateway keeps
//     signing with the key it has (Signer.Reload) and says so.
//   - Only the current key signs (Signer.SignFrame). Every frame carries the
//     kid of the key that signed it, so a vehicle looks the key up by kid
//     among the ones it pins and never tries another.
//   - Keys never reach logs, errors or events; Key's String names its kid.
//   - The set is as trustworthy as the CA directory: whoever can write it
//     can change the set (for example roll it back to one whose current key
//     was dropped since), as they could change the CA. Nothing here detects
//     a rollback; the directory is protected like the CA keys.
//
// # Compatibility
//
// The key set file (version 1), the published file, the kid derivation and
// the encryption's additional data are stable. A gateway-frame-key.json left
// by a version before key sets (one key) is taken over as the current key of
// a new set on the first Open, and the old files are removed.
package gwkey
