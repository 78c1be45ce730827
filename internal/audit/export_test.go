package audit

import "github.com/fifthwheel/fifthwheel/internal/store"

// StepFunc exposes the sequencer's tree step to tests that drive the
// store's SequenceAudit themselves (the crash test).
func (q *Sequencer) StepFunc() store.AuditStep { return q.step }
