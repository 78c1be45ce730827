package frame

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// KindCommand: the gateway sends a vehicle a command (a tender, a dispatch,
// a route update or a cancel), signed with its command key, not its frame
// key. docs/PROTOCOL.md, "Commands", says what the vehicle checks.
const KindCommand Kind = "command"

// CommandKIDPrefix starts the kid of every gateway command key: "gc-" and
// the unpadded base64url of the first 16 bytes of SHA-256 over the key's
// PKIX SubjectPublicKeyInfo DER, as the frame keys' "gw-". The prefixes
// keep the two purposes apart in logs and configuration; what separates
// them for the vehicle is that it pins the two sets apart and verifies a
// command only with a pinned command key (SignCommand refuses other kids).
const CommandKIDPrefix = "gc-"

// CommandType is what a command asks of the vehicle.
type CommandType string

const (
	// CommandTender offers a load: its stops, for the vehicle to accept or
	// decline (it can refuse what it cannot carry or reach).
	CommandTender CommandType = "tender"
	// CommandDispatch assigns a tendered load: its stops and the planned
	// route (waypoints, with handoff points).
	CommandDispatch CommandType = "dispatch"
	// CommandRouteUpdate replaces the route (and stops) of a dispatched
	// load, with a revision and a reason.
	CommandRouteUpdate CommandType = "route_update"
	// CommandCancel cancels an earlier command, named by its command_id.
	CommandCancel CommandType = "cancel"
)

// Risk is a command's risk class, as the gateway's policy decided it.
type Risk string

const (
	RiskLow  Risk = "low"
	RiskHigh Risk = "high"
)

// StopType says what happens at a stop.
type StopType string

const (
	StopPickup   StopType = "pickup"
	StopDelivery StopType = "delivery"
)

// Command is the body of a command frame. The frame's vehicle_id is the
// addressed vehicle and its epoch, seq and ts are the gateway's (as for
// every gateway frame); CmdSeq is the vehicle's command counter, which the
// gateway owns and persists, separate from the session's seq.
type Command struct {
	// CommandID names the command: 1..MaxCommandIDLen characters of
	// [A-Za-z0-9._-], unique per vehicle.
	CommandID   string
	CommandType CommandType
	// CmdSeq is 1..MaxSafeInteger, strictly increasing per vehicle in the
	// order the gateway signs commands.
	CmdSeq uint64
	// Nonce is fresh randomness, MinNonceSize..MaxNonceSize bytes (the
	// gateway sends 16), as unpadded base64url.
	Nonce []byte
	// IssuedAt and ExpiresAt bound the command's life, at millisecond
	// precision: IssuedAt < ExpiresAt <= IssuedAt + MaxCommandLifetime.
	IssuedAt  time.Time
	ExpiresAt time.Time
	Risk      Risk
	Payload   CommandPayload
}

// CommandPayload is a command's payload member: one closed object whose
// members depend on CommandType (docs/PROTOCOL.md lists them):
//
//	tender:       tender_id, stops
//	dispatch:     tender_id, stops, waypoints
//	route_update: tender_id, revision, stops, waypoints, reason (optional)
//	cancel:       cancels, reason (optional)
//
// A member present for a type that does not define it is refused
// (CodeUnknownMember), one missing is CodeMissingMember. A zero value
// (empty string or array, revision 0) means absent and is never sent.
type CommandPayload struct {
	// TenderID names the load: 1..MaxCommandIDLen characters of
	// [A-Za-z0-9._-].
	TenderID string
	// Revision is the route's revision, 1..MaxSafeInteger (route_update).
	Revision uint64
	// Stops are 1..MaxStops stops, seq strictly increasing.
	Stops []Stop
	// Waypoints are 1..MaxWaypoints points of the planned route, seq
	// strictly increasing.
	Waypoints []Waypoint
	// Cancels is the command_id of the command a cancel cancels.
	Cancels string
	// Reason says why (route_update, cancel): 1..MaxReasonLen characters
	// of [A-Za-z0-9._-].
	Reason string
}

