package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const sqliteIncidentCols = `id,subject_kind,subject,title,severity,safety,state,opened_us,updated_us,last_finding_us,rule_ids`

func scanSQLiteIncident(sc interface{ Scan(...any) error }) (Incident, error) {
	var i Incident
	var opened, updated, last int64
	var rules string
	err := sc.Scan(&i.ID, &i.SubjectKind, &i.Subject, &i.Title, &i.Severity, &i.Safety, &i.State, &opened, &updated, &last, &rules)
	if err != nil {
		return Incident{}, err
	}
	i.OpenedAt, i.UpdatedAt, i.LastFindingAt = time.UnixMicro(opened).UTC(), time.UnixMicro(updated).UTC(), time.UnixMicro(last).UTC()
	if err := json.Unmarshal([]byte(rules), &i.RuleIDs); err != nil {
		return Incident{}, fmt.Errorf("store: incident %s rule ids: %v", i.ID, err)
	}
	return i, nil
}

func jsonStrings(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v) // strings always marshal
	return string(b)
}

// sqliteNext is the next n of incident id in table (1 for the first).
func sqliteNext(tx *sql.Tx, table, id string) (int64, error) {
	var n int64
	err := tx.QueryRow(`SELECT coalesce(max(n),0)+1 FROM `+table+` WHERE incident_id=?`, id).Scan(&n)
	return n, err
}

func sqliteIncidentExists(tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM incidents WHERE id=?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	return err
}

func sqliteInsertFinding(tx *sql.Tx, id string, f IncidentFinding) error {
	var one int
	if err := tx.QueryRow(`SELECT 1 FROM incident_findings WHERE id=?`, f.ID).Scan(&one); err == nil {
		return fmt.Errorf("%w: finding %s", ErrConflict, f.ID)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	n, err := sqliteNext(tx, "incident_findings", id)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO incident_findings(id,incident_id,n,rule_id,title,severity,safety,first_us,at_us,count,event_ids,runbook)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`, f.ID, id, n, f.RuleID, f.Title, f.Severity, f.Safety, f.FirstAt.UnixMicro(), f.At.UnixMicro(),
		f.Count, jsonStrings(f.EventIDs), f.Runbook)
	return err
}

func (s *sqliteStore) CreateIncident(ctx context.Context, inc Incident, first IncidentFinding, clocks []IncidentClock, actor string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM incidents WHERE id=?`, inc.ID).Scan(&one); err == nil {
			return fmt.Errorf("%w: incident %s", ErrConflict, inc.ID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err := tx.Exec(`INSERT INTO incidents(`+sqliteIncidentCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?)`,
			inc.ID, inc.SubjectKind, inc.Subject, inc.Title, inc.Severity, inc.Safety, IncidentOpen, inc.OpenedAt.UnixMicro(),
			inc.UpdatedAt.UnixMicro(), inc.LastFindingAt.UnixMicro(), jsonStrings(sortedDistinct(inc.RuleIDs)))
		if err != nil {
			return err
		}
		if err := sqliteInsertFinding(tx, inc.ID, first); err != nil {
			return err
		}
		for _, c := range clocks {
			if _, err := tx.Exec(`INSERT INTO incident_clocks(incident_id,kind,due_us,done_us,escalated_us) VALUES(?,?,?,?,?)`,
				inc.ID, c.Kind, c.DueAt.UnixMicro(), usOrNil(c.DoneAt), usOrNil(c.EscalatedAt)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(`INSERT INTO incident_transitions(incident_id,n,from_state,to_state,at_us,actor,reason) VALUES(?,1,'',?,?,?,?)`,
			inc.ID, IncidentOpen, inc.OpenedAt.UnixMicro(), actor, "finding "+first.ID)
		return err
	})
}

func (s *sqliteStore) AddIncidentFinding(ctx context.Context, id string, f IncidentFinding, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		inc, err := scanSQLiteIncident(tx.QueryRow(`SELECT `+sqliteIncidentCols+` FROM incidents WHERE id=?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: incident %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if err := sqliteInsertFinding(tx, id, f); err != nil {
			return err
		}
		inc.RuleIDs = sortedDistinct(append(inc.RuleIDs, f.RuleID))
		_, err = tx.Exec(`UPDATE incidents SET severity=max(severity,?), safety=max(safety,?), rule_ids=?, last_finding_us=max(last_finding_us,?),
			updated_us=? WHERE id=?`, f.Severity, f.Safety, jsonStrings(inc.RuleIDs), f.At.UnixMicro(), at.UnixMicro(), id)
		return err
	})
}

