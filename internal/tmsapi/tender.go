package tmsapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Tender is a load tender, an EDI 204 in JSON. Pointers mark the members
// that are required, so that a missing one is told from a zero one.
type Tender struct {
	TenderID   string      `json:"tender_id"`
	Purpose    string      `json:"purpose"`
	References *References `json:"references"`
	Carrier    *struct {
		SCAC string `json:"scac"`
	} `json:"carrier"`
	Equipment string    `json:"equipment"`
	Stops     []Stop    `json:"stops"`
	Weights   *Weights  `json:"weights"`
	Hazmat    []Hazmat  `json:"hazmat"`
	RespondBy time.Time `json:"respond_by"`
}

// References are the shipment's references (EDI 204 L11/B2).
type References struct {
	BillOfLading      string `json:"bill_of_lading,omitempty"`
	PO                string `json:"po,omitempty"`
	CustomerReference string `json:"customer_reference,omitempty"`
}

// Stop is one stop of a tender (EDI 204 S5 loop).
type Stop struct {
	Sequence *int64    `json:"sequence"`
	Type     string    `json:"type"`
	Facility *Facility `json:"facility"`
	Window   *Window   `json:"window"`
}

// Facility is a stop's place.
type Facility struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
	TZ      string   `json:"tz"`
}

// Window is a stop's appointment window.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Weights are the load's weights.
type Weights struct {
	GrossKg *float64 `json:"gross_kg"`
}

// Hazmat is one hazardous material line (49 CFR 172.101).
type Hazmat struct {
	UNNumber           string `json:"un_number"`
	Class              string `json:"class"`
	PackingGroup       string `json:"packing_group,omitempty"`
	ProperShippingName string `json:"proper_shipping_name"`
}

// The tender purposes (EDI 204 B2A01: 00 original, 04 change, 01 cancel).
const (
	PurposeOriginal = "original"
	PurposeChange   = "change"
	PurposeCancel   = "cancel"
)

// The answers, and the reasons (package doc).
const (
	AnswerAccept    = "accept"
	AnswerDecline   = "decline"
	AnswerCancelled = "cancelled" // the answer to a cancel

	DeclineRespondByPassed = "respond_by_passed"
	DeclineNoCarrier       = "no_carrier"
	DeclineSCACMismatch    = "scac_mismatch"
	// DeclineUnknownTender is no longer given: a change or cancel of an
	// unknown tender is 404 not_found. Kept so that it is never reused.
	DeclineUnknownTender = "unknown_tender"

	// The reasons of a cancel's answer.
	ReasonCommandCancelled  = codes.CommandCancelled // a command of the tender was cancelled before delivery
	ReasonCommandInProgress = "command_in_progress"  // delivered or executed: not undone, handle it operationally
	ReasonAlreadyCancelled  = "already_cancelled"    // the tender was cancelled before
)

// TenderAnswer is the answer to a tender, an EDI 990 in spirit.
type TenderAnswer struct {
	TenderID    string    `json:"tender_id"`
	Purpose     string    `json:"purpose"`
	Answer      string    `json:"answer"`
	Reasons     []Reason  `json:"reasons"`
	Carrier     string    `json:"carrier,omitempty"`
	RespondedAt time.Time `json:"responded_at"`
	// Revision is the tender's revision the answer is about: 1 for an
	// original, +1 per change.
	Revision int64 `json:"revision,omitzero"`
	// CancelledAt is when the tender was cancelled (a cancel's answer).
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
	// Commands are the tender's commands as a cancel left them.
	Commands []TenderCommand `json:"commands,omitempty"`
}

// Reason is why a tender was declined, or what a cancel did.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
	// CommandID names the command a cancel's reason is about.
	CommandID string `json:"command_id,omitempty"`
}

// TenderCommand is one command of a cancelled tender: its state after the
// cancel, whether this cancel cancelled it, and whether it may have
// executed (then it was not undone).
type TenderCommand struct {
	ID               string `json:"id"`
	VehicleID        string `json:"vehicle_id"`
	Type             string `json:"type"`
	State            string `json:"state"`
	Cancelled        bool   `json:"cancelled"`
	PossiblyExecuted bool   `json:"possibly_executed"`
}

var (
	scacRE   = regexp.MustCompile(`^[A-Z]{2,4}$`)
	unRE     = regexp.MustCompile(`^(UN|NA)[0-9]{4}$`)
	classRE  = regexp.MustCompile(`^[1-9](\.[1-6][A-Z]?)?$`)
	equipRE  = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	tzPartRE = regexp.MustCompile(`^[A-Za-z0-9_+-]+$`)
)

