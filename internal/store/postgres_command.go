package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPutIdem inserts r in tx; on its key: ErrConflict (same request) or
// ErrIdempotencyKeyReused (another). ON CONFLICT DO NOTHING waits for a
// concurrent insert of the key to commit or roll back, and does not abort
// tx the way a unique violation would.
func pgPutIdem(ctx context.Context, tx pgx.Tx, r IdempotencyRecord) error {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys(client,key,request_sha,status,body,created) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
		r.Client, r.Key, r.RequestSHA256, r.Status, nonNil(r.Body), r.Created.UTC())
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var sha []byte
	if err := tx.QueryRow(ctx, `SELECT request_sha FROM idempotency_keys WHERE client=$1 AND key=$2`, r.Client, r.Key).Scan(&sha); err != nil {
		return err
	}
	return idemClash(sha, r.RequestSHA256)
}

func (s *pgStore) CreateTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if idem != nil {
			if err := pgPutIdem(ctx, tx, *idem); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tenders(client,id,carrier,purpose,body,answer,reasons,created,revision,updated) VALUES($1,$2,$3,$4,$5,$6,$7,$8,1,$8) ON CONFLICT DO NOTHING`,
			t.Client, t.ID, t.Carrier, t.Purpose, nonNil(t.Body), t.Answer, encodeList(t.Reasons), t.Created.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: tender %s of %s exists", ErrConflict, t.ID, t.Client)
		}
		return nil
	})
}

func (s *pgStore) GetTender(ctx context.Context, client, id string) (Tender, error) {
	t, err := scanPgTender(s.pool.QueryRow(ctx, `SELECT `+pgTenderCols+` FROM tenders WHERE client=$1 AND id=$2`, client, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tender{}, fmt.Errorf("%w: tender %s of %s", ErrNotFound, id, client)
	}
	return t, err
}

const pgTenderCols = `client,id,carrier,purpose,body,answer,reasons,created,revision,updated,cancelled,cancelled_by`

func scanPgTender(r pgx.Row) (Tender, error) {
	var t Tender
	var reasons []byte
	var updated, cancelled *time.Time
	if err := r.Scan(&t.Client, &t.ID, &t.Carrier, &t.Purpose, &t.Body, &t.Answer, &reasons, &t.Created, &t.Revision, &updated,
		&cancelled, &t.CancelledBy); err != nil {
		return Tender{}, err
	}
	t.Created = t.Created.UTC()
	t.Updated = t.Created
	if updated != nil {
		t.Updated = updated.UTC()
	}
	t.Revision = max(t.Revision, 1)
	t.Cancelled = zeroIfNil(cancelled)
	var err error
	t.Reasons, err = decodeList(reasons)
	return t, err
}

// ReviseTender locks the tender's row first (FOR UPDATE), so a dispatch
// of it (CreateCommand reads it FOR SHARE) either committed before, and
// the check for its command below sees it, or waits and then sees the new
// revision (migration 0020).
func (s *pgStore) ReviseTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanPgTender(tx.QueryRow(ctx, `SELECT `+pgTenderCols+` FROM tenders WHERE client=$1 AND id=$2 FOR UPDATE`, t.Client, t.ID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: tender %s of %s", ErrNotFound, t.ID, t.Client)
		case err != nil:
			return err
		case !cur.Cancelled.IsZero():
			return fmt.Errorf("%w: tender %s of %s is cancelled", ErrConflict, t.ID, t.Client)
		case cur.Revision != t.Revision-1:
			return fmt.Errorf("%w: tender %s of %s is at revision %d", ErrConflict, t.ID, t.Client, cur.Revision)
		}
		var dispatched bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM commands WHERE tender_id=$1 AND requested_by=$2 AND type='dispatch')`,
			t.ID, t.Client).Scan(&dispatched); err != nil {
			return err
		}
		if dispatched {
			return fmt.Errorf("%w: tender %s of %s", ErrTenderDispatched, t.ID, t.Client)
		}
		if idem != nil {
			if err := pgPutIdem(ctx, tx, *idem); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tender_revisions(client,id,revision,purpose,body,answer,reasons,stored) VALUES($1,$2,$3,$4,$5,$6,$7,$8)`,
			cur.Client, cur.ID, cur.Revision, cur.Purpose, nonNil(cur.Body), cur.Answer, encodeList(cur.Reasons), cur.Updated.UTC()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tenders SET purpose=$1, body=$2, answer=$3, reasons=$4, revision=$5, updated=$6 WHERE client=$7 AND id=$8`,
			t.Purpose, nonNil(t.Body), t.Answer, encodeList(t.Reasons), t.Revision, t.Updated.UTC(), t.Client, t.ID)
		return err
	})
}