// Stop is one stop of a load.
type Stop struct {
	// Seq orders the stops, 0..MaxSafeInteger.
	Seq  uint64
	Type StopType
	// Facility is the facility's name: 1..MaxNameLen bytes of UTF-8, no
	// control characters.
	Facility string
	// Lat and Lon are WGS 84 degrees.
	Lat, Lon float64
	// TZ is the facility's IANA time zone name (America/Chicago): 1..MaxTZLen
	// characters of [A-Za-z0-9_+-] in '/'-separated parts. Its syntax is
	// checked here, not whether the zone exists.
	TZ string
	// WindowStart and WindowEnd bound the appointment, WindowStart <=
	// WindowEnd, in the ts form.
	WindowStart, WindowEnd time.Time
}

// Waypoint is one point of a planned route.
type Waypoint struct {
	// Seq orders the waypoints, 0..MaxSafeInteger.
	Seq uint64
	// Lat and Lon are WGS 84 degrees.
	Lat, Lon float64
	// Name is optional ("" when absent): 1..MaxNameLen bytes of UTF-8, no
	// control characters.
	Name string
	// Handoff marks a point where the load changes hands (a transfer hub).
	Handoff bool
}

func (*Command) Kind() Kind { return KindCommand }

func (*Command) required() []string {
	return []string{"cmd_seq", "command_id", "command_type", "expires_at", "issued_at", "nonce", "payload", "risk"}
}

// payloadMembers lists, per type, the payload members it defines and which
// of them are required.
var payloadMembers = map[CommandType]struct{ allowed, required []string }{
	CommandTender:      {[]string{"stops", "tender_id"}, []string{"stops", "tender_id"}},
	CommandDispatch:    {[]string{"stops", "tender_id", "waypoints"}, []string{"stops", "tender_id", "waypoints"}},
	CommandRouteUpdate: {[]string{"reason", "revision", "stops", "tender_id", "waypoints"}, []string{"revision", "stops", "tender_id", "waypoints"}},
	CommandCancel:      {[]string{"cancels", "reason"}, []string{"cancels"}},
}

