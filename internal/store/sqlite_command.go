package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// sqlitePutIdem inserts r in tx; on its key: ErrConflict (same request)
// or ErrIdempotencyKeyReused (another).
func sqlitePutIdem(tx *sql.Tx, r IdempotencyRecord) error {
	_, err := tx.Exec(`INSERT INTO idempotency_keys(client,key,request_sha,status,body,created_us) VALUES(?,?,?,?,?,?)`,
		r.Client, r.Key, r.RequestSHA256, r.Status, nonNil(r.Body), r.Created.UnixMicro())
	if !isUniqueViolation(err) {
		return err
	}
	var sha []byte
	if err := tx.QueryRow(`SELECT request_sha FROM idempotency_keys WHERE client=? AND key=?`, r.Client, r.Key).Scan(&sha); err != nil {
		return err
	}
	return idemClash(sha, r.RequestSHA256)
}

// idemClash is the error for a key stored with sha, offered with offered.
func idemClash(sha, offered []byte) error {
	if bytes.Equal(sha, offered) {
		return fmt.Errorf("%w: idempotency key already stored", ErrConflict)
	}
	return ErrIdempotencyKeyReused
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *sqliteStore) CreateTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO tenders(client,id,carrier,purpose,body,answer,reasons,created_us,revision,updated_us) VALUES(?,?,?,?,?,?,?,?,1,?)`,
			t.Client, t.ID, t.Carrier, t.Purpose, nonNil(t.Body), t.Answer, encodeList(t.Reasons), t.Created.UnixMicro(), t.Created.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: tender %s of %s exists", ErrConflict, t.ID, t.Client)
		}
		if err != nil || idem == nil {
			return err
		}
		return sqlitePutIdem(tx, *idem)
	})
}

func (s *sqliteStore) GetTender(ctx context.Context, client, id string) (Tender, error) {
	t, err := scanSQLiteTender(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteTenderCols+` FROM tenders WHERE client=? AND id=?`, client, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Tender{}, fmt.Errorf("%w: tender %s of %s", ErrNotFound, id, client)
	}
	return t, err
}

const sqliteTenderCols = `client,id,carrier,purpose,body,answer,reasons,created_us,revision,updated_us,cancelled_us,cancelled_by`

func scanSQLiteTender(sc interface{ Scan(...any) error }) (Tender, error) {
	var t Tender
	var reasons string
	var created, updated int64
	var cancelled sql.NullInt64
	if err := sc.Scan(&t.Client, &t.ID, &t.Carrier, &t.Purpose, &t.Body, &t.Answer, &reasons, &created, &t.Revision, &updated,
		&cancelled, &t.CancelledBy); err != nil {
		return Tender{}, err
	}
	t.Created = time.UnixMicro(created).UTC()
	t.Updated = t.Created
	if updated != 0 {
		t.Updated = time.UnixMicro(updated).UTC()
	}
	t.Revision = max(t.Revision, 1)
	t.Cancelled = timeOrZero(cancelled)
	var err error
	t.Reasons, err = decodeList([]byte(reasons))
	return t, err
}

func (s *sqliteStore) ReviseTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		cur, err := scanSQLiteTender(tx.QueryRow(`SELECT `+sqliteTenderCols+` FROM tenders WHERE client=? AND id=?`, t.Client, t.ID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: tender %s of %s", ErrNotFound, t.ID, t.Client)
		case err != nil:
			return err
		case !cur.Cancelled.IsZero():
			return fmt.Errorf("%w: tender %s of %s is cancelled", ErrConflict, t.ID, t.Client)
		case cur.Revision != t.Revision-1:
			return fmt.Errorf("%w: tender %s of %s is at revision %d", ErrConflict, t.ID, t.Client, cur.Revision)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM commands WHERE tender_id=? AND requested_by=? AND type='dispatch'`, t.ID, t.Client).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: tender %s of %s", ErrTenderDispatched, t.ID, t.Client)
		}
		if _, err := tx.Exec(`INSERT INTO tender_revisions(client,id,revision,purpose,body,answer,reasons,stored_us) VALUES(?,?,?,?,?,?,?,?)`,
			cur.Client, cur.ID, cur.Revision, cur.Purpose, nonNil(cur.Body), cur.Answer, encodeList(cur.Reasons), cur.Updated.UnixMicro()); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE tenders SET purpose=?, body=?, answer=?, reasons=?, revision=?, updated_us=? WHERE client=? AND id=?`,
			t.Purpose, nonNil(t.Body), t.Answer, encodeList(t.Reasons), t.Revision, t.Updated.UnixMicro(), t.Client, t.ID); err != nil {
			return err
		}
		if idem == nil {
			return nil
		}
		return sqlitePutIdem(tx, *idem)
	})
}

func (s *sqliteStore) CancelTender(ctx context.Context, client, id, by string, at time.Time) (Tender, bool, error) {
	var (
		t    Tender
		done bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE tenders SET cancelled_us=?, cancelled_by=? WHERE client=? AND id=? AND cancelled_us IS NULL`,
			at.UnixMicro(), by, client, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		done = n == 1
		t, err = scanSQLiteTender(tx.QueryRow(`SELECT `+sqliteTenderCols+` FROM tenders WHERE client=? AND id=?`, client, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: tender %s of %s", ErrNotFound, id, client)
		}
		return err
	})
	if err != nil {
		return Tender{}, false, err
	}
	return t, done, nil
}