func (s *pgStore) CancelTender(ctx context.Context, client, id, by string, at time.Time) (Tender, bool, error) {
	var (
		t    Tender
		done bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenders SET cancelled=$1, cancelled_by=$2 WHERE client=$3 AND id=$4 AND cancelled IS NULL`,
			at.UTC(), by, client, id)
		if err != nil {
			return err
		}
		done = tag.RowsAffected() == 1
		t, err = scanPgTender(tx.QueryRow(ctx, `SELECT `+pgTenderCols+` FROM tenders WHERE client=$1 AND id=$2`, client, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: tender %s of %s", ErrNotFound, id, client)
		}
		return err
	})
	if err != nil {
		return Tender{}, false, err
	}
	return t, done, nil
}

func (s *pgStore) TenderRevisions(ctx context.Context, client, id string) ([]Tender, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.client,r.id,t.carrier,r.purpose,r.body,r.answer,r.reasons,t.created,r.revision,r.stored,NULL::timestamptz,''
		FROM tender_revisions r JOIN tenders t ON t.client=r.client AND t.id=r.id WHERE r.client=$1 AND r.id=$2 ORDER BY r.revision`, client, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tender
	for rows.Next() {
		t, err := scanPgTender(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *pgStore) TenderCommands(ctx context.Context, client, id, after string, limit int) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE tender_id=$1 AND id>$2
		AND vehicle_id IN (SELECT vehicle_id FROM commands WHERE tender_id=$1 AND requested_by=$3 AND type='dispatch')
		ORDER BY id LIMIT $4`, id, after, client, pageSize(limit))
}

const pgCommandCols = `id,vehicle_id,carrier,requested_by,type,tender_id,payload,risk_class,approvals_required,state,cmd_seq,nonce,issued_at,expires_at,created,updated,delivered_by,verdict,answer_reason`

func scanPgCommand(r pgx.Row) (Command, error) {
	var c Command
	var seq *int64
	var issued *time.Time
	if err := r.Scan(&c.ID, &c.Vehicle, &c.Carrier, &c.RequestedBy, &c.Type, &c.TenderID, &c.Payload, &c.RiskClass, &c.ApprovalsRequired,
		&c.State, &seq, &c.Nonce, &issued, &c.ExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.DeliveredBy, &c.Verdict, &c.AnswerReason); err != nil {
		return Command{}, err
	}
	if seq != nil {
		c.CmdSeq = *seq
	}
	c.IssuedAt = zeroIfNil(issued)
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

func (s *pgStore) CreateCommand(ctx context.Context, c Command, actor, reason string, idem *IdempotencyRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c.TenderRevision > 0 {
			// FOR SHARE: a change or cancel of the tender (which updates
			// its row) waits for this commit, or this waits for theirs and
			// reads their revision (migration 0020).
			var rev int64
			var cancelled *time.Time
			err := tx.QueryRow(ctx, `SELECT revision, cancelled FROM tenders WHERE client=$1 AND id=$2 FOR SHARE`, c.RequestedBy, c.TenderID).
				Scan(&rev, &cancelled)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && (max(rev, 1) != c.TenderRevision || cancelled != nil)) {
				return fmt.Errorf("%w: tender %s of %s", ErrTenderChanged, c.TenderID, c.RequestedBy)
			}
			if err != nil {
				return err
			}
		}
		if idem != nil {
			if err := pgPutIdem(ctx, tx, *idem); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO commands(id,vehicle_id,carrier,requested_by,type,tender_id,payload,risk_class,approvals_required,state,expires_at,created,updated)
			VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$12) ON CONFLICT DO NOTHING`, c.ID, c.Vehicle, c.Carrier, c.RequestedBy, c.Type, c.TenderID,
			nonNil(c.Payload), c.RiskClass, c.ApprovalsRequired, c.State, c.ExpiresAt.UTC(), c.CreatedAt.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: command %s exists", ErrConflict, c.ID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO command_transitions(command_id,n,from_state,to_state,at,actor,reason) VALUES($1,1,'',$2,$3,$4,$5)`,
			c.ID, c.State, c.CreatedAt.UTC(), actor, reason)
		if err != nil {
			return err
		}
		// The command and its first transition are audit items of this commit.
		first := CommandTransition{ID: c.ID, To: c.State, At: c.CreatedAt, Actor: actor, Reason: reason}
		return appendAuditItemsPg(ctx, tx, []AuditItem{commandAuditItem(c), transitionAuditItem(first, 1)})
	})
}

