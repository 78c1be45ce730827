package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// startSIEM starts the sinks that tail the store (the events file, syslog,
// the SIEM webhook, NATS; package siem) on bg. stop delivers what is
// stored (for a few seconds at most) and stops them.
func startSIEM(bg context.Context, cfg config.Config, st store.Store, bus event.Emitter, log *slog.Logger) (stop func(), err error) {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, host)
	holder := fmt.Sprintf("%.64s/%d/%s", host, os.Getpid(), event.NewID()[:8])
	return siem.Start(bg, cfg, siem.Setup{Store: st, Events: bus, Log: log, Holder: holder,
		Product: ocsf.Product{Name: "fifthwheel", VendorName: "fifthwheel", Version: buildInfo().Version}})
}
