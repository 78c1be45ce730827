package tracking

import "time"

const (
	// MaxEventsRead bounds the shipment events GET /v1/tenders/{id}/events
	// returns: at most frame.MaxStops stops and three statuses per stop per
	// vehicle, so one load's events fit with room for a re-dispatch.
	MaxEventsRead = 200

	// ReportTimeout bounds the store work of one stop event.
	ReportTimeout = 5 * time.Second
)
