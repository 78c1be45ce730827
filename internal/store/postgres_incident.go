package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgIncidentCols = `id,subject_kind,subject,title,severity,safety,state,opened,updated,last_finding,rule_ids`

func scanPgIncident(sc interface{ Scan(...any) error }) (Incident, error) {
	var i Incident
	err := sc.Scan(&i.ID, &i.SubjectKind, &i.Subject, &i.Title, &i.Severity, &i.Safety, &i.State, &i.OpenedAt, &i.UpdatedAt, &i.LastFindingAt, &i.RuleIDs)
	i.OpenedAt, i.UpdatedAt, i.LastFindingAt = i.OpenedAt.UTC(), i.UpdatedAt.UTC(), i.LastFindingAt.UTC()
	return i, err
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// pgLockIncident locks incident id's row (so the n of its child rows is
// taken by one transaction at a time) and returns it; ErrNotFound if absent.
func pgLockIncident(ctx context.Context, tx pgx.Tx, id string) (Incident, error) {
	i, err := scanPgIncident(tx.QueryRow(ctx, `SELECT `+pgIncidentCols+` FROM incidents WHERE id=$1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	return i, err
}

func pgNext(ctx context.Context, tx pgx.Tx, table, id string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT coalesce(max(n),0)+1 FROM `+table+` WHERE incident_id=$1`, id).Scan(&n)
	return n, err
}

func pgInsertFinding(ctx context.Context, tx pgx.Tx, id string, f IncidentFinding) error {
	n, err := pgNext(ctx, tx, "incident_findings", id)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO incident_findings(id,incident_id,n,rule_id,title,severity,safety,first,at,count,event_ids,runbook)
		VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (id) DO NOTHING`, f.ID, id, n, f.RuleID, f.Title, f.Severity, f.Safety,
		f.FirstAt.UTC(), f.At.UTC(), f.Count, nonNilStrings(f.EventIDs), f.Runbook)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: finding %s", ErrConflict, f.ID)
	}
	return nil
}

func (s *pgStore) CreateIncident(ctx context.Context, inc Incident, first IncidentFinding, clocks []IncidentClock, actor string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO incidents(`+pgIncidentCols+`) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (id) DO NOTHING`,
			inc.ID, inc.SubjectKind, inc.Subject, inc.Title, inc.Severity, inc.Safety, IncidentOpen, inc.OpenedAt.UTC(),
			inc.UpdatedAt.UTC(), inc.LastFindingAt.UTC(), nonNilStrings(sortedDistinct(inc.RuleIDs)))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: incident %s", ErrConflict, inc.ID)
		}
		if err := pgInsertFinding(ctx, tx, inc.ID, first); err != nil {
			return err
		}
		for _, c := range clocks {
			if _, err := tx.Exec(ctx, `INSERT INTO incident_clocks(incident_id,kind,due,done,escalated) VALUES($1,$2,$3,$4,$5)`,
				inc.ID, c.Kind, c.DueAt.UTC(), tsOrNil(c.DoneAt), tsOrNil(c.EscalatedAt)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO incident_transitions(incident_id,n,from_state,to_state,at,actor,reason) VALUES($1,1,'',$2,$3,$4,$5)`,
			inc.ID, IncidentOpen, inc.OpenedAt.UTC(), actor, "finding "+first.ID)
		return err
	})
}

func (s *pgStore) AddIncidentFinding(ctx context.Context, id string, f IncidentFinding, at time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		inc, err := pgLockIncident(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := pgInsertFinding(ctx, tx, id, f); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE incidents SET severity=greatest(severity,$1), safety=(safety OR $2), rule_ids=$3,
			last_finding=greatest(last_finding,$4), updated=$5 WHERE id=$6`,
			f.Severity, f.Safety, sortedDistinct(append(inc.RuleIDs, f.RuleID)), f.At.UTC(), at.UTC(), id)
		return err
	})
}