func (s *pgStore) GetCommand(ctx context.Context, id string) (Command, error) {
	c, err := scanPgCommand(s.pool.QueryRow(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Command{}, fmt.Errorf("%w: command %s", ErrNotFound, id)
	}
	return c, err
}

func (s *pgStore) queryCommands(ctx context.Context, q string, args ...any) ([]Command, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Command, error) { return scanPgCommand(r) })
}

func (s *pgStore) ListCommands(ctx context.Context, f CommandFilter) ([]Command, error) {
	if f.Scope.none() {
		return nil, nil
	}
	q := `SELECT ` + pgCommandCols + ` FROM commands WHERE id > $1`
	args := []any{f.After}
	add := func(cond string, v ...any) {
		for _, x := range v {
			args = append(args, x)
			cond = fmt.Sprintf(cond, len(args))
		}
		q += cond
	}
	if !f.Scope.all {
		add(` AND carrier = $%d`, f.Scope.carrier)
	}
	if f.Vehicle != "" {
		add(` AND vehicle_id = $%d`, f.Vehicle)
	}
	if f.State != "" {
		add(` AND state = $%d`, f.State)
	}
	if !f.ExpiresBy.IsZero() {
		// The state list is the partial index's predicate, literally, so
		// the sweep reads that index.
		add(` AND expires_at <= $%d AND state IN ('pending_approval','approved','queued')`, f.ExpiresBy.UTC())
	}
	add(` ORDER BY id LIMIT $%d`, pageSize(f.Limit))
	return s.queryCommands(ctx, q, args...)
}

func (s *pgStore) ListQueuedCommands(ctx context.Context, vehicle string, limit int) ([]Command, error) {
	return s.queryCommands(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE vehicle_id=$1 AND state=$2 ORDER BY cmd_seq LIMIT $3`,
		vehicle, CommandQueued, pageSize(limit))
}

func (s *pgStore) CommandTransitions(ctx context.Context, id string) ([]CommandTransition, error) {
	rows, err := s.pool.Query(ctx, `SELECT from_state,to_state,at,actor,reason FROM command_transitions WHERE command_id=$1 ORDER BY n`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CommandTransition, error) {
		tr := CommandTransition{ID: id}
		err := r.Scan(&tr.From, &tr.To, &tr.At, &tr.Actor, &tr.Reason)
		tr.At = tr.At.UTC()
		return tr, err
	})
}

// pgTransition applies tr in tx: the conditional update (its row lock makes
// a concurrent transition of the same command wait, then find the state
// changed), then the transition row.
func pgTransition(ctx context.Context, tx pgx.Tx, tr CommandTransition, to CommandState) error {
	tag, err := tx.Exec(ctx, `UPDATE commands SET state=$1, updated=$2,
		delivered_by = CASE WHEN $3='' THEN delivered_by ELSE $3 END,
		verdict = CASE WHEN $4='' THEN verdict ELSE $4 END,
		answer_reason = CASE WHEN $5='' THEN answer_reason ELSE $5 END
		WHERE id=$6 AND state=$7`+notHeld(to),
		to, tr.At.UTC(), tr.DeliveredBy, tr.Verdict, tr.AnswerReason, tr.ID, tr.From)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if to == CommandDelivered {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM vehicle_holds h JOIN commands c ON c.vehicle_id = h.vehicle WHERE c.id=$1`, tr.ID).Scan(&one)
			if err == nil {
				return fmt.Errorf("%w: command %s", ErrVehicleHeld, tr.ID)
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		var cur string
		err := tx.QueryRow(ctx, `SELECT state FROM commands WHERE id=$1`, tr.ID).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: command %s", ErrNotFound, tr.ID)
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: command %s is %s, not %s", ErrConflict, tr.ID, cur, tr.From)
	}
	var n int64
	if err := tx.QueryRow(ctx, `INSERT INTO command_transitions(command_id,n,from_state,to_state,at,actor,reason)
		SELECT $1, coalesce(max(n),0)+1, $2, $3, $4, $5, $6 FROM command_transitions WHERE command_id=$1 RETURNING n`,
		tr.ID, tr.From, to, tr.At.UTC(), tr.Actor, tr.Reason).Scan(&n); err != nil {
		return err
	}
	// The transition is an audit item of this commit.
	tr.To = to
	return appendAuditItemsPg(ctx, tx, []AuditItem{transitionAuditItem(tr, n)})
}

