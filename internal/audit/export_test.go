package audit

import "github.com/fifthwheel/fifthwheel/internal/store"

// StepFunc exposes the sequencer's tree step to tests that drive the
// store's SequenceAudit themselves (the crash test).
func (q *Sequencer) StepFunc() store.AuditStep { return q.step }

// WithPages returns opts reading leaves leaves and items items at a time:
// small pages make a small log span several.
func WithPages(opts VerifyOptions, leaves, items int) VerifyOptions {
	opts.leafPage, opts.itemPage = leaves, items
	return opts
}