func (s *pgStore) IncidentOfFinding(ctx context.Context, fid string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT incident_id FROM incident_findings WHERE id=$1`, fid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: finding %s", ErrNotFound, fid)
	}
	return id, err
}

func (s *pgStore) LatestUnresolvedIncident(ctx context.Context, subjectKind, subject string) (Incident, error) {
	i, err := scanPgIncident(s.pool.QueryRow(ctx, `SELECT `+pgIncidentCols+` FROM incidents
		WHERE subject_kind=$1 AND subject=$2 AND state<>$3 ORDER BY id DESC LIMIT 1`, subjectKind, subject, IncidentResolved))
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, fmt.Errorf("%w: unresolved incident of %s %s", ErrNotFound, subjectKind, subject)
	}
	return i, err
}

func (s *pgStore) GetIncident(ctx context.Context, id string) (Incident, error) {
	i, err := scanPgIncident(s.pool.QueryRow(ctx, `SELECT `+pgIncidentCols+` FROM incidents WHERE id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	return i, err
}

func (s *pgStore) ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	q := `SELECT ` + pgIncidentCols + ` FROM incidents WHERE id > $1`
	args := []any{f.After}
	if f.State != "" {
		q += ` AND state = $2`
		args = append(args, f.State)
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, pageSize(f.Limit))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incident, error) { return scanPgIncident(r) })
}

func (s *pgStore) IncidentRecord(ctx context.Context, id string) (IncidentRecord, error) {
	var r IncidentRecord
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		r.Incident, err = scanPgIncident(tx.QueryRow(ctx, `SELECT `+pgIncidentCols+` FROM incidents WHERE id=$1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: incident %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		each := func(q string, scan func(pgx.Rows) error) error {
			rows, err := tx.Query(ctx, q, id)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		}
		return errors.Join(
			each(`SELECT id,rule_id,title,severity,safety,first,at,count,event_ids,runbook FROM incident_findings WHERE incident_id=$1 ORDER BY n`, func(rows pgx.Rows) error {
				var f IncidentFinding
				if err := rows.Scan(&f.ID, &f.RuleID, &f.Title, &f.Severity, &f.Safety, &f.FirstAt, &f.At, &f.Count, &f.EventIDs, &f.Runbook); err != nil {
					return err
				}
				f.FirstAt, f.At = f.FirstAt.UTC(), f.At.UTC()
				r.Findings = append(r.Findings, f)
				return nil
			}),
			each(`SELECT kind,due,done,escalated FROM incident_clocks WHERE incident_id=$1 ORDER BY due, kind`, func(rows pgx.Rows) error {
				c := IncidentClock{Incident: id}
				var done, esc *time.Time
				if err := rows.Scan(&c.Kind, &c.DueAt, &done, &esc); err != nil {
					return err
				}
				c.DueAt, c.DoneAt, c.EscalatedAt = c.DueAt.UTC(), zeroIfNil(done), zeroIfNil(esc)
				r.Clocks = append(r.Clocks, c)
				return nil
			}),
			each(`SELECT actor,at,text FROM incident_notes WHERE incident_id=$1 ORDER BY n`, func(rows pgx.Rows) error {
				n := IncidentNote{Incident: id}
				if err := rows.Scan(&n.Actor, &n.At, &n.Text); err != nil {
					return err
				}
				n.At = n.At.UTC()
				r.Notes = append(r.Notes, n)
				return nil
			}),
			each(`SELECT from_state,to_state,at,actor,reason FROM incident_transitions WHERE incident_id=$1 ORDER BY n`, func(rows pgx.Rows) error {
				t := IncidentTransition{Incident: id}
				if err := rows.Scan(&t.From, &t.To, &t.At, &t.Actor, &t.Reason); err != nil {
					return err
				}
				t.At = t.At.UTC()
				r.Transitions = append(r.Transitions, t)
				return nil
			}),
			each(`SELECT clock,channel,recipient,at,actor,reference FROM incident_notifications WHERE incident_id=$1 ORDER BY n`, func(rows pgx.Rows) error {
				n := IncidentNotification{Incident: id}
				if err := rows.Scan(&n.Clock, &n.Channel, &n.Recipient, &n.At, &n.Actor, &n.Reference); err != nil {
					return err
				}
				n.At = n.At.UTC()
				r.Notifications = append(r.Notifications, n)
				return nil
			}),
			each(`SELECT action,target,actor,at,result FROM incident_containment WHERE incident_id=$1 ORDER BY n`, func(rows pgx.Rows) error {
				c := IncidentContainment{Incident: id}
				if err := rows.Scan(&c.Action, &c.Target, &c.Actor, &c.At, &c.Result); err != nil {
					return err
				}
				c.At = c.At.UTC()
				r.Containment = append(r.Containment, c)
				return nil
			}),
		)
	})
	if err != nil {
		return IncidentRecord{}, err
	}
	return r, nil
}

func (s *pgStore) TransitionIncident(ctx context.Context, tr IncidentTransition, doneClock IncidentClockKind) (Incident, error) {
	var inc Incident
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var resolved *time.Time // when it becomes resolved: the retention counts from it
		if tr.To == IncidentResolved {
			at := tr.At.UTC()
			resolved = &at
		}
		tag, err := tx.Exec(ctx, `UPDATE incidents SET state=$1, updated=$2, resolved=coalesce($5, resolved) WHERE id=$3 AND state=$4`,
			tr.To, tr.At.UTC(), tr.Incident, tr.From, resolved)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var cur string
			err := tx.QueryRow(ctx, `SELECT state FROM incidents WHERE id=$1`, tr.Incident).Scan(&cur)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: incident %s", ErrNotFound, tr.Incident)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: incident %s is %s, not %s", ErrConflict, tr.Incident, cur, tr.From)
		}
		n, err := pgNext(ctx, tx, "incident_transitions", tr.Incident)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO incident_transitions(incident_id,n,from_state,to_state,at,actor,reason) VALUES($1,$2,$3,$4,$5,$6,$7)`,
			tr.Incident, n, tr.From, tr.To, tr.At.UTC(), tr.Actor, tr.Reason); err != nil {
			return err
		}
		if doneClock != "" {
			if _, err := tx.Exec(ctx, `UPDATE incident_clocks SET done=$1 WHERE incident_id=$2 AND kind=$3 AND done IS NULL`,
				tr.At.UTC(), tr.Incident, doneClock); err != nil {
				return err
			}
		}
		inc, err = scanPgIncident(tx.QueryRow(ctx, `SELECT `+pgIncidentCols+` FROM incidents WHERE id=$1`, tr.Incident))
		return err
	})
	return inc, err
}

