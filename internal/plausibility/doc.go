// Package plausibility holds the cross-sensor plausibility rules of
// telemetry: wheel vs GNSS speed disagreement, position jumps, GNSS fix
// loss and leaving the fleet's operating area. It holds the rules'
// thresholds with their defaults and bounds (limits.go) and the operating
// area's parser (area.go), in one place: the gateway's configuration
// (internal/config) refers to them, and the telemetry pipeline
// (internal/ingest) runs the rules on every verified telemetry frame.
//
// # Security model
//
// A finding never refuses a frame: the frame is authentic (the vehicle
// signed it); a finding is kept with the frame and raised as a finding event
// for detection. The rules read the schema's members only (Sample), never a
// frame's ext, so a truck cannot steer them. Thresholds that would turn a
// rule off or make it fire on healthy trucks are refused (New, and the
// configuration with the same bounds). The state behind the rules is per
// replica and in memory: with several replicas, a vehicle's frames reach
// them in turns and a run of disagreeing frames may be split, so a finding
// may come later, never falsely.
//
// # Compatibility
//
// Internal; its finding codes are the public catalogue's (package codes),
// stable as documented there. The operating area's text form is the
// configuration's plausibility.operating_area and stays accepted.
//
// It imports nothing of the module but codes (and so frame), so the
// configuration can name its defaults without the pipeline's dependencies.
package plausibility