func (s *sqliteStore) IncidentOfFinding(ctx context.Context, fid string) (string, error) {
	var id string
	err := s.rdb.QueryRowContext(ctx, `SELECT incident_id FROM incident_findings WHERE id=?`, fid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: finding %s", ErrNotFound, fid)
	}
	return id, err
}

func (s *sqliteStore) LatestUnresolvedIncident(ctx context.Context, subjectKind, subject string) (Incident, error) {
	i, err := scanSQLiteIncident(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteIncidentCols+` FROM incidents
		WHERE subject_kind=? AND subject=? AND state<>? ORDER BY id DESC LIMIT 1`, subjectKind, subject, IncidentResolved))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("%w: unresolved incident of %s %s", ErrNotFound, subjectKind, subject)
	}
	return i, err
}

func (s *sqliteStore) GetIncident(ctx context.Context, id string) (Incident, error) {
	i, err := scanSQLiteIncident(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteIncidentCols+` FROM incidents WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	return i, err
}

func (s *sqliteStore) ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	q := `SELECT ` + sqliteIncidentCols + ` FROM incidents WHERE id > ?`
	args := []any{f.After}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, pageSize(f.Limit))
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		i, err := scanSQLiteIncident(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

func (s *sqliteStore) IncidentRecord(ctx context.Context, id string) (IncidentRecord, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return IncidentRecord{}, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var r IncidentRecord
	r.Incident, err = scanSQLiteIncident(tx.QueryRow(`SELECT `+sqliteIncidentCols+` FROM incidents WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return IncidentRecord{}, fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	if err != nil {
		return IncidentRecord{}, err
	}
	each := func(q string, scan func(*sql.Rows) error) error {
		rows, err := tx.Query(q, id)
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
	err = errors.Join(
		each(`SELECT id,rule_id,title,severity,safety,first_us,at_us,count,event_ids,runbook FROM incident_findings WHERE incident_id=? ORDER BY n`, func(rows *sql.Rows) error {
			var f IncidentFinding
			var first, at int64
			var evs string
			if err := rows.Scan(&f.ID, &f.RuleID, &f.Title, &f.Severity, &f.Safety, &first, &at, &f.Count, &evs, &f.Runbook); err != nil {
				return err
			}
			f.FirstAt, f.At = time.UnixMicro(first).UTC(), time.UnixMicro(at).UTC()
			if err := json.Unmarshal([]byte(evs), &f.EventIDs); err != nil {
				return err
			}
			r.Findings = append(r.Findings, f)
			return nil
		}),
		each(`SELECT kind,due_us,done_us,escalated_us FROM incident_clocks WHERE incident_id=? ORDER BY due_us, kind`, func(rows *sql.Rows) error {
			c := IncidentClock{Incident: id}
			var due int64
			var done, esc sql.NullInt64
			if err := rows.Scan(&c.Kind, &due, &done, &esc); err != nil {
				return err
			}
			c.DueAt, c.DoneAt, c.EscalatedAt = time.UnixMicro(due).UTC(), timeOrZero(done), timeOrZero(esc)
			r.Clocks = append(r.Clocks, c)
			return nil
		}),
		each(`SELECT actor,at_us,text FROM incident_notes WHERE incident_id=? ORDER BY n`, func(rows *sql.Rows) error {
			n := IncidentNote{Incident: id}
			var at int64
			if err := rows.Scan(&n.Actor, &at, &n.Text); err != nil {
				return err
			}
			n.At = time.UnixMicro(at).UTC()
			r.Notes = append(r.Notes, n)
			return nil
		}),
		each(`SELECT from_state,to_state,at_us,actor,reason FROM incident_transitions WHERE incident_id=? ORDER BY n`, func(rows *sql.Rows) error {
			t := IncidentTransition{Incident: id}
			var at int64
			if err := rows.Scan(&t.From, &t.To, &at, &t.Actor, &t.Reason); err != nil {
				return err
			}
			t.At = time.UnixMicro(at).UTC()
			r.Transitions = append(r.Transitions, t)
			return nil
		}),
		each(`SELECT clock,channel,recipient,at_us,actor,reference FROM incident_notifications WHERE incident_id=? ORDER BY n`, func(rows *sql.Rows) error {
			n := IncidentNotification{Incident: id}
			var at int64
			if err := rows.Scan(&n.Clock, &n.Channel, &n.Recipient, &at, &n.Actor, &n.Reference); err != nil {
				return err
			}
			n.At = time.UnixMicro(at).UTC()
			r.Notifications = append(r.Notifications, n)
			return nil
		}),
		each(`SELECT action,target,actor,at_us,result FROM incident_containment WHERE incident_id=? ORDER BY n`, func(rows *sql.Rows) error {
			c := IncidentContainment{Incident: id}
			var at int64
			if err := rows.Scan(&c.Action, &c.Target, &c.Actor, &at, &c.Result); err != nil {
				return err
			}
			c.At = time.UnixMicro(at).UTC()
			r.Containment = append(r.Containment, c)
			return nil
		}),
	)
	if err != nil {
		return IncidentRecord{}, err
	}
	return r, nil
}

func (s *sqliteStore) TransitionIncident(ctx context.Context, tr IncidentTransition, doneClock IncidentClockKind) (Incident, error) {
	var inc Incident
	err := s.write(ctx, func(tx *sql.Tx) error {
		var resolved any // when it becomes resolved: the retention counts from it
		if tr.To == IncidentResolved {
			resolved = tr.At.UnixMicro()
		}
		res, err := tx.Exec(`UPDATE incidents SET state=?, updated_us=?, resolved_us=coalesce(?, resolved_us) WHERE id=? AND state=?`,
			tr.To, tr.At.UnixMicro(), resolved, tr.Incident, tr.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var cur string
			err := tx.QueryRow(`SELECT state FROM incidents WHERE id=?`, tr.Incident).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: incident %s", ErrNotFound, tr.Incident)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: incident %s is %s, not %s", ErrConflict, tr.Incident, cur, tr.From)
		}
		n, err := sqliteNext(tx, "incident_transitions", tr.Incident)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO incident_transitions(incident_id,n,from_state,to_state,at_us,actor,reason) VALUES(?,?,?,?,?,?,?)`,
			tr.Incident, n, tr.From, tr.To, tr.At.UnixMicro(), tr.Actor, tr.Reason); err != nil {
			return err
		}
		if doneClock != "" {
			if _, err := tx.Exec(`UPDATE incident_clocks SET done_us=? WHERE incident_id=? AND kind=? AND done_us IS NULL`,
				tr.At.UnixMicro(), tr.Incident, doneClock); err != nil {
				return err
			}
		}
		inc, err = scanSQLiteIncident(tx.QueryRow(`SELECT `+sqliteIncidentCols+` FROM incidents WHERE id=?`, tr.Incident))
		return err
	})
	return inc, err
}

func (s *sqliteStore) AddIncidentNote(ctx context.Context, n IncidentNote) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := sqliteIncidentExists(tx, n.Incident); err != nil {
			return err
		}
		k, err := sqliteNext(tx, "incident_notes", n.Incident)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO incident_notes(incident_id,n,actor,at_us,text) VALUES(?,?,?,?,?)`, n.Incident, k, n.Actor, n.At.UnixMicro(), n.Text)
		return err
	})
}

