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
-- eta (reported: the frame's ts, so backfill never replaces a newer
-- report); the store keeps a vehicle's 16 most recent.
--
-- Written so that it can run again on a store that already has it.
CREATE TABLE IF NOT EXISTS shipment_events (
    id          BIGSERIAL        PRIMARY KEY,
    client      TEXT             NOT NULL,
    tender_id   TEXT             NOT NULL,
    vehicle_id  TEXT             NOT NULL,
    stop_seq    BIGINT           NOT NULL,
    status      TEXT             NOT NULL,
    code        TEXT             NOT NULL,
    at          TIMESTAMPTZ      NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL,
    epoch       BIGINT           NOT NULL,
    seq         BIGINT           NOT NULL,
    received    TIMESTAMPTZ      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS shipment_events_once ON shipment_events(vehicle_id, client, tender_id, stop_seq, status);
CREATE INDEX IF NOT EXISTS shipment_events_tender ON shipment_events(client, tender_id, at, id);

CREATE TABLE IF NOT EXISTS vehicle_etas (
    vehicle_id  TEXT        NOT NULL,
    tender_id   TEXT        NOT NULL,
    stop_seq    BIGINT      NOT NULL,
    eta         TIMESTAMPTZ NOT NULL,
    reported    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (vehicle_id, tender_id)
);
