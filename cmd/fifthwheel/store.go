package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
)

func (a *app) storeCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "store",
		Short: "Manage the gateway's database",
		Long: `Manage the gateway's database: embedded SQLite in a data directory (--data
DIR, the default engine) or PostgreSQL (--store URL, for several gateway
replicas sharing one database).`,
	})
	cmd.AddCommand(a.storeMigrateCmd())
	return cmd
}

func (a *app) storeMigrateCmd() *cobra.Command {
	f := stateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create the database or bring its schema up to date",
		Long: `Create the database or bring its schema up to date, then print the schema
version. With --data, the directory (mode 0700) and the SQLite database are
created if missing. Running it again changes nothing. A database written by a
newer fifthwheel, or a file that is not a fifthwheel database, is refused and
left untouched.`,
		Example: `  fifthwheel store migrate --data /var/lib/fifthwheel
  fifthwheel store migrate --store 'postgres://fifthwheel@db:5432/fifthwheel?sslmode=verify-full'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := a.loadConfig(cmd, &f)
			if err != nil {
				return err
			}
			if f.config == "" && cfg.DataDir == "" && cfg.StoreURL == "" {
				return &usageError{
					err:  fmt.Errorf("store migrate needs a store: pass --data DIR (embedded SQLite) or --store URL (PostgreSQL)"),
					hint: "see 'fifthwheel store migrate --help'",
				}
			}
			if err := validate(cfg, src, false, "configuration"); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cfg, true)
			if err != nil {
				return err
			}
			defer st.Close()
			version, err := st.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			log := newLogger(a.stderr, cfg.Log)
			bus, closeEvents, err := eventBus(cfg, st, nil, log)
			if err != nil {
				return err
			}
			defer closeEvents()
			if err := emit(ctx, bus, "migrate", codes.StoreMigrated, map[string]any{
				"engine": st.Engine(), "schema_version": version,
			}); err != nil {
				log.Error("cannot record the migration event", slog.Any("err", err))
				return fmt.Errorf("the schema is at version %d, but the migration event was not recorded: %v", version, err)
			}
			_ = closeEvents() // the events file, before the store closes
			if err := st.Close(); err != nil {
				return fmt.Errorf("closing the store: %v", err)
			}
			fmt.Fprintf(a.stdout, "store: %s, schema version %d\n", storeDesc(cfg), version)
			return nil
		},
	}
	f.register(cmd.Flags())
	return cmd
}
