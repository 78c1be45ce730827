package frame

import (
	"strconv"
	"time"
)

// KindStopEvent: a vehicle reports what happened at a stop of a load it
// was dispatched (arrived, loaded, departed, delivered), signed
// with its frame key like telemetry. The gateway checks the load and the
// stop against the vehicle's accepted dispatch before it records a
// shipment status (docs/PROTOCOL.md, "Stop events").
const KindStopEvent Kind = "stop_event"

// StopStatus is what a stop event reports.
type StopStatus string

const (
	// StopArrived: the vehicle arrived at the stop's facility.
	StopArrived StopStatus = "arrived"
	// StopLoaded: the load was loaded (a pickup).
	StopLoaded StopStatus = "loaded"
	// StopDeparted: the vehicle left the stop's facility.
	StopDeparted StopStatus = "departed"
	// StopDelivered: the receiver took the load (a delivery).
	StopDelivered StopStatus = "delivered"
)

func (s StopStatus) valid() bool {
	switch s {
	case StopArrived, StopLoaded, StopDeparted, StopDelivered:
		return true
	}
	return false
}

// StopEvent is the body of a stop_event frame: at stop StopSeq of load
// TenderID, Status happened at At, at Lat, Lon. A stop event is a fact
// the vehicle reports once; sending the same (TenderID, StopSeq, Status)
// again (a resend after a reconnect) is answered like the first and
// recorded once.
type StopEvent struct {
	// TenderID names the load, as the dispatch command's payload named
	// it: 1..MaxCommandIDLen characters of [A-Za-z0-9._-].
	TenderID string
	// StopSeq is the seq of one of the dispatch's stops, 0..MaxSafeInteger.
	StopSeq uint64
	Status  StopStatus
	// At is when it happened, in the ts form (the frame's ts is when the
	// frame was made, possibly later: a vehicle reports an event it
	// buffered while offline).
	At time.Time
	// Lat and Lon are WGS 84 degrees, where it happened.
	Lat, Lon float64
}

func (*StopEvent) Kind() Kind { return KindStopEvent }

func (*StopEvent) required() []string {
	return []string{"at", "lat", "lon", "status", "stop_seq", "tender_id"}
}

func (s *StopEvent) StaticValidate() error {
	switch {
	case !validID(s.TenderID, MaxCommandIDLen):
		return newError(CodeSchema, "/tender_id", "tender_id is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	case s.StopSeq > MaxSafeInteger:
		return newError(CodeNumberOutOfRange, "/stop_seq", "integer is above 2^53-1")
	case !s.Status.valid():
		return newError(CodeSchema, "/status", "status is not arrived, loaded, departed or delivered")
	case !inRange(s.Lat, -90, 90):
		return rangeError("/lat", -90, 90)
	case !inRange(s.Lon, -180, 180):
		return rangeError("/lon", -180, 180)
	}
	return checkTSAt(s.At, "/at")
}

func (s *StopEvent) decodeMember(name string, r *reader) (bool, error) {
	var err error
	switch name {
	case "at":
		s.At, err = r.timeMember("/at")
	case "lat":
		s.Lat, err = r.float("/lat")
	case "lon":
		s.Lon, err = r.float("/lon")
	case "status":
		var v string
		v, err = r.str("/status")
		s.Status = StopStatus(v)
	case "stop_seq":
		s.StopSeq, err = r.uint53("/stop_seq")
	case "tender_id":
		s.TenderID, err = r.str("/tender_id")
	default:
		return false, nil
	}
	return true, err
}

func (s *StopEvent) encodeMembers(w *writer) {
	w.str("at", s.At.UTC().Format(TSLayout))
	w.num("lat", s.Lat)
	w.num("lon", s.Lon)
	w.str("status", string(s.Status))
	w.uint("stop_seq", s.StopSeq)
	w.str("tender_id", s.TenderID)
}

// ETA is a telemetry frame's optional estimate of when the vehicle reaches
// the next stop of a load: stop StopSeq of TenderID, at At.
type ETA struct {
	// TenderID is 1..MaxCommandIDLen characters of [A-Za-z0-9._-].
	TenderID string
	// StopSeq is 0..MaxSafeInteger.
	StopSeq uint64
	// At is the estimated arrival, in the ts form.
	At time.Time
}

func (e *ETA) check() error {
	switch {
	case !validID(e.TenderID, MaxCommandIDLen):
		return newError(CodeSchema, "/eta/tender_id", "tender_id is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	case e.StopSeq > MaxSafeInteger:
		return newError(CodeNumberOutOfRange, "/eta/stop_seq", "integer is above 2^53-1")
	}
	return checkTSAt(e.At, "/eta/at")
}

func (e *ETA) decode(r *reader) error {
	const ptr = "/eta"
	var sn seen
	err := r.object(ptr, func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "at":
			e.At, err = r.timeMember(ptr + "/at")
		case "stop_seq":
			e.StopSeq, err = r.uint53(ptr + "/stop_seq")
		case "tender_id":
			e.TenderID, err = r.str(ptr + "/tender_id")
		default:
			err = unknown(ptr, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sn.missing(ptr, "at", "stop_seq", "tender_id")
}

func (e *ETA) encode(w *writer) {
	ew := writer{buf: make([]byte, 0, 96)}
	ew.str("at", e.At.UTC().Format(TSLayout))
	ew.uint("stop_seq", e.StopSeq)
	ew.str("tender_id", e.TenderID)
	w.object("eta", &ew)
}