func (s *pgStore) AddIncidentNote(ctx context.Context, n IncidentNote) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := pgLockIncident(ctx, tx, n.Incident); err != nil {
			return err
		}
		k, err := pgNext(ctx, tx, "incident_notes", n.Incident)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO incident_notes(incident_id,n,actor,at,text) VALUES($1,$2,$3,$4,$5)`, n.Incident, k, n.Actor, n.At.UTC(), n.Text)
		return err
	})
}

func pgInsertNotification(ctx context.Context, tx pgx.Tx, n IncidentNotification) error {
	k, err := pgNext(ctx, tx, "incident_notifications", n.Incident)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO incident_notifications(incident_id,n,clock,channel,recipient,at,actor,reference) VALUES($1,$2,$3,$4,$5,$6,$7,$8)`,
		n.Incident, k, n.Clock, n.Channel, n.Recipient, n.At.UTC(), n.Actor, n.Reference)
	return err
}

func (s *pgStore) RecordIncidentNotification(ctx context.Context, n IncidentNotification) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := pgLockIncident(ctx, tx, n.Incident); err != nil {
			return err
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM incident_clocks WHERE incident_id=$1 AND kind=$2`, n.Incident, n.Clock).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: clock %s of incident %s", ErrNotFound, n.Clock, n.Incident)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE incident_clocks SET done=$1 WHERE incident_id=$2 AND kind=$3 AND done IS NULL`,
			n.At.UTC(), n.Incident, n.Clock); err != nil {
			return err
		}
		return pgInsertNotification(ctx, tx, n)
	})
}