func (s *sqliteStore) TenderRevisions(ctx context.Context, client, id string) ([]Tender, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT r.client,r.id,t.carrier,r.purpose,r.body,r.answer,r.reasons,t.created_us,r.revision,r.stored_us,NULL,''
		FROM tender_revisions r JOIN tenders t ON t.client=r.client AND t.id=r.id WHERE r.client=? AND r.id=? ORDER BY r.revision`, client, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tender
	for rows.Next() {
		t, err := scanSQLiteTender(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *sqliteStore) TenderCommands(ctx context.Context, client, id, after string, limit int) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+sqliteCommandCols+` FROM commands WHERE tender_id=? AND id>?
		AND vehicle_id IN (SELECT vehicle_id FROM commands WHERE tender_id=? AND requested_by=? AND type='dispatch')
		ORDER BY id LIMIT ?`, id, after, id, client, pageSize(limit))
}

const sqliteCommandCols = `id,vehicle_id,carrier,requested_by,type,tender_id,payload,risk_class,approvals_required,state,cmd_seq,nonce,issued_us,expires_us,created_us,updated_us,delivered_by,verdict,answer_reason`

func scanSQLiteCommand(sc interface{ Scan(...any) error }) (Command, error) {
	var c Command
	var seq, issued sql.NullInt64
	var exp, created, updated int64
	if err := sc.Scan(&c.ID, &c.Vehicle, &c.Carrier, &c.RequestedBy, &c.Type, &c.TenderID, &c.Payload, &c.RiskClass, &c.ApprovalsRequired,
		&c.State, &seq, &c.Nonce, &issued, &exp, &created, &updated, &c.DeliveredBy, &c.Verdict, &c.AnswerReason); err != nil {
		return Command{}, err
	}
	c.CmdSeq = seq.Int64
	c.IssuedAt = timeOrZero(issued)
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt = time.UnixMicro(exp).UTC(), time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return c, nil
}

func (s *sqliteStore) CreateCommand(ctx context.Context, c Command, actor, reason string, idem *IdempotencyRecord) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if c.TenderRevision > 0 { // one writer: nothing changes the tender before the commit
			var rev int64
			var cancelled sql.NullInt64
			err := tx.QueryRow(`SELECT revision, cancelled_us FROM tenders WHERE client=? AND id=?`, c.RequestedBy, c.TenderID).Scan(&rev, &cancelled)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && (max(rev, 1) != c.TenderRevision || cancelled.Valid)) {
				return fmt.Errorf("%w: tender %s of %s", ErrTenderChanged, c.TenderID, c.RequestedBy)
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.Exec(`INSERT INTO commands(id,vehicle_id,carrier,requested_by,type,tender_id,payload,risk_class,approvals_required,state,expires_us,created_us,updated_us)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`, c.ID, c.Vehicle, c.Carrier, c.RequestedBy, c.Type, c.TenderID, nonNil(c.Payload), c.RiskClass,
			c.ApprovalsRequired, c.State, c.ExpiresAt.UnixMicro(), c.CreatedAt.UnixMicro(), c.CreatedAt.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: command %s exists", ErrConflict, c.ID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO command_transitions(command_id,n,from_state,to_state,at_us,actor,reason) VALUES(?,1,'',?,?,?,?)`,
			c.ID, c.State, c.CreatedAt.UnixMicro(), actor, reason); err != nil {
			return err
		}
		// The command and its first transition are audit items of this commit.
		first := CommandTransition{ID: c.ID, To: c.State, At: c.CreatedAt, Actor: actor, Reason: reason}
		if err := s.appendAuditItemsTx(tx, []AuditItem{commandAuditItem(c), transitionAuditItem(first, 1)}); err != nil {
			return err
		}
		if idem == nil {
			return nil
		}
		return sqlitePutIdem(tx, *idem)
	})
}