func (s *pgStore) TransitionCommand(ctx context.Context, tr CommandTransition) (Command, error) {
	if tr.To == CommandQueued || tr.To == "" {
		return Command{}, fmt.Errorf("store: TransitionCommand to %q (QueueCommand queues)", tr.To)
	}
	var c Command
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgTransition(ctx, tx, tr, tr.To); err != nil {
			return err
		}
		var err error
		c, err = scanPgCommand(tx.QueryRow(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE id=$1`, tr.ID))
		if err != nil {
			return err
		}
		// The delivery and the answer it sets are audit items of this commit.
		if items := partItems(c, tr); len(items) > 0 {
			return appendAuditItemsPg(ctx, tx, items)
		}
		return nil
	})
	return c, err
}

func (s *pgStore) QueueCommand(ctx context.Context, tr CommandTransition, nonce []byte, issuedAt time.Time) (Command, error) {
	var c Command
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := pgTransition(ctx, tx, tr, CommandQueued); err != nil {
			return err
		}
		// The counter row's lock serializes the vehicle's queueing across
		// replicas; the command's row lock was taken first, always in
		// that order, so two queueings cannot deadlock.
		var seq int64
		var vehicle string
		if err := tx.QueryRow(ctx, `INSERT INTO vehicle_command_counters(vehicle_id,last_seq) SELECT vehicle_id, 1 FROM commands WHERE id=$1
			ON CONFLICT (vehicle_id) DO UPDATE SET last_seq = vehicle_command_counters.last_seq + 1 RETURNING last_seq, vehicle_id`, tr.ID).Scan(&seq, &vehicle); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE commands SET cmd_seq=$1, nonce=$2, issued_at=$3 WHERE id=$4`, seq, nonce, issuedAt.UTC(), tr.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, CommandsChannel, vehicle); err != nil {
			return err
		}
		var err error
		c, err = scanPgCommand(tx.QueryRow(ctx, `SELECT `+pgCommandCols+` FROM commands WHERE id=$1`, tr.ID))
		if err != nil {
			return err
		}
		// What every delivery will carry is an audit item of this commit.
		return appendAuditItemsPg(ctx, tx, []AuditItem{commandPartItem(c, commandIssueSuffix)})
	})
	return c, err
}