func sqliteInsertNotification(tx *sql.Tx, n IncidentNotification) error {
	k, err := sqliteNext(tx, "incident_notifications", n.Incident)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO incident_notifications(incident_id,n,clock,channel,recipient,at_us,actor,reference) VALUES(?,?,?,?,?,?,?,?)`,
		n.Incident, k, n.Clock, n.Channel, n.Recipient, n.At.UnixMicro(), n.Actor, n.Reference)
	return err
}

func (s *sqliteStore) RecordIncidentNotification(ctx context.Context, n IncidentNotification) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRow(`SELECT 1 FROM incident_clocks WHERE incident_id=? AND kind=?`, n.Incident, n.Clock).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: clock %s of incident %s", ErrNotFound, n.Clock, n.Incident)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE incident_clocks SET done_us=? WHERE incident_id=? AND kind=? AND done_us IS NULL`,
			n.At.UnixMicro(), n.Incident, n.Clock); err != nil {
			return err
		}
		return sqliteInsertNotification(tx, n)
	})
}

func (s *sqliteStore) RecordIncidentContainment(ctx context.Context, c IncidentContainment) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := sqliteIncidentExists(tx, c.Incident); err != nil {
			return err
		}
		k, err := sqliteNext(tx, "incident_containment", c.Incident)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO incident_containment(incident_id,n,action,target,actor,at_us,result) VALUES(?,?,?,?,?,?,?)`,
			c.Incident, k, c.Action, c.Target, c.Actor, c.At.UnixMicro(), c.Result)
		return err
	})
}

func (s *sqliteStore) DueIncidentClocks(ctx context.Context, now time.Time, limit int) ([]IncidentClock, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.incident_id,c.kind,c.due_us FROM incident_clocks c JOIN incidents i ON i.id=c.incident_id
		WHERE c.done_us IS NULL AND c.escalated_us IS NULL AND c.due_us <= ? AND i.state <> ? ORDER BY c.due_us, c.incident_id, c.kind LIMIT ?`,
		now.UnixMicro(), IncidentResolved, pageSize(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IncidentClock
	for rows.Next() {
		var c IncidentClock
		var due int64
		if err := rows.Scan(&c.Incident, &c.Kind, &due); err != nil {
			return nil, err
		}
		c.DueAt = time.UnixMicro(due).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqliteStore) EscalateIncidentClock(ctx context.Context, n IncidentNotification) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE incident_clocks SET escalated_us=? WHERE incident_id=? AND kind=? AND done_us IS NULL AND escalated_us IS NULL`,
			n.At.UnixMicro(), n.Incident, n.Clock)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM incident_clocks WHERE incident_id=? AND kind=?`, n.Incident, n.Clock).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: clock %s of incident %s", ErrNotFound, n.Clock, n.Incident)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: clock %s of incident %s is done or escalated", ErrConflict, n.Clock, n.Incident)
		}
		return sqliteInsertNotification(tx, n)
	})
}

