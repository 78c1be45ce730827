package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *sqliteStore) AcceptedLoadCommands(ctx context.Context, vehicle, tender string) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+sqliteCommandCols+` FROM commands WHERE vehicle_id=? AND tender_id=? AND state=? AND type IN ('dispatch','route_update') ORDER BY id LIMIT ?`,
		vehicle, tender, CommandAccepted, MaxLoadCommands)
}

func (s *sqliteStore) TenderVehicles(ctx context.Context, client, tender string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT vehicle_id FROM commands WHERE requested_by=? AND tender_id=? AND state=? AND type='dispatch'
		GROUP BY vehicle_id ORDER BY MAX(created_us) DESC, vehicle_id LIMIT ?`, client, tender, CommandAccepted, MaxLoadCommands)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

const sqliteShipmentCols = `id,client,tender_id,vehicle_id,stop_seq,status,code,at_us,lat,lon,epoch,seq,received_us`

func scanSQLiteShipment(sc interface{ Scan(...any) error }) (ShipmentEvent, error) {
	var e ShipmentEvent
	var at, recv int64
	err := sc.Scan(&e.ID, &e.Client, &e.TenderID, &e.Vehicle, &e.StopSeq, &e.Status, &e.Code, &at, &e.Lat, &e.Lon, &e.Epoch, &e.Seq, &recv)
	e.At, e.ReceivedAt = time.UnixMicro(at).UTC(), time.UnixMicro(recv).UTC()
	return e, err
}

func (s *sqliteStore) RecordShipmentEvent(ctx context.Context, e ShipmentEvent) (ShipmentEvent, bool, error) {
	var out ShipmentEvent
	var created bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO shipment_events(client,tender_id,vehicle_id,stop_seq,status,code,at_us,lat,lon,epoch,seq,received_us)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(vehicle_id,client,tender_id,stop_seq,status) DO NOTHING`,
			e.Client, e.TenderID, e.Vehicle, e.StopSeq, e.Status, e.Code, e.At.UnixMicro(), e.Lat, e.Lon, e.Epoch, e.Seq, e.ReceivedAt.UnixMicro())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		out, err = scanSQLiteShipment(tx.QueryRow(`SELECT `+sqliteShipmentCols+` FROM shipment_events
			WHERE vehicle_id=? AND client=? AND tender_id=? AND stop_seq=? AND status=?`, e.Vehicle, e.Client, e.TenderID, e.StopSeq, e.Status))
		return err
	})
	if err != nil {
		return ShipmentEvent{}, false, err
	}
	return out, created, nil
}

func (s *sqliteStore) ShipmentEvents(ctx context.Context, client, tender string, limit int) ([]ShipmentEvent, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqliteShipmentCols+` FROM shipment_events WHERE client=? AND tender_id=? ORDER BY at_us, id LIMIT ?`,
		client, tender, pageSize(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ShipmentEvent
	for rows.Next() {
		e, err := scanSQLiteShipment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqliteStore) PutETAs(ctx context.Context, etas []ETA) error {
	if len(etas) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, e := range etas {
			if _, err := tx.Exec(`INSERT INTO vehicle_etas(vehicle_id,tender_id,stop_seq,eta_us,reported_us) VALUES(?,?,?,?,?)
				ON CONFLICT(vehicle_id,tender_id) DO UPDATE SET stop_seq=excluded.stop_seq, eta_us=excluded.eta_us, reported_us=excluded.reported_us
				WHERE excluded.reported_us > vehicle_etas.reported_us`,
				e.Vehicle, e.TenderID, e.StopSeq, e.At.UnixMicro(), e.ReportedAt.UnixMicro()); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM vehicle_etas WHERE vehicle_id=? AND tender_id NOT IN
				(SELECT tender_id FROM vehicle_etas WHERE vehicle_id=? ORDER BY reported_us DESC, tender_id LIMIT ?)`,
				e.Vehicle, e.Vehicle, MaxETAsPerVehicle); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqliteStore) GetETA(ctx context.Context, vehicle, tender string) (ETA, error) {
	e := ETA{Vehicle: vehicle, TenderID: tender}
	var at, rep int64
	err := s.rdb.QueryRowContext(ctx, `SELECT stop_seq,eta_us,reported_us FROM vehicle_etas WHERE vehicle_id=? AND tender_id=?`, vehicle, tender).
		Scan(&e.StopSeq, &at, &rep)
	if errors.Is(err, sql.ErrNoRows) {
		return ETA{}, fmt.Errorf("%w: eta of %s for %s", ErrNotFound, vehicle, tender)
	}
	e.At, e.ReportedAt = time.UnixMicro(at).UTC(), time.UnixMicro(rep).UTC()
	return e, err
}
