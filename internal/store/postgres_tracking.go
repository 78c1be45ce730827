package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) AcceptedLoadCommands(ctx context.Context, vehicle, tender string) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE vehicle_id=$1 AND tender_id=$2 AND state=$3 AND type IN ('dispatch','route_update') ORDER BY id LIMIT $4`,
		vehicle, tender, CommandAccepted, MaxLoadCommands)
}

func (s *pgStore) TenderVehicles(ctx context.Context, client, tender string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT vehicle_id FROM commands WHERE requested_by=$1 AND tender_id=$2 AND state=$3 AND type='dispatch'
		GROUP BY vehicle_id ORDER BY MAX(created) DESC, vehicle_id LIMIT $4`, client, tender, CommandAccepted, MaxLoadCommands)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

const pgShipmentCols = `id,client,tender_id,vehicle_id,stop_seq,status,code,at,lat,lon,epoch,seq,received`

func scanPgShipment(r pgx.Row) (ShipmentEvent, error) {
	var e ShipmentEvent
	err := r.Scan(&e.ID, &e.Client, &e.TenderID, &e.Vehicle, &e.StopSeq, &e.Status, &e.Code, &e.At, &e.Lat, &e.Lon, &e.Epoch, &e.Seq, &e.ReceivedAt)
	e.At, e.ReceivedAt = e.At.UTC(), e.ReceivedAt.UTC()
	return e, err
}

func (s *pgStore) RecordShipmentEvent(ctx context.Context, e ShipmentEvent) (ShipmentEvent, bool, error) {
	var out ShipmentEvent
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO shipment_events(client,tender_id,vehicle_id,stop_seq,status,code,at,lat,lon,epoch,seq,received)
			VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT(vehicle_id,client,tender_id,stop_seq,status) DO NOTHING`,
			e.Client, e.TenderID, e.Vehicle, e.StopSeq, e.Status, e.Code, e.At.UTC(), e.Lat, e.Lon, e.Epoch, e.Seq, e.ReceivedAt.UTC())
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		out, err = scanPgShipment(tx.QueryRow(ctx, `SELECT `+pgShipmentCols+` FROM shipment_events
			WHERE vehicle_id=$1 AND client=$2 AND tender_id=$3 AND stop_seq=$4 AND status=$5`, e.Vehicle, e.Client, e.TenderID, e.StopSeq, e.Status))
		return err
	})
	if err != nil {
		return ShipmentEvent{}, false, err
	}
	return out, created, nil
}

func (s *pgStore) ShipmentEvents(ctx context.Context, client, tender string, limit int) ([]ShipmentEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgShipmentCols+` FROM shipment_events WHERE client=$1 AND tender_id=$2 ORDER BY at, id LIMIT $3`,
		client, tender, pageSize(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ShipmentEvent, error) { return scanPgShipment(r) })
}

func (s *pgStore) PutETAs(ctx context.Context, etas []ETA) error {
	if len(etas) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, e := range etas {
			if _, err := tx.Exec(ctx, `INSERT INTO vehicle_etas(vehicle_id,tender_id,stop_seq,eta,reported) VALUES($1,$2,$3,$4,$5)
				ON CONFLICT(vehicle_id,tender_id) DO UPDATE SET stop_seq=excluded.stop_seq, eta=excluded.eta, reported=excluded.reported
				WHERE excluded.reported > vehicle_etas.reported`,
				e.Vehicle, e.TenderID, e.StopSeq, e.At.UTC(), e.ReportedAt.UTC()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM vehicle_etas WHERE vehicle_id=$1 AND tender_id NOT IN
				(SELECT tender_id FROM vehicle_etas WHERE vehicle_id=$1 ORDER BY reported DESC, tender_id LIMIT $2)`,
				e.Vehicle, MaxETAsPerVehicle); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) GetETA(ctx context.Context, vehicle, tender string) (ETA, error) {
	e := ETA{Vehicle: vehicle, TenderID: tender}
	err := s.pool.QueryRow(ctx, `SELECT stop_seq,eta,reported FROM vehicle_etas WHERE vehicle_id=$1 AND tender_id=$2`, vehicle, tender).
		Scan(&e.StopSeq, &e.At, &e.ReportedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ETA{}, fmt.Errorf("%w: eta of %s for %s", ErrNotFound, vehicle, tender)
	}
	e.At, e.ReportedAt = e.At.UTC(), e.ReportedAt.UTC()
	return e, err
}
