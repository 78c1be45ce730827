package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/server"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Long: `Print the module version, the VCS commit it was built from and the Go
version that built it, as read from the binary's embedded build information.
"(devel)" and "unknown" mean the binary was built from a source tree without
version or VCS information.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			b := buildInfo()
			fmt.Fprintf(a.stdout, "version: %s\ncommit:  %s\ngo:      %s\n", b.Version, b.Commit, b.GoVersion)
			return nil
		},
	}
}

// buildInfo reads the version, commit and Go version embedded in the binary.
func buildInfo() server.BuildInfo {
	b := server.BuildInfo{Version: "(devel)", Commit: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := bi.Main.Version; v != "" {
		b.Version = v
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Commit != "unknown" {
		b.Commit += "-dirty"
	}
	return b
}
