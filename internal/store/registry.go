package store

import "time"

// The registry change feed. Every write that changes what a cache of the
// registry may hold (CreateVehicle, SetVehicleStatus, AddVehicleKey,
// RetireVehicleKey, SealVehicleKey) appends, in its own transaction, one
// RegistryChange naming the vehicle; a write that fails appends none (one
// that changes nothing, such as retiring a retired key, may append one). Versions are contiguous and in commit order: every change
// takes the next version, and a change is visible only once every change
// with a lower version is. So a reader that has applied every change up to
// v and reads after v misses nothing, and one whose next change is not
// v+1 knows it missed some (pruned, see RegistryChangeRetention): a gap.
// latest going below what a reader applied means the store went back (a
// restored backup): a reader must then forget what it cached too.
//
// The vehicle status version (VehicleStatusVersion, which
// pki.SuspensionWatch polls) is a separate counter and moves as before.

// RegistryChange is one change of the vehicle registry.
type RegistryChange struct {
	Version   int64
	VehicleID string
	// At is when the change was written: the writing process's clock on
	// SQLite, the database server's on PostgreSQL (microseconds).
	At time.Time
}
