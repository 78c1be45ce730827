package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// stateFlags are the flags of every command that reads or changes gateway
// state. Register them with register; every such command then loads its
// configuration with loadConfig and opens the store with openStore, so
// --data and --store mean the same everywhere.
type stateFlags struct {
	config string
	data   string
	store  string
	// paths maps further flag names of the command to configuration paths
	// ("listen-ops" -> "listen.ops"); loadConfig applies those that are set.
	paths map[string]string
}

func (f *stateFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "read settings from the YAML `FILE` (see 'fifthwheel config check')")
	fs.StringVar(&f.data, "data", "", "keep gateway state in `DIR`: the embedded SQLite database and the events file")
	fs.StringVar(&f.store, "store", "", "keep the database in PostgreSQL at `URL` (postgres://...) instead of SQLite in --data")
}

// loadConfig builds the effective configuration: defaults, then the --config
// file, then FIFTHWHEEL_* variables, then flags. It does not validate.
// Problems with the file, variables or flags are usage errors listing every
// one with where it came from.
func (a *app) loadConfig(cmd *cobra.Command, f *stateFlags) (config.Config, config.Sources, error) {
	cfg, src := config.Default(), config.Sources{}
	if f.config != "" {
		var err error
		cfg, src, err = config.Load(f.config)
		if err != nil {
			return cfg, src, &usageError{err: err}
		}
	}
	unknown, err := cfg.ApplyEnv(a.environ, src)
	for _, name := range unknown {
		fmt.Fprintf(a.stderr, "fifthwheel: warning: %s is not a configuration variable; ignored (see 'fifthwheel config print' for the settings)\n", name)
	}
	if err != nil {
		return cfg, src, &usageError{err: err}
	}
	flags := map[string]string{"data": "data_dir", "store": "store_url"}
	for name, path := range f.paths {
		flags[name] = path
	}
	var errs config.Errors
	for name, path := range flags {
		fl := cmd.Flags().Lookup(name)
		if fl == nil || !fl.Changed {
			continue
		}
		if err := cfg.Set(path, fl.Value.String()); err != nil {
			var fe config.FieldError
			errors.As(err, &fe)
			fe.Source = "--" + name
			errs = append(errs, fe)
			continue
		}
		src[path] = "--" + name
	}
	if len(errs) > 0 {
		return cfg, src, &usageError{err: errs}
	}
	return cfg, src, nil
}

// validate runs Validate (after ValidateDev for --dev) and returns their
// errors, located and at most one per setting, as a usage error.
func validate(cfg config.Config, src config.Sources, dev bool, defaultSource string) error {
	checks := []func() error{cfg.Validate}
	if dev {
		checks = []func() error{cfg.ValidateDev, cfg.Validate}
	}
	var all config.Errors
	seen := map[string]bool{}
	for _, check := range checks {
		var es config.Errors
		if !errors.As(check(), &es) {
			continue
		}
		for _, e := range es {
			if !seen[e.Path] {
				seen[e.Path] = true
				all = append(all, e)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	located := all.Locate(src)
	for i := range located {
		if located[i].Source == "" {
			located[i].Source = defaultSource
		}
	}
	return &usageError{err: located}
}

// storeConfig selects the engine: PostgreSQL when store_url is set, else the
// embedded SQLite database in data_dir. With store_url set, data_dir still
// holds the gateway's local files (the events file).
func storeConfig(cfg config.Config, create bool) store.Config {
	if cfg.StoreURL != "" {
		return store.Config{URL: cfg.StoreURL}
	}
	return store.Config{DataDir: cfg.DataDir, Create: create}
}

// storeDesc names the store for logs and messages, without secrets.
func storeDesc(cfg config.Config) string {
	if cfg.StoreURL != "" {
		return "postgres at " + config.URLHost(cfg.StoreURL)
	}
	return "sqlite in " + cfg.DataDir
}

// openStore opens the store cfg selects. create permits creating the data
// directory and an empty database (store migrate, serve --dev).
func openStore(ctx context.Context, cfg config.Config, create bool) (store.Store, error) {
	st, err := store.Open(ctx, storeConfig(cfg, create))
	if err != nil {
		// The store's messages name the location and what to run; they
		// never include the URL's password.
		return nil, err
	}
	return st, nil
}

// eventBus wires the security event sinks: the store (the durable
// record) and the client webhooks' outbox. The events file is not a bus
// sink: it is written from the store's event stream (package siem), so a
// full disk under it never refuses a vehicle. closeFn brings the events
// file up to date when no gateway holds it (a CLI command's events reach
// the file without a running serve); call it before closing the store.
func eventBus(cfg config.Config, st store.Store, stats event.Stats, log *slog.Logger) (bus *event.Bus, closeFn func() error, err error) {
	sinks := []event.Sink{event.NewStoreSink(st), webhookSink{st: st, log: log}} // webhookSink: webhooks.go
	closeFn = func() error {
		catchUpEventsFile(context.Background(), cfg, st, log)
		return nil
	}
	return event.NewBus(log, stats, sinks...), closeFn, nil
}