func (s *pgStore) RecordIncidentContainment(ctx context.Context, c IncidentContainment) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := pgLockIncident(ctx, tx, c.Incident); err != nil {
			return err
		}
		k, err := pgNext(ctx, tx, "incident_containment", c.Incident)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO incident_containment(incident_id,n,action,target,actor,at,result) VALUES($1,$2,$3,$4,$5,$6,$7)`,
			c.Incident, k, c.Action, c.Target, c.Actor, c.At.UTC(), c.Result)
		return err
	})
}

func (s *pgStore) DueIncidentClocks(ctx context.Context, now time.Time, limit int) ([]IncidentClock, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.incident_id,c.kind,c.due FROM incident_clocks c JOIN incidents i ON i.id=c.incident_id
		WHERE c.done IS NULL AND c.escalated IS NULL AND c.due <= $1 AND i.state <> $2 ORDER BY c.due, c.incident_id, c.kind LIMIT $3`,
		now.UTC(), IncidentResolved, pageSize(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (IncidentClock, error) {
		var c IncidentClock
		err := r.Scan(&c.Incident, &c.Kind, &c.DueAt)
		c.DueAt = c.DueAt.UTC()
		return c, err
	})
}

func (s *pgStore) EscalateIncidentClock(ctx context.Context, n IncidentNotification) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := pgLockIncident(ctx, tx, n.Incident); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE incident_clocks SET escalated=$1 WHERE incident_id=$2 AND kind=$3 AND done IS NULL AND escalated IS NULL`,
			n.At.UTC(), n.Incident, n.Clock)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM incident_clocks WHERE incident_id=$1 AND kind=$2`, n.Incident, n.Clock).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: clock %s of incident %s", ErrNotFound, n.Clock, n.Incident)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: clock %s of incident %s is done or escalated", ErrConflict, n.Clock, n.Incident)
		}
		return pgInsertNotification(ctx, tx, n)
	})
}

// PurgeResolvedIncidents runs as one short transaction in a bulk slot
// (never on the heartbeat connections). The incidents it deletes are
// locked first (FOR UPDATE SKIP LOCKED): replicas purging at once take
// disjoint incidents, and a note or notification being added to one waits
// for the purge and then finds it gone.
func (s *pgStore) PurgeResolvedIncidents(ctx context.Context, resolvedBefore time.Time, limit int) (int, error) {
	limit = incidentPurgeBatch(limit)
	release, err := s.bulkSlot(Bulk(ctx))
	if err != nil {
		return 0, err
	}
	defer release()
	var n int
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT id FROM incidents WHERE resolved IS NOT NULL AND resolved < $1 AND state = $2
			ORDER BY resolved, id LIMIT $3 FOR UPDATE SKIP LOCKED`, resolvedBefore.UTC(), IncidentResolved, limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, table := range incidentChildTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE incident_id = ANY($1)`, ids); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM incidents WHERE id = ANY($1)`, ids)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *pgStore) SetVehicleHold(ctx context.Context, h VehicleHold) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM vehicles WHERE id=$1 FOR SHARE`, h.Vehicle).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, h.Vehicle)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO vehicle_holds(vehicle,incident_id,actor,at,reason) VALUES($1,$2,$3,$4,$5)
			ON CONFLICT(vehicle) DO UPDATE SET incident_id=excluded.incident_id, actor=excluded.actor, at=excluded.at, reason=excluded.reason`,
			h.Vehicle, h.Incident, h.Actor, h.At.UTC(), h.Reason)
		return err
	})
}

func (s *pgStore) GetVehicleHold(ctx context.Context, vehicle string) (VehicleHold, error) {
	h := VehicleHold{Vehicle: vehicle}
	err := s.pool.QueryRow(ctx, `SELECT incident_id,actor,at,reason FROM vehicle_holds WHERE vehicle=$1`, vehicle).Scan(&h.Incident, &h.Actor, &h.At, &h.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return VehicleHold{}, fmt.Errorf("%w: hold on vehicle %s", ErrNotFound, vehicle)
	}
	h.At = h.At.UTC()
	return h, err
}

func (s *pgStore) ReleaseVehicleHold(ctx context.Context, vehicle string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM vehicle_holds WHERE vehicle=$1`, vehicle)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: hold on vehicle %s", ErrNotFound, vehicle)
	}
	return nil
}
