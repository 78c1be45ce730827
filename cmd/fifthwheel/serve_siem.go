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
	return siem.Start(bg, cfg, siem.Setup{Store: st, Events: bus, Log: log, Holder: siemHolder(), Product: siemProduct()})
}

// catchUpEventsFile writes a CLI command's events (and any before them) to
// the events file when no gateway is running to do it; a failure is
// logged: the store keeps the events, and serve writes them later.
func catchUpEventsFile(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventEmitTimeout)
	defer cancel()
	if err := siem.CatchUpFile(ctx, cfg, st, siemHolder(), siemProduct()); err != nil {
		log.Warn("the events file was not brought up to date; serve will", slog.Any("err", err))
	}
}

// siemHolder names this process as a stream consumer's holder.
func siemHolder() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, host)
	return fmt.Sprintf("%.64s/%d/%s", host, os.Getpid(), event.NewID()[:8])
}

func siemProduct() ocsf.Product {
	return ocsf.Product{Name: "fifthwheel", VendorName: "fifthwheel", Version: buildInfo().Version}
}
