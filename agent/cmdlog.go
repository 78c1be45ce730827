package agent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// CommandLogFile is the name of the executed-command log in
// Config.CommandStateDir (Config.StateDir by default).
const CommandLogFile = "commands.json"

// commandLog is the executed-command log: what makes a command run at
// most once and answered the same way every time it is delivered. It
// holds the highest cmd_seq decided and, per recent command, its
// (cmd_seq, command_id, digest) and its state: executing (the handler was
// about to be called) or answered (with the answer). The file
//
//	{"entries":[{"cmd_seq":7,"command_id":"cmd-1","digest":"<hex>","expires_at":"...",
//	  "state":"answered","verdict":"accepted"}],"last_cmd_seq":7,"v":1,"vehicle_id":"truck-1"}
//
// is replaced durably on every change, as the frame counter is (a
// temporary file, fsync, rename, fsync of the directory): a crash leaves
// the old or the new log, never a mix.
//
// The crash windows, and what a redelivery of the command then gets:
//
//  1. before the executing record is durable: the handler has not been
//     called; the command is decided afresh;
//  2. after it, before the answer is durable (the handler may or may not
//     have acted): the handler is never called again; the answer is
//     rejected, command_interrupted (the AV stack's own state says what
//     happened);
//  3. after the answer is durable (sent or not): the same answer again.
//
// It is used from the agent's command goroutine only.
type commandLog struct {
	path    string
	vehicle string
	last    uint64
	entries []logEntry
}

type logEntry struct {
	CmdSeq    uint64        `json:"cmd_seq"`
	CommandID string        `json:"command_id"`
	Digest    string        `json:"digest"`
	ExpiresAt time.Time     `json:"expires_at"`
	State     string        `json:"state"` // logExecuting or logAnswered
	Verdict   frame.Verdict `json:"verdict,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Detail    string        `json:"detail,omitempty"`
}

const (
	logExecuting = "executing"
	logAnswered  = "answered"
)

type commandLogFile struct {
	V          int        `json:"v"`
	VehicleID  string     `json:"vehicle_id"`
	LastCmdSeq uint64     `json:"last_cmd_seq"`
	Entries    []logEntry `json:"entries"`
}

// openCommandLog opens (or starts) vehicleID's log in dir. A file that
// does not read exactly is an error, never guessed around: a lost log
// could run a command twice.
func openCommandLog(dir, vehicleID string) (*commandLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: command state directory: %w", err)
	}
	l := &commandLog{path: filepath.Join(dir, CommandLogFile), vehicle: vehicleID}
	b, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("agent: read command log: %w", err)
	}
	var f commandLogFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || dec.More() || f.V != 1 {
		return nil, fmt.Errorf("agent: command log %s is corrupt; restore it (deleting it lets a redelivered command run again)", l.path)
	}
	if f.VehicleID != vehicleID {
		return nil, fmt.Errorf("agent: command log %s belongs to vehicle %q, not %q", l.path, f.VehicleID, vehicleID)
	}
	for _, e := range f.Entries {
		if e.CmdSeq == 0 || e.CmdSeq > f.LastCmdSeq || (e.State != logExecuting && e.State != logAnswered) {
			return nil, fmt.Errorf("agent: command log %s is inconsistent", l.path)
		}
	}
	l.last, l.entries = f.LastCmdSeq, f.Entries
	return l, nil
}

// match is what the log knows of a delivered command.
type match int

const (
	matchNone     match = iota // not decided before
	matchSame                  // this command was decided: *logEntry says how
	matchConflict              // its cmd_seq or command_id was decided with other content
)

// lookup finds the command (cmdSeq, id, digest) in the log.
func (l *commandLog) lookup(cmdSeq uint64, id string, digest [32]byte) (match, *logEntry) {
	d := hex.EncodeToString(digest[:])
	for i := range l.entries {
		e := &l.entries[i]
		if e.CmdSeq != cmdSeq && e.CommandID != id {
			continue
		}
		if e.CmdSeq == cmdSeq && e.CommandID == id && e.Digest == d {
			return matchSame, e
		}
		return matchConflict, e
	}
	return matchNone, nil
}

// record writes e (a new command, or a new state of one in the log) and
// the raised high-water mark durably, then keeps it in memory. On error
// the log in memory is unchanged.
func (l *commandLog) record(e logEntry, now time.Time) error {
	entries := slices.Clone(l.entries)
	if i := slices.IndexFunc(entries, func(x logEntry) bool { return x.CmdSeq == e.CmdSeq }); i >= 0 {
		entries[i] = e
	} else {
		entries = append(entries, e)
	}
	// Forget answered commands long expired, then the oldest beyond the
	// bound; never one still executing (it is the newest anyway).
	entries = slices.DeleteFunc(entries, func(x logEntry) bool {
		return x.State == logAnswered && now.Sub(x.ExpiresAt) > commandLogRetention
	})
	slices.SortFunc(entries, func(a, b logEntry) int { return cmpUint(a.CmdSeq, b.CmdSeq) })
	if n := len(entries) - maxCommandLogEntries; n > 0 {
		entries = entries[n:]
	}
	last := max(l.last, e.CmdSeq)
	b, err := json.Marshal(commandLogFile{V: 1, VehicleID: l.vehicle, LastCmdSeq: last, Entries: entries})
	if err != nil {
		return err
	}
	if err := writeFileSync(l.path, b, 0o600); err != nil {
		return fmt.Errorf("agent: record command %d: %w", e.CmdSeq, err)
	}
	l.last, l.entries = last, entries
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
