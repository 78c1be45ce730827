-- 0012: tracking (issue 20, "Tracking back to the TMS").
--
-- shipment_events: shipment status events in the spirit of an EDI 214, each
-- from a vehicle's signed stop_event (frame epoch, seq) that the gateway
-- checked against the vehicle's accepted dispatch of the load. client is
-- the TMS client whose tender it is (the dispatch's requester); code is the
-- 214 status code the stop event's status maps to. The unique key makes a
-- resent stop event (same vehicle, load, stop and status) a no-op.
--
-- vehicle_etas: each vehicle's latest ETA per load, from its telemetry's
-- eta (reported_us: the frame's ts, so backfill never replaces a newer
-- report); the store keeps a vehicle's 16 most recent.
--
-- Written so that it can run again on a store that already has it.
CREATE TABLE IF NOT EXISTS shipment_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client      TEXT    NOT NULL,
    tender_id   TEXT    NOT NULL,
    vehicle_id  TEXT    NOT NULL,
    stop_seq    INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    at_us       INTEGER NOT NULL,
    lat         REAL    NOT NULL,
    lon         REAL    NOT NULL,
    epoch       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    received_us INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS shipment_events_once ON shipment_events(vehicle_id, client, tender_id, stop_seq, status);
CREATE INDEX IF NOT EXISTS shipment_events_tender ON shipment_events(client, tender_id, at_us, id);

CREATE TABLE IF NOT EXISTS vehicle_etas (
    vehicle_id  TEXT    NOT NULL,
    tender_id   TEXT    NOT NULL,
    stop_seq    INTEGER NOT NULL,
    eta_us      INTEGER NOT NULL,
    reported_us INTEGER NOT NULL,
    PRIMARY KEY (vehicle_id, tender_id)
) STRICT, WITHOUT ROWID;