func (s *sqliteStore) GetCommand(ctx context.Context, id string) (Command, error) {
	c, err := scanSQLiteCommand(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteCommandCols+` FROM commands WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Command{}, fmt.Errorf("%w: command %s", ErrNotFound, id)
	}
	return c, err
}

func (s *sqliteStore) queryCommands(ctx context.Context, q string, args ...any) ([]Command, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Command
	for rows.Next() {
		c, err := scanSQLiteCommand(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqliteStore) ListCommands(ctx context.Context, f CommandFilter) ([]Command, error) {
	if f.Scope.none() {
		return nil, nil
	}
	q := `SELECT ` + sqliteCommandCols + ` FROM commands WHERE id > ?`
	args := []any{f.After}
	if !f.Scope.all {
		q += ` AND carrier = ?`
		args = append(args, f.Scope.carrier)
	}
	if f.Vehicle != "" {
		q += ` AND vehicle_id = ?`
		args = append(args, f.Vehicle)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if !f.ExpiresBy.IsZero() {
		// The state list is the partial index's predicate, literally, so
		// the sweep reads that index.
		q += ` AND expires_us <= ? AND state IN ('pending_approval','approved','queued')`
		args = append(args, f.ExpiresBy.UnixMicro())
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, pageSize(f.Limit))
	return s.queryCommands(ctx, q, args...)
}

func (s *sqliteStore) ListQueuedCommands(ctx context.Context, vehicle string, limit int) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+sqliteCommandCols+` FROM commands WHERE vehicle_id=? AND state=? ORDER BY cmd_seq LIMIT ?`,
		vehicle, CommandQueued, pageSize(limit))
}

func (s *sqliteStore) CommandTransitions(ctx context.Context, id string) ([]CommandTransition, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT from_state,to_state,at_us,actor,reason FROM command_transitions WHERE command_id=? ORDER BY n`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CommandTransition
	for rows.Next() {
		tr := CommandTransition{ID: id}
		var us int64
		if err := rows.Scan(&tr.From, &tr.To, &us, &tr.Actor, &tr.Reason); err != nil {
			return nil, err
		}
		tr.At = time.UnixMicro(us).UTC()
		out = append(out, tr)
	}
	return out, rows.Err()
}

// sqliteTransition applies tr in tx: the conditional update, then the
// transition row. It returns ErrConflict or ErrNotFound when the update
// matched nothing.
func (s *sqliteStore) sqliteTransition(tx *sql.Tx, tr CommandTransition, to CommandState) error {
	res, err := tx.Exec(`UPDATE commands SET state=?, updated_us=?,
		delivered_by = CASE WHEN ?='' THEN delivered_by ELSE ? END,
		verdict = CASE WHEN ?='' THEN verdict ELSE ? END,
		answer_reason = CASE WHEN ?='' THEN answer_reason ELSE ? END
		WHERE id=? AND state=?`+notHeld(to),
		to, tr.At.UnixMicro(), tr.DeliveredBy, tr.DeliveredBy, tr.Verdict, tr.Verdict, tr.AnswerReason, tr.AnswerReason, tr.ID, tr.From)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if to == CommandDelivered {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM vehicle_holds h JOIN commands c ON c.vehicle_id = h.vehicle WHERE c.id=?`, tr.ID).Scan(&one)
			if err == nil {
				return fmt.Errorf("%w: command %s", ErrVehicleHeld, tr.ID)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var cur string
		err := tx.QueryRow(`SELECT state FROM commands WHERE id=?`, tr.ID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %s", ErrNotFound, tr.ID)
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: command %s is %s, not %s", ErrConflict, tr.ID, cur, tr.From)
	}
	var n int64
	if err := tx.QueryRow(`INSERT INTO command_transitions(command_id,n,from_state,to_state,at_us,actor,reason)
		SELECT ?, coalesce(max(n),0)+1, ?, ?, ?, ?, ? FROM command_transitions WHERE command_id=? RETURNING n`,
		tr.ID, tr.From, to, tr.At.UnixMicro(), tr.Actor, tr.Reason, tr.ID).Scan(&n); err != nil {
		return err
	}
	// The transition is an audit item of this commit.
	tr.To = to
	return s.appendAuditItemsTx(tx, []AuditItem{transitionAuditItem(tr, n)})
}

func (s *sqliteStore) TransitionCommand(ctx context.Context, tr CommandTransition) (Command, error) {
	if tr.To == CommandQueued || tr.To == "" {
		return Command{}, fmt.Errorf("store: TransitionCommand to %q (QueueCommand queues)", tr.To)
	}
	var c Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.sqliteTransition(tx, tr, tr.To); err != nil {
			return err
		}
		var err error
		c, err = scanSQLiteCommand(tx.QueryRow(`SELECT `+sqliteCommandCols+` FROM commands WHERE id=?`, tr.ID))
		if err != nil {
			return err
		}
		// The delivery and the answer it sets are audit items of this commit.
		return s.appendAuditItemsTx(tx, partItems(c, tr))
	})
	return c, err
}

func (s *sqliteStore) QueueCommand(ctx context.Context, tr CommandTransition, nonce []byte, issuedAt time.Time) (Command, error) {
	var c Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := s.sqliteTransition(tx, tr, CommandQueued); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(`INSERT INTO vehicle_command_counters(vehicle_id,last_seq) SELECT vehicle_id, 1 FROM commands WHERE id=?
			ON CONFLICT(vehicle_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`, tr.ID).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE commands SET cmd_seq=?, nonce=?, issued_us=? WHERE id=?`, seq, nonce, issuedAt.UnixMicro(), tr.ID); err != nil {
			return err
		}
		var err error
		c, err = scanSQLiteCommand(tx.QueryRow(`SELECT `+sqliteCommandCols+` FROM commands WHERE id=?`, tr.ID))
		if err != nil {
			return err
		}
		// What every delivery will carry is an audit item of this commit.
		return s.appendAuditItemsTx(tx, []AuditItem{commandPartItem(c, commandIssueSuffix)})
	})
	return c, err
}