func (s *pgStore) LastCmdSeq(ctx context.Context, vehicle string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT last_seq FROM vehicle_command_counters WHERE vehicle_id=$1`, vehicle).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

func (s *pgStore) AddApproval(ctx context.Context, a Approval) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM commands WHERE id=$1`, a.Command).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: command %s", ErrNotFound, a.Command)
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO approvals(command_id,approver,at,expires_at) VALUES($1,$2,$3,$4)
			ON CONFLICT (command_id,approver) DO UPDATE SET at=excluded.at, expires_at=excluded.expires_at WHERE approvals.expires_at <= excluded.at`,
			a.Command, a.Approver, a.At.UTC(), a.ExpiresAt.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s already approved command %s", ErrConflict, a.Approver, a.Command)
		}
		// The approval is an audit item of this commit, taken from its
		// history row, which is never updated.
		if _, err := tx.Exec(ctx, `INSERT INTO approval_history(command_id,approver,at,expires_at) VALUES($1,$2,$3,$4)`,
			a.Command, a.Approver, a.At.UTC(), a.ExpiresAt.UTC()); err != nil {
			return err
		}
		return appendAuditItemsPg(ctx, tx, []AuditItem{approvalAuditItem(a)})
	})
}

func (s *pgStore) ListApprovals(ctx context.Context, command string) ([]Approval, error) {
	return s.approvals(ctx, `SELECT approver,at,expires_at FROM approvals WHERE command_id=$1 ORDER BY at, approver`, command)
}

func (s *pgStore) ApprovalHistory(ctx context.Context, command string) ([]Approval, error) {
	return s.approvals(ctx, `SELECT approver,at,expires_at FROM approval_history WHERE command_id=$1 ORDER BY at, approver`, command)
}

func (s *pgStore) approvals(ctx context.Context, q, command string) ([]Approval, error) {
	rows, err := s.pool.Query(ctx, q, command)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Approval, error) {
		a := Approval{Command: command}
		err := r.Scan(&a.Approver, &a.At, &a.ExpiresAt)
		a.At, a.ExpiresAt = a.At.UTC(), a.ExpiresAt.UTC()
		return a, err
	})
}

func (s *pgStore) PutIdempotency(ctx context.Context, r IdempotencyRecord) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return pgPutIdem(ctx, tx, r) })
}

func (s *pgStore) GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (IdempotencyRecord, error) {
	r := IdempotencyRecord{Client: client, Key: key}
	err := s.pool.QueryRow(ctx, `SELECT request_sha,status,body,created FROM idempotency_keys WHERE client=$1 AND key=$2`, client, key).
		Scan(&r.RequestSHA256, &r.Status, &r.Body, &r.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return IdempotencyRecord{}, fmt.Errorf("%w: idempotency key", ErrNotFound)
	}
	if err != nil {
		return IdempotencyRecord{}, err
	}
	if !bytes.Equal(r.RequestSHA256, requestSHA256) {
		return IdempotencyRecord{}, ErrIdempotencyKeyReused
	}
	r.Created = r.Created.UTC()
	return r, nil
}

func (s *pgStore) PruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created < $1`, before.UTC())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// --- webhook outbox ---

func (s *pgStore) EnqueueWebhook(ctx context.Context, m WebhookMessage) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO webhook_outbox(client,event_type,body,next_attempt_at,created) VALUES($1,$2,$3,$4,$5) RETURNING id`,
		m.Client, m.EventType, nonNil(m.Body), m.NextAttemptAt.UTC(), m.CreatedAt.UTC()).Scan(&id)
	return id, err
}

func (s *pgStore) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookMessage, error) {
	// SKIP LOCKED: replicas claiming at once take disjoint messages.
	rows, err := s.pool.Query(ctx, `UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $1
		WHERE id IN (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND NOT dead AND next_attempt_at <= $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id,client,event_type,body,attempts,next_attempt_at,created,delivered_at,dead`, now.Add(lease).UTC(), now.UTC(), pageSize(limit))
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookMessage, error) {
		var m WebhookMessage
		var delivered *time.Time
		err := r.Scan(&m.ID, &m.Client, &m.EventType, &m.Body, &m.Attempts, &m.NextAttemptAt, &m.CreatedAt, &delivered, &m.Dead)
		m.NextAttemptAt, m.CreatedAt, m.DeliveredAt = m.NextAttemptAt.UTC(), m.CreatedAt.UTC(), zeroIfNil(delivered)
		return m, err
	})
	sortWebhooks(out)
	return out, err
}

func (s *pgStore) webhookUpdate(ctx context.Context, id int64, q string, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, append(args, id)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: webhook message %d", ErrNotFound, id)
	}
	return nil
}

func (s *pgStore) MarkWebhookDelivered(ctx context.Context, id int64, at time.Time) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET delivered_at=$1 WHERE id=$2`, at.UTC())
}

func (s *pgStore) RescheduleWebhook(ctx context.Context, id int64, next time.Time) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET next_attempt_at=$1 WHERE delivered_at IS NULL AND NOT dead AND id=$2`, next.UTC())
}

func (s *pgStore) MarkWebhookDead(ctx context.Context, id int64) error {
	return s.webhookUpdate(ctx, id, `UPDATE webhook_outbox SET dead=true WHERE id=$1`)
}
