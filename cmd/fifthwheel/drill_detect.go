package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/siem"
)

// drillDetection is the detection drills' access to the gateway of e: its
// store, containment through an incident manager acting as by (as
// `fifthwheel incidents contain` does), the SIEM sinks its configuration
// names, and rcv, the SIEM webhook receiver it delivers to when the drills
// started it (nil against a running gateway).
func drillDetection(e *stateEnv, ca *pki.CA, by principal.Principal, rcv *drill.WebhookReceiver) (*drill.Detection, error) {
	m, err := newIncidents(e.cfg, e.st, e.bus, ca, nil, e.log)
	if err != nil {
		return nil, err
	}
	return &drill.Detection{Store: e.st, Sinks: siem.Configured(e.cfg), Receiver: rcv,
		Contain: func(ctx context.Context, id, action string) error {
			_, err := m.Contain(ctx, id, by, incident.Action{Kind: action, Reason: drillContainReason(action)})
			return err
		}}, nil
}

// drillContainReason is the reason a drill's containment is recorded
// with: for a revocation the RFC 5280 reason (a drill truck's key is
// treated as compromised), else plain text.
func drillContainReason(action string) string {
	if action == incident.ActionRevokeCertificate {
		return "key_compromise"
	}
	return "drill"
}

// devSIEM is the SIEM the in-process gateway of `drill` and `demo`
// delivers to, on loopback: the drills' webhook receiver and, for the
// demo, an embedded NATS JetStream server, so the whole path from a
// refusal to a SIEM runs with nothing installed. env configures the
// gateway for them.
type devSIEM struct {
	receiver *drill.WebhookReceiver
	nats     *natsserver.Server
	dir      string
	env      []string
}

// devNATSWait bounds the embedded NATS server's start.
const devNATSWait = 10 * time.Second

// startDevSIEM starts the receiver (and with withNATS the NATS server),
// writing the receiver's secret and CA into a private temporary directory.
func startDevSIEM(withNATS bool) (_ *devSIEM, err error) {
	dir, err := os.MkdirTemp("", "fifthwheel-siem-")
	if err != nil {
		return nil, err
	}
	s := &devSIEM{dir: dir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if s.receiver, err = drill.NewWebhookReceiver(); err != nil {
		return nil, err
	}
	secret, ca := filepath.Join(dir, "webhook.secret"), filepath.Join(dir, "webhook-ca.pem")
	if err := os.WriteFile(secret, s.receiver.Secret(), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(ca, s.receiver.CAPEM(), 0o600); err != nil {
		return nil, err
	}
	s.env = []string{config.EnvPrefix + "SIEM_WEBHOOK_URL=" + s.receiver.URL(),
		config.EnvPrefix + "SIEM_WEBHOOK_SECRET_FILE=" + secret, config.EnvPrefix + "SIEM_WEBHOOK_CA_FILE=" + ca}
	if withNATS {
		ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
		if err != nil {
			return nil, fmt.Errorf("the embedded NATS server: %w", err)
		}
		go ns.Start()
		s.nats = ns
		if !ns.ReadyForConnections(devNATSWait) {
			return nil, fmt.Errorf("the embedded NATS server did not start within %s", devNATSWait)
		}
		s.env = append(s.env, config.EnvPrefix+"SIEM_NATS_URL="+ns.ClientURL())
	}
	return s, nil
}

// stop stops what started and removes the directory.
func (s *devSIEM) stop() {
	if s.receiver != nil {
		s.receiver.Close()
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
	}
	_ = os.RemoveAll(s.dir)
}
