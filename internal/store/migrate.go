package store

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFS embed.FS

// migration is one versioned schema step of one engine.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the engine's migrations in version order. File names
// are NNNN_name.sql; versions start at 1 and have no gaps, and both engines
// have the same versions (a test checks).
func migrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	ents, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: bad migration file name %s", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: %s migrations have a gap at version %d", engine, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this binary writes.
func LatestVersion() int {
	ms, err := migrations("sqlite")
	if err != nil {
		panic(err) // embedded at build time; a broken embed is a build defect
	}
	return len(ms)
}

func tooNew(have int) error {
	return fmt.Errorf("%w: the store is at schema version %d, this binary knows up to %d; upgrade fifthwheel before using this store",
		ErrSchemaTooNew, have, LatestVersion())
}

// addColumn is an "-- add-column: TABLE COLUMN DEFINITION" line of a SQLite
// migration: SQLite has no ADD COLUMN IF NOT EXISTS, so the runner adds each
// such column itself, only when the table lacks it, before the migration's
// statements run. That keeps a migration that adds columns re-runnable.
// PostgreSQL migrations write ADD COLUMN IF NOT EXISTS instead.
type addColumn struct {
	table, column, definition string
}

const addColumnPrefix = "-- add-column: "

// addColumns returns m's add-column lines, in order.
func (m migration) addColumns() ([]addColumn, error) {
	var out []addColumn
	for _, line := range strings.Split(m.sql, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), addColumnPrefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 {
			return nil, fmt.Errorf("store: migration %d (%s): malformed add-column line %q", m.version, m.name, line)
		}
		out = append(out, addColumn{table: f[0], column: f[1], definition: strings.Join(f[2:], " ")})
	}
	return out, nil
}