func (s *sqliteStore) LastCmdSeq(ctx context.Context, vehicle string) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT last_seq FROM vehicle_command_counters WHERE vehicle_id=?`, vehicle).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

func (s *sqliteStore) AddApproval(ctx context.Context, a Approval) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM commands WHERE id=?`, a.Command).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: command %s", ErrNotFound, a.Command)
		} else if err != nil {
			return err
		}
		res, err := tx.Exec(`INSERT INTO approvals(command_id,approver,at_us,expires_us) VALUES(?,?,?,?)
			ON CONFLICT(command_id,approver) DO UPDATE SET at_us=excluded.at_us, expires_us=excluded.expires_us WHERE approvals.expires_us <= excluded.at_us`,
			a.Command, a.Approver, a.At.UnixMicro(), a.ExpiresAt.UnixMicro())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s already approved command %s", ErrConflict, a.Approver, a.Command)
		}
		// The approval is an audit item of this commit, taken from its
		// history row, which is never updated.
		if _, err := tx.Exec(`INSERT INTO approval_history(command_id,approver,at_us,expires_us) VALUES(?,?,?,?)`,
			a.Command, a.Approver, a.At.UnixMicro(), a.ExpiresAt.UnixMicro()); err != nil {
			return err
		}
		return s.appendAuditItemsTx(tx, []AuditItem{approvalAuditItem(a)})
	})
}

func (s *sqliteStore) ListApprovals(ctx context.Context, command string) ([]Approval, error) {
	return s.approvals(ctx, `SELECT approver,at_us,expires_us FROM approvals WHERE command_id=? ORDER BY at_us, approver`, command)
}

func (s *sqliteStore) ApprovalHistory(ctx context.Context, command string) ([]Approval, error) {
	return s.approvals(ctx, `SELECT approver,at_us,expires_us FROM approval_history WHERE command_id=? ORDER BY at_us, approver`, command)
}

