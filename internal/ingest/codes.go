package ingest

// Reason codes the pipeline adds to package frame's. Stable: clients and
// detection rules match on them.
const (
	CodeVehicleMismatch    = "vehicle_mismatch"     // vehicle_id differs from the certificate's identity
	CodeVehicleUnknown     = "vehicle_unknown"      // no registry entry for the certificate's vehicle
	CodeVehicleSuspended   = "vehicle_suspended"    // the vehicle is suspended or retired
	CodeUnknownKID         = "unknown_kid"          // no key under kid for this vehicle
	CodeRetiredKID         = "retired_kid"          // the key under kid is retired
	CodeReplay             = "replay"               // (vehicle, epoch, seq) already accepted with other bytes
	CodeStaleCounter       = "stale_counter"        // (epoch, seq) not newer than the last accepted frame
	CodeEpochNotAuthorized = "epoch_not_authorized" // epoch differs from the one an operator authorized
	CodeClockSkew          = "clock_skew"           // ts outside the allowed window
	CodeKindNotAllowed     = "kind_not_allowed"     // this path does not take frames of this kind
	CodeKIDChanged         = "kid_changed"          // not signed under the key its session is bound to (the hello's)

	// Event codes for accepted frames.
	CodeAccepted  = "frame_accepted"
	CodeDuplicate = "frame_duplicate"

	// Event codes of registry actions, by operators (CLI) or at enrollment:
	// the vehicle registry, frame-signing keys and the authorized epoch.
	CodeVehicleRegistered  = "vehicle_registered"
	CodeVehicleStatusSet   = "vehicle_status_changed" // suspended or resumed; attrs from, to
	CodeFrameKeyRegistered = "frame_key_registered"
	CodeFrameKeyRefused    = "frame_key_refused"
	CodeFrameKeyRetired    = "frame_key_retired"
	CodeEpochAdvanced      = "epoch_advanced"
)