// PurgeResolvedIncidents runs as one write on the bulk lane (behind
// heartbeats and live writes), each incident's rows and then the incidents
// deleted in the same transaction.
func (s *sqliteStore) PurgeResolvedIncidents(ctx context.Context, resolvedBefore time.Time, limit int) (int, error) {
	limit = incidentPurgeBatch(limit)
	var n int
	err := s.writeIn(ctx, laneBulk, limit, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.Query(`SELECT id FROM incidents WHERE resolved_us IS NOT NULL AND resolved_us < ? AND state = ?
			ORDER BY resolved_us, id LIMIT ?`, resolvedBefore.UnixMicro(), IncidentResolved, limit)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		in := "(?" + strings.Repeat(",?", len(ids)-1) + ")"
		for _, table := range incidentChildTables {
			if _, err := tx.Exec(`DELETE FROM `+table+` WHERE incident_id IN `+in, ids...); err != nil {
				return err
			}
		}
		res, err := tx.Exec(`DELETE FROM incidents WHERE id IN `+in, ids...)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *sqliteStore) SetVehicleHold(ctx context.Context, h VehicleHold) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM vehicles WHERE id=?`, h.Vehicle).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, h.Vehicle)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO vehicle_holds(vehicle,incident_id,actor,at_us,reason) VALUES(?,?,?,?,?)
			ON CONFLICT(vehicle) DO UPDATE SET incident_id=excluded.incident_id, actor=excluded.actor, at_us=excluded.at_us, reason=excluded.reason`,
			h.Vehicle, h.Incident, h.Actor, h.At.UnixMicro(), h.Reason)
		return err
	})
}

func (s *sqliteStore) GetVehicleHold(ctx context.Context, vehicle string) (VehicleHold, error) {
	h := VehicleHold{Vehicle: vehicle}
	var at int64
	err := s.rdb.QueryRowContext(ctx, `SELECT incident_id,actor,at_us,reason FROM vehicle_holds WHERE vehicle=?`, vehicle).Scan(&h.Incident, &h.Actor, &at, &h.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return VehicleHold{}, fmt.Errorf("%w: hold on vehicle %s", ErrNotFound, vehicle)
	}
	h.At = time.UnixMicro(at).UTC()
	return h, err
}

func (s *sqliteStore) ReleaseVehicleHold(ctx context.Context, vehicle string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM vehicle_holds WHERE vehicle=?`, vehicle)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: hold on vehicle %s", ErrNotFound, vehicle)
		}
		return nil
	})
}

// sortedDistinct returns v sorted without repeats.
func sortedDistinct(v []string) []string {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}