func (c *Command) StaticValidate() error {
	if !validID(c.CommandID, MaxCommandIDLen) {
		return newError(CodeSchema, "/command_id", "command_id is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	}
	members, ok := payloadMembers[c.CommandType]
	if !ok {
		return newError(CodeSchema, "/command_type", "command_type is not tender, dispatch, route_update or cancel")
	}
	if c.CmdSeq == 0 || c.CmdSeq > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/cmd_seq", "cmd_seq is not 1 to 2^53-1")
	}
	if err := checkNonce(c.Nonce); err != nil {
		return err
	}
	if err := checkTSAt(c.IssuedAt, "/issued_at"); err != nil {
		return err
	}
	if err := checkTSAt(c.ExpiresAt, "/expires_at"); err != nil {
		return err
	}
	if !c.ExpiresAt.After(c.IssuedAt) || c.ExpiresAt.Sub(c.IssuedAt) > MaxCommandLifetime {
		return newError(CodeSchema, "/expires_at", "expires_at is not after issued_at and within "+MaxCommandLifetime.String()+" of it")
	}
	if c.Risk != RiskLow && c.Risk != RiskHigh {
		return newError(CodeSchema, "/risk", "risk is not low or high")
	}
	p := &c.Payload
	present := map[string]bool{
		"cancels": p.Cancels != "", "reason": p.Reason != "", "revision": p.Revision != 0,
		"stops": len(p.Stops) > 0, "tender_id": p.TenderID != "", "waypoints": len(p.Waypoints) > 0,
	}
	for _, name := range []string{"cancels", "reason", "revision", "stops", "tender_id", "waypoints"} {
		allowed := contains(members.allowed, name)
		switch {
		case present[name] && !allowed:
			return newError(CodeUnknownMember, "/payload/"+name, "member is not defined for command_type "+string(c.CommandType))
		case !present[name] && contains(members.required, name):
			return newError(CodeMissingMember, "/payload/"+name, "required member is missing")
		}
	}
	switch {
	case p.TenderID != "" && !validID(p.TenderID, MaxCommandIDLen):
		return newError(CodeSchema, "/payload/tender_id", "tender_id is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	case p.Cancels != "" && !validID(p.Cancels, MaxCommandIDLen):
		return newError(CodeSchema, "/payload/cancels", "cancels is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	case p.Reason != "" && !validID(p.Reason, MaxReasonLen):
		return newError(CodeSchema, "/payload/reason", "reason is not 1 to "+strconv.Itoa(MaxReasonLen)+" characters of [A-Za-z0-9._-]")
	case p.Revision > MaxSafeInteger:
		return newError(CodeNumberOutOfRange, "/payload/revision", "integer is above 2^53-1")
	case len(p.Stops) > MaxStops:
		return newError(CodeSchema, "/payload/stops", "more than "+strconv.Itoa(MaxStops)+" stops")
	case len(p.Waypoints) > MaxWaypoints:
		return newError(CodeSchema, "/payload/waypoints", "more than "+strconv.Itoa(MaxWaypoints)+" waypoints")
	}
	for i := range p.Stops {
		if err := p.Stops[i].check("/payload/stops/"+strconv.Itoa(i), i, p.Stops); err != nil {
			return err
		}
	}
	for i := range p.Waypoints {
		if err := p.Waypoints[i].check("/payload/waypoints/"+strconv.Itoa(i), i, p.Waypoints); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stop) check(ptr string, i int, all []Stop) error {
	switch {
	case s.Seq > MaxSafeInteger:
		return newError(CodeNumberOutOfRange, ptr+"/seq", "integer is above 2^53-1")
	case i > 0 && s.Seq <= all[i-1].Seq:
		return newError(CodeSchema, ptr+"/seq", "stop seq does not increase")
	case s.Type != StopPickup && s.Type != StopDelivery:
		return newError(CodeSchema, ptr+"/type", "type is not pickup or delivery")
	case !validName(s.Facility):
		return newError(CodeSchema, ptr+"/facility", "facility is not 1 to "+strconv.Itoa(MaxNameLen)+" bytes without control characters")
	case !inRange(s.Lat, -90, 90):
		return rangeError(ptr+"/lat", -90, 90)
	case !inRange(s.Lon, -180, 180):
		return rangeError(ptr+"/lon", -180, 180)
	case !validTZ(s.TZ):
		return newError(CodeSchema, ptr+"/tz", "tz is not an IANA time zone name of 1 to "+strconv.Itoa(MaxTZLen)+" characters")
	}
	if err := checkTSAt(s.WindowStart, ptr+"/window_start"); err != nil {
		return err
	}
	if err := checkTSAt(s.WindowEnd, ptr+"/window_end"); err != nil {
		return err
	}
	if s.WindowEnd.Before(s.WindowStart) {
		return newError(CodeSchema, ptr+"/window_end", "window_end is before window_start")
	}
	return nil
}

func (w *Waypoint) check(ptr string, i int, all []Waypoint) error {
	switch {
	case w.Seq > MaxSafeInteger:
		return newError(CodeNumberOutOfRange, ptr+"/seq", "integer is above 2^53-1")
	case i > 0 && w.Seq <= all[i-1].Seq:
		return newError(CodeSchema, ptr+"/seq", "waypoint seq does not increase")
	case !inRange(w.Lat, -90, 90):
		return rangeError(ptr+"/lat", -90, 90)
	case !inRange(w.Lon, -180, 180):
		return rangeError(ptr+"/lon", -180, 180)
	case w.Name != "" && !validName(w.Name):
		return newError(CodeSchema, ptr+"/name", "name is not 1 to "+strconv.Itoa(MaxNameLen)+" bytes without control characters")
	}
	return nil
}

// validName reports whether s is 1..MaxNameLen bytes of UTF-8 without
// control characters (C0, DEL, C1), so a name never needs more than its
// own bytes on the wire and never carries terminal escapes into logs.
func validName(s string) bool { return validText(s, MaxNameLen) }

// validTZ checks the syntax of an IANA time zone name: '/'-separated parts
// of [A-Za-z0-9_+-], none empty, none "." or "..".
func validTZ(s string) bool {
	if s == "" || len(s) > MaxTZLen {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '+' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkTSAt is checkTS for a time member other than ts.
func checkTSAt(t time.Time, ptr string) error {
	if err := checkTS(t); err != nil {
		err.(*Error).Pointer = ptr
		return err
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// timeMember reads a time member in the ts form.
func (r *reader) timeMember(ptr string) (time.Time, error) {
	s, err := r.str(ptr)
	if err != nil {
		return time.Time{}, err
	}
	t, err := parseTS(s)
	if err != nil {
		err.(*Error).Pointer = ptr
		return time.Time{}, err
	}
	return t, nil
}

// nonEmpty reads a string member whose "" would encode as absent: "" is
// refused, so that the frame re-encodes to its bytes.
func (r *reader) nonEmpty(ptr string) (string, error) {
	s, err := r.str(ptr)
	if err == nil && s == "" {
		err = newError(CodeSchema, ptr, "empty string (omit the member instead)")
	}
	return s, err
}

func (c *Command) decodeMember(name string, r *reader) (bool, error) {
	var err error
	switch name {
	case "cmd_seq":
		c.CmdSeq, err = r.uint53("/cmd_seq")
	case "command_id":
		c.CommandID, err = r.str("/command_id")
	case "command_type":
		var s string
		s, err = r.str("/command_type")
		c.CommandType = CommandType(s)
	case "expires_at":
		c.ExpiresAt, err = r.timeMember("/expires_at")
	case "issued_at":
		c.IssuedAt, err = r.timeMember("/issued_at")
	case "nonce":
		c.Nonce, err = r.bytes64("/nonce")
	case "payload":
		err = c.Payload.decode(r)
	case "risk":
		var s string
		s, err = r.str("/risk")
		c.Risk = Risk(s)
	default:
		return false, nil
	}
	return true, err
}

func (p *CommandPayload) decode(r *reader) error {
	const ptr = "/payload"
	return r.object(ptr, func(name string) error {
		var err error
		switch name {
		case "cancels":
			p.Cancels, err = r.nonEmpty(ptr + "/cancels")
		case "reason":
			p.Reason, err = r.nonEmpty(ptr + "/reason")
		case "revision":
			p.Revision, err = r.uint53(ptr + "/revision")
			if err == nil && p.Revision == 0 {
				err = newError(CodeSchema, ptr+"/revision", "revision is 0 (revisions start at 1)")
			}
		case "stops":
			err = r.array(ptr+"/stops", MaxStops, func(i int, ep string) error {
				var s Stop
				if err := s.decode(r, ep); err != nil {
					return err
				}
				p.Stops = append(p.Stops, s)
				return nil
			})
			if err == nil && len(p.Stops) == 0 {
				err = newError(CodeSchema, ptr+"/stops", "empty array (omit the member instead)")
			}
		case "tender_id":
			p.TenderID, err = r.nonEmpty(ptr + "/tender_id")
		case "waypoints":
			err = r.array(ptr+"/waypoints", MaxWaypoints, func(i int, ep string) error {
				var w Waypoint
				if err := w.decode(r, ep); err != nil {
					return err
				}
				p.Waypoints = append(p.Waypoints, w)
				return nil
			})
			if err == nil && len(p.Waypoints) == 0 {
				err = newError(CodeSchema, ptr+"/waypoints", "empty array (omit the member instead)")
			}
		default:
			err = unknown(ptr, name)
		}
		return err
	})
}

func (s *Stop) decode(r *reader, ptr string) error {
	var sn seen
	err := r.object(ptr, func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "facility":
			s.Facility, err = r.str(ptr + "/facility")
		case "lat":
			s.Lat, err = r.float(ptr + "/lat")
		case "lon":
			s.Lon, err = r.float(ptr + "/lon")
		case "seq":
			s.Seq, err = r.uint53(ptr + "/seq")
		case "type":
			var t string
			t, err = r.str(ptr + "/type")
			s.Type = StopType(t)
		case "tz":
			s.TZ, err = r.str(ptr + "/tz")
		case "window_end":
			s.WindowEnd, err = r.timeMember(ptr + "/window_end")
		case "window_start":
			s.WindowStart, err = r.timeMember(ptr + "/window_start")
		default:
			err = unknown(ptr, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sn.missing(ptr, "facility", "lat", "lon", "seq", "type", "tz", "window_end", "window_start")
}

func (w *Waypoint) decode(r *reader, ptr string) error {
	var sn seen
	err := r.object(ptr, func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "handoff":
			w.Handoff, err = r.boolean(ptr + "/handoff")
		case "lat":
			w.Lat, err = r.float(ptr + "/lat")
		case "lon":
			w.Lon, err = r.float(ptr + "/lon")
		case "name":
			w.Name, err = r.nonEmpty(ptr + "/name")
		case "seq":
			w.Seq, err = r.uint53(ptr + "/seq")
		default:
			err = unknown(ptr, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sn.missing(ptr, "handoff", "lat", "lon", "seq")
}

func (c *Command) encodeMembers(w *writer) {
	w.uint("cmd_seq", c.CmdSeq)
	w.str("command_id", c.CommandID)
	w.str("command_type", string(c.CommandType))
	w.str("expires_at", c.ExpiresAt.UTC().Format(TSLayout))
	w.str("issued_at", c.IssuedAt.UTC().Format(TSLayout))
	encodeNonce(w, c.Nonce)
	p := &c.Payload
	pw := writer{buf: make([]byte, 0, 256)}
	if p.Cancels != "" {
		pw.str("cancels", p.Cancels)
	}
	if p.Reason != "" {
		pw.str("reason", p.Reason)
	}
	if p.Revision != 0 {
		pw.uint("revision", p.Revision)
	}
	if len(p.Stops) > 0 {
		elems := make([][]byte, len(p.Stops))
		for i := range p.Stops {
			s := &p.Stops[i]
			sw := writer{buf: make([]byte, 0, 256)}
			sw.str("facility", s.Facility)
			sw.num("lat", s.Lat)
			sw.num("lon", s.Lon)
			sw.uint("seq", s.Seq)
			sw.str("type", string(s.Type))
			sw.str("tz", s.TZ)
			sw.str("window_end", s.WindowEnd.UTC().Format(TSLayout))
			sw.str("window_start", s.WindowStart.UTC().Format(TSLayout))
			elems[i] = sw.append(nil)
		}
		pw.array("stops", elems)
	}
	if p.TenderID != "" {
		pw.str("tender_id", p.TenderID)
	}
	if len(p.Waypoints) > 0 {
		elems := make([][]byte, len(p.Waypoints))
		for i := range p.Waypoints {
			wp := &p.Waypoints[i]
			ww := writer{buf: make([]byte, 0, 128)}
			ww.boolean("handoff", wp.Handoff)
			ww.num("lat", wp.Lat)
			ww.num("lon", wp.Lon)
			if wp.Name != "" {
				ww.str("name", wp.Name)
			}
			ww.uint("seq", wp.Seq)
			elems[i] = ww.append(nil)
		}
		pw.array("waypoints", elems)
	}
	w.object("payload", &pw)
	w.str("risk", string(c.Risk))
}

// Verdict is a vehicle's answer to a command.
type Verdict string

const (
	// VerdictAccepted: the vehicle's AV stack took the command.
	VerdictAccepted Verdict = "accepted"
	// VerdictRejected: the vehicle refused the command; Reason says why.
	VerdictRejected Verdict = "rejected"
)

// CommandAck is the body of a vehicle's answer to a command, signed with
// the vehicle's frame key under its own (epoch, seq). CommandID and
// CmdSeq name the command answered.
type CommandAck struct {
	// CommandID is 1..MaxCommandIDLen characters of [A-Za-z0-9._-].
	CommandID string
	// CmdSeq is the answered command's cmd_seq, 1..MaxSafeInteger.
	CmdSeq  uint64
	Verdict Verdict
	// Reason is a reason code, present exactly when Verdict is
	// VerdictRejected: 1..MaxReasonLen characters of [A-Za-z0-9._-].
	Reason string
	// Detail is optional text for people, with either verdict: 1..MaxDetailLen
	// bytes of UTF-8 without control characters; "" when absent.
	Detail string
}

func (*CommandAck) Kind() Kind { return KindCommandAck }
func (*CommandAck) required() []string {
	return []string{"cmd_seq", "command_id", "verdict"}
}

func (c *CommandAck) StaticValidate() error {
	if !validID(c.CommandID, MaxCommandIDLen) {
		return newError(CodeSchema, "/command_id", "command_id is not 1 to "+strconv.Itoa(MaxCommandIDLen)+" characters of [A-Za-z0-9._-]")
	}
	if c.CmdSeq == 0 || c.CmdSeq > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/cmd_seq", "cmd_seq is not 1 to 2^53-1")
	}
	switch c.Verdict {
	case VerdictAccepted:
		if c.Reason != "" {
			return newError(CodeSchema, "/reason", "reason is only allowed with verdict rejected")
		}
	case VerdictRejected:
		if c.Reason == "" {
			return newError(CodeMissingMember, "/reason", "verdict rejected requires a reason")
		}
		if !validID(c.Reason, MaxReasonLen) {
			return newError(CodeSchema, "/reason", "reason is not 1 to "+strconv.Itoa(MaxReasonLen)+" characters of [A-Za-z0-9._-]")
		}
	default:
		return newError(CodeSchema, "/verdict", "verdict is not accepted or rejected")
	}
	if c.Detail != "" && !validText(c.Detail, MaxDetailLen) {
		return newError(CodeSchema, "/detail", "detail is not 1 to "+strconv.Itoa(MaxDetailLen)+" bytes without control characters")
	}
	return nil
}

// validText reports whether s is 1..max bytes of UTF-8 without control
// characters (C0, DEL, C1).
func validText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

func (c *CommandAck) decodeMember(name string, r *reader) (bool, error) {
	var err error
	switch name {
	case "cmd_seq":
		c.CmdSeq, err = r.uint53("/cmd_seq")
	case "command_id":
		c.CommandID, err = r.str("/command_id")
	case "detail":
		c.Detail, err = r.nonEmpty("/detail")
	case "reason":
		c.Reason, err = r.nonEmpty("/reason")
	case "verdict":
		var s string
		s, err = r.str("/verdict")
		c.Verdict = Verdict(s)
	default:
		return false, nil
	}
	return true, err
}

func (c *CommandAck) encodeMembers(w *writer) {
	w.uint("cmd_seq", c.CmdSeq)
	w.str("command_id", c.CommandID)
	if c.Detail != "" {
		w.str("detail", c.Detail)
	}
	if c.Reason != "" {
		w.str("reason", c.Reason)
	}
	w.str("verdict", string(c.Verdict))
}

// SignCommand signs a command frame for the gateway: f's body must be a
// *Command and kid a command key's (CommandKIDPrefix), so a command can
// never go out under a frame key's kid. Otherwise it is Sign.
func SignCommand(s Signer, kid string, f *Frame) ([]byte, error) {
	if f == nil {
		return nil, newError(CodeSchema, "", "no frame")
	}
	if _, ok := f.Body.(*Command); !ok {
		return nil, newError(CodeSchema, "/kind", "SignCommand signs command frames only")
	}
	if !strings.HasPrefix(kid, CommandKIDPrefix) {
		return nil, newError(CodeBadKID, "/kid", "a command is signed under a command key's kid ("+CommandKIDPrefix+"...)")
	}
	return Sign(s, kid, f)
}

// CommandDigest returns the SHA-256 of a command frame's canonical bytes
// with epoch and seq set to 0 and ts to the command's issued_at: what stays
// the same when the gateway signs a command again to deliver it again (on
// another session, under a new epoch, seq and ts). Two deliveries are the
// same command exactly when their digests are equal; the vehicle's
// executed-command log keys on (cmd_seq, command_id, digest).
func CommandDigest(f *Frame) ([32]byte, error) {
	c, ok := f.Body.(*Command)
	if !ok {
		return [32]byte{}, newError(CodeSchema, "/kind", "not a command frame")
	}
	g := Frame{VehicleID: f.VehicleID, TS: c.IssuedAt, Body: c}
	b, err := g.MarshalCanonical()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ParseCommandPayload reads a command's payload member from its JSON
// object b (the gateway stores what the TMS sent): strict I-JSON, the
// payload's members only (unknown, duplicate or empty ones are refused
// as in a frame), at most MaxFrameSize bytes. The per-type rules (which
// members a command_type requires) are Command.StaticValidate's, run when
// the command is signed.
func ParseCommandPayload(b []byte) (CommandPayload, error) {
	if len(b) > MaxFrameSize {
		return CommandPayload{}, newError(CodeTooLarge, "/payload", "payload is larger than a frame")
	}
	// The payload sits at depth 2 of a frame: object, array, object below it.
	if _, err := walk(b, MaxFrameDepth-1, nil); err != nil {
		return CommandPayload{}, err
	}
	c, err := canonicalize(b)
	if err != nil {
		return CommandPayload{}, err
	}
	var p CommandPayload
	if err := p.decode(newReader(c)); err != nil {
		return CommandPayload{}, err
	}
	return p, nil
}