// text checks a free text: 1..max bytes of UTF-8 without control
// characters (or empty when optional).
func text(s string, max int, optional bool) bool {
	if s == "" {
		return optional
	}
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validTZ: an IANA zone name the tz database knows (time.LoadLocation),
// never "Local" nor "" (which LoadLocation takes for the host's zone and
// UTC), of package frame's syntax.
func validTZ(tz string) bool {
	if tz == "" || tz == "Local" || len(tz) > frameMaxTZLen {
		return false
	}
	for _, p := range strings.Split(tz, "/") {
		if !tzPartRE.MatchString(p) {
			return false
		}
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// check says what is malformed in t, or "" (a malformed tender is 400
// tender_invalid, never a decline).
func (t *Tender) check(now time.Time) string {
	switch {
	case !principal.ValidID(t.TenderID) || len(t.TenderID) > MaxIDLen:
		return fmt.Sprintf("tender_id must be 1 to %d characters of [A-Za-z0-9._-]", MaxIDLen)
	case t.Purpose != PurposeOriginal && t.Purpose != PurposeChange && t.Purpose != PurposeCancel:
		return "purpose must be original, change or cancel"
	case t.References == nil:
		return "references is required"
	case !text(t.References.BillOfLading, MaxTextLen, true) || !text(t.References.PO, MaxTextLen, true) ||
		!text(t.References.CustomerReference, MaxTextLen, true):
		return fmt.Sprintf("a reference is over %d bytes or has control characters", MaxTextLen)
	case t.References.BillOfLading == "" && t.References.PO == "" && t.References.CustomerReference == "":
		return "references needs at least one of bill_of_lading, po, customer_reference"
	case t.Carrier == nil || !scacRE.MatchString(t.Carrier.SCAC):
		return "carrier.scac must be 2 to 4 upper-case letters"
	case !equipRE.MatchString(t.Equipment):
		return "equipment must be 1 to 32 characters of [a-z0-9_] (dry_van, reefer, flatbed, tanker)"
	case len(t.Stops) < 2 || len(t.Stops) > MaxStops:
		return fmt.Sprintf("stops must have 2 to %d entries", MaxStops)
	case t.Weights == nil || t.Weights.GrossKg == nil || !finite(*t.Weights.GrossKg) || *t.Weights.GrossKg <= 0 || *t.Weights.GrossKg > MaxGrossKg:
		return fmt.Sprintf("weights.gross_kg must be a number above 0 and at most %d", MaxGrossKg)
	case len(t.Hazmat) > MaxHazmatLines:
		return fmt.Sprintf("at most %d hazmat lines", MaxHazmatLines)
	case t.RespondBy.IsZero():
		return "respond_by is required (RFC 3339)"
	case t.RespondBy.After(now.Add(MaxRespondBy)):
		return fmt.Sprintf("respond_by is more than %v ahead", MaxRespondBy)
	}
	pickup, delivery := false, false
	for i, s := range t.Stops {
		at := fmt.Sprintf("stops[%d]", i)
		switch {
		case s.Sequence == nil || *s.Sequence < 0:
			return at + ".sequence must be a non-negative integer"
		case i > 0 && *s.Sequence <= *t.Stops[i-1].Sequence:
			return at + ".sequence must increase"
		case s.Type != "pickup" && s.Type != "delivery":
			return at + ".type must be pickup or delivery"
		case s.Facility == nil:
			return at + ".facility is required"
		case !text(s.Facility.Name, MaxNameLen, false):
			return fmt.Sprintf("%s.facility.name must be 1 to %d bytes without control characters", at, MaxNameLen)
		case !text(s.Facility.Address, MaxTextLen, false):
			return fmt.Sprintf("%s.facility.address must be 1 to %d bytes without control characters", at, MaxTextLen)
		case s.Facility.Lat == nil || !(*s.Facility.Lat >= -90 && *s.Facility.Lat <= 90):
			return at + ".facility.lat must be -90 to 90"
		case s.Facility.Lon == nil || !(*s.Facility.Lon >= -180 && *s.Facility.Lon <= 180):
			return at + ".facility.lon must be -180 to 180"
		case !validTZ(s.Facility.TZ):
			return at + ".facility.tz is not an IANA time zone (America/Chicago)"
		case s.Window == nil || s.Window.Start.IsZero() || s.Window.End.IsZero():
			return at + ".window needs start and end (RFC 3339)"
		case s.Window.End.Before(s.Window.Start):
			return at + ".window.end is before its start"
		}
		pickup = pickup || s.Type == "pickup"
		delivery = delivery || s.Type == "delivery"
	}
	if !pickup || !delivery {
		return "stops need at least one pickup and one delivery"
	}
	for i, h := range t.Hazmat {
		at := fmt.Sprintf("hazmat[%d]", i)
		switch {
		case !unRE.MatchString(h.UNNumber):
			return at + ".un_number must be UN or NA and four digits (UN1203)"
		case !classRE.MatchString(h.Class):
			return at + ".class must be a hazard class or division (3, 2.1, 1.4S)"
		case h.PackingGroup != "" && h.PackingGroup != "I" && h.PackingGroup != "II" && h.PackingGroup != "III":
			return at + ".packing_group must be I, II or III"
		case !text(h.ProperShippingName, MaxTextLen, false):
			return fmt.Sprintf("%s.proper_shipping_name must be 1 to %d bytes without control characters", at, MaxTextLen)
		}
	}
	return ""
}

// SCACOf is a carrier's SCAC: its carrier id in upper case (package doc).
func SCACOf(carrier string) string { return strings.ToUpper(carrier) }

// tender serves POST /v1/tenders: an original is stored and answered; a
// change or cancel acts on the client's stored tender of the same id.
func (a *API) tender(q *req) answer {
	now := a.d.Now().UTC()
	var t Tender
	if err := q.decode(&t); err != nil {
		return answer{err: err}
	}
	if why := t.check(now); why != "" {
		return answer{err: problem.New(http.StatusBadRequest, codes.TenderInvalid, why)}
	}
	stored, err := a.d.Store.GetTender(q.r.Context(), q.client(), t.TenderID)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return answer{err: unavailable(err)}
	case t.Purpose == PurposeOriginal && err == nil:
		return answer{err: problem.New(http.StatusConflict, codes.TenderConflict,
			"a tender with this id exists: send purpose change or cancel to act on it")}
	case t.Purpose == PurposeOriginal:
		return a.tenderOriginal(q, &t, now)
	case err != nil || stored.Carrier != q.caller.Carrier:
		// Tenders are the client's: another client's (another carrier's)
		// tender of this id is not found, exactly as an unknown one.
		return answer{err: notFound("no such tender")}
	case t.Purpose == PurposeChange:
		return a.tenderChange(q, &t, stored, now)
	}
	return a.tenderCancel(q, stored, now)
}

// judge answers t by the rules every original and change is answered by.
func (a *API) judge(q *req, t *Tender, now time.Time, revision int64) TenderAnswer {
	ans := TenderAnswer{TenderID: t.TenderID, Purpose: t.Purpose, Answer: AnswerAccept, Reasons: []Reason{},
		Carrier: q.caller.Carrier, RespondedAt: now, Revision: revision}
	decline := func(code, detail string) { ans.Reasons = append(ans.Reasons, Reason{Code: code, Detail: detail}) }
	if !t.RespondBy.After(now) {
		decline(DeclineRespondByPassed, "respond_by has passed")
	}
	switch {
	case q.caller.Carrier == "":
		decline(DeclineNoCarrier, "the caller has no carrier to take the load")
	case SCACOf(q.caller.Carrier) != t.Carrier.SCAC:
		decline(DeclineSCACMismatch, "carrier.scac is not the caller's carrier's SCAC")
	}
	if len(ans.Reasons) > 0 {
		ans.Answer = AnswerDecline
	}
	return ans
}

func reasonCodes(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

// tenderEvent is the event of an original's or a change's answer.
func tenderEvent(q *req, t *Tender, ans TenderAnswer) event.Event {
	code, verdict := codes.TenderAccepted, event.Accept
	if ans.Answer == AnswerDecline {
		code, verdict = codes.TenderDeclined, event.Reject
	}
	return event.Event{Class: event.ClassCommand, Activity: "tender", Severity: codes.SeverityOf(code, event.SeverityInfo),
		Actor: q.caller.Principal, Resource: "tender:" + t.TenderID, Verdict: verdict, Code: code,
		Attrs: map[string]any{"purpose": t.Purpose, "revision": ans.Revision, "carrier": q.caller.Carrier, "reasons": reasonCodes(ans.Reasons),
			"hazmat_lines": len(t.Hazmat), "gross_kg": *t.Weights.GrossKg}}
}

// tenderOriginal stores a new tender and its answer (201).
func (a *API) tenderOriginal(q *req, t *Tender, now time.Time) answer {
	ctx := q.r.Context()
	ans := a.judge(q, t, now, 1)
	res := jsonAnswer(http.StatusCreated, ans, nil)
	if res.err != nil {
		return res
	}
	idem := &store.IdempotencyRecord{Client: q.client(), Key: q.key, RequestSHA256: q.sha, Status: res.status, Body: res.body, Created: now}
	err := a.d.Store.CreateTender(ctx, store.Tender{Client: q.client(), ID: t.TenderID, Carrier: q.caller.Carrier, Purpose: t.Purpose,
		Body: q.body, Answer: ans.Answer, Reasons: reasonCodes(ans.Reasons), Created: now}, idem)
	switch {
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		return answer{err: problem.New(http.StatusConflict, codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request")}
	case errors.Is(err, store.ErrConflict):
		if rec, gerr := a.d.Store.GetIdempotency(ctx, q.client(), q.key, q.sha); gerr == nil {
			return replayAnswer(rec) // a retry racing the original
		}
		return answer{err: problem.New(http.StatusConflict, codes.TenderConflict, "a tender with this id exists")}
	case err != nil:
		return answer{err: unavailable(err)}
	}
	res.stored = true
	res.events = []event.Event{tenderEvent(q, t, ans)}
	return res
}