func (s *sqliteStore) approvals(ctx context.Context, q, command string) ([]Approval, error) {
	rows, err := s.rdb.QueryContext(ctx, q, command)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		a := Approval{Command: command}
		var at, exp int64
		if err := rows.Scan(&a.Approver, &at, &exp); err != nil {
			return nil, err
		}
		a.At, a.ExpiresAt = time.UnixMicro(at).UTC(), time.UnixMicro(exp).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqliteStore) PutIdempotency(ctx context.Context, r IdempotencyRecord) error {
	return s.write(ctx, func(tx *sql.Tx) error { return sqlitePutIdem(tx, r) })
}

func (s *sqliteStore) GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (IdempotencyRecord, error) {
	r := IdempotencyRecord{Client: client, Key: key}
	var us int64
	err := s.rdb.QueryRowContext(ctx, `SELECT request_sha,status,body,created_us FROM idempotency_keys WHERE client=? AND key=?`, client, key).
		Scan(&r.RequestSHA256, &r.Status, &r.Body, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return IdempotencyRecord{}, fmt.Errorf("%w: idempotency key", ErrNotFound)
	}
	if err != nil {
		return IdempotencyRecord{}, err
	}
	if !bytes.Equal(r.RequestSHA256, requestSHA256) {
		return IdempotencyRecord{}, ErrIdempotencyKeyReused
	}
	r.Created = time.UnixMicro(us).UTC()
	return r, nil
}

func (s *sqliteStore) PruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM idempotency_keys WHERE created_us < ?`, before.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// --- webhook outbox ---

func (s *sqliteStore) EnqueueWebhook(ctx context.Context, m WebhookMessage) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`INSERT INTO webhook_outbox(client,event_type,body,next_attempt_us,created_us) VALUES(?,?,?,?,?) RETURNING id`,
			m.Client, m.EventType, nonNil(m.Body), m.NextAttemptAt.UnixMicro(), m.CreatedAt.UnixMicro()).Scan(&id)
	})
	return id, err
}

const sqliteWebhookCols = `id,client,event_type,body,attempts,next_attempt_us,created_us,delivered_us,dead`

func (s *sqliteStore) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookMessage, error) {
	var out []WebhookMessage
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.Query(`UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_us = ?
			WHERE id IN (SELECT id FROM webhook_outbox WHERE delivered_us IS NULL AND dead = 0 AND next_attempt_us <= ? ORDER BY id LIMIT ?)
			RETURNING `+sqliteWebhookCols, now.Add(lease).UnixMicro(), now.UnixMicro(), pageSize(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m WebhookMessage
			var next, created int64
			var delivered sql.NullInt64
			var dead int
			if err := rows.Scan(&m.ID, &m.Client, &m.EventType, &m.Body, &m.Attempts, &next, &created, &delivered, &dead); err != nil {
				return err
			}
			m.NextAttemptAt, m.CreatedAt, m.DeliveredAt, m.Dead = time.UnixMicro(next).UTC(), time.UnixMicro(created).UTC(), timeOrZero(delivered), dead != 0
			out = append(out, m)
		}
		return rows.Err()
	})
	sortWebhooks(out)
	return out, err
}

// sortWebhooks orders claimed messages by id (RETURNING has no order).
func sortWebhooks(ms []WebhookMessage) {
	slices.SortFunc(ms, func(a, b WebhookMessage) int { return cmp.Compare(a.ID, b.ID) })
}

func (s *sqliteStore) webhookUpdate(ctx context.Context, id int64, q string, args ...any) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(q, append(args, id)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: webhook message %d", ErrNotFound, id)
		}
		return nil
	})
}

func (s *sqliteStore) MarkWebhookDelivered(ctx context.Context, id int64, at time.Time) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET delivered_us=? WHERE id=?`, at.UnixMicro())
}

func (s *sqliteStore) RescheduleWebhook(ctx context.Context, id int64, next time.Time) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET next_attempt_us=? WHERE delivered_us IS NULL AND dead = 0 AND id=?`, next.UnixMicro())
}

func (s *sqliteStore) MarkWebhookDead(ctx context.Context, id int64) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET dead=1 WHERE id=?`)
}
