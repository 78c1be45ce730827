package siem

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// NATSConfig configures the NATS JetStream sink. Zero values take
// defaults.
type NATSConfig struct {
	URL       string      // nats:// or tls:// server URL(s), comma-separated
	TLS       *tls.Config // RootCAs for a TLS server; nil: plain or system roots per URL
	CredsFile string      // a NATS credentials file (JWT and seed), optional
	Prefix    string      // subject prefix (DefaultNATSPrefix)
	Stream    string      // the JetStream stream, created when missing (DefaultNATSStream)
	Timeout   time.Duration
	Product   ocsf.Product
}

// NATS is the NATS JetStream sink.
type NATS struct {
	cfg NATSConfig

	mu     sync.Mutex
	nc     *nats.Conn
	js     jetstream.JetStream
	stream bool // the stream is known to exist
}

// NewNATS returns the sink after checking cfg. It does not connect: the
// first batch does (so a NATS that is down does not stop the gateway).
func NewNATS(cfg NATSConfig) (*NATS, error) {
	if cfg.URL == "" {
		return nil, errors.New("siem: the NATS sink needs a server URL")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultNATSPrefix
	}
	for _, tok := range strings.Split(cfg.Prefix, ".") {
		if tok == "" || subjectToken(tok) != tok {
			return nil, fmt.Errorf("siem: NATS subject prefix %q: dot-separated tokens of letters, digits, '_' and '-'", cfg.Prefix)
		}
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultNATSStream
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultNATSTimeout
	}
	if cfg.Product.Name == "" {
		cfg.Product = ocsf.DefaultProduct
	}
	return &NATS{cfg: cfg}, nil
}

// Name is the sink's stream consumer name.
func (s *NATS) Name() string { return SinkNATS }

func (s *NATS) network() {}

// Subject is an event's subject: <prefix>.<class>.<code>, each token cut
// to letters, digits, '_' and '-'.
func (s *NATS) Subject(class, code string) string { return NATSSubject(s.cfg.Prefix, class, code) }

// NATSSubject is the subject of an event of class and code under prefix
// (siem.nats.subject_prefix): what a subscriber filters on.
func NATSSubject(prefix, class, code string) string {
	return prefix + "." + subjectToken(class) + "." + subjectToken(code)
}

func subjectToken(t string) string {
	if t == "" {
		return "unknown"
	}
	b := []byte(t)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *NATS) connect(ctx context.Context) error {
	if s.nc == nil {
		opts := []nats.Option{nats.Name("fifthwheel siem"), nats.Timeout(s.cfg.Timeout),
			nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
			// No client-side buffer while disconnected: a publish fails at
			// once and the tail retries it, in order, after the reconnect.
			nats.ReconnectBufSize(-1)}
		if s.cfg.TLS != nil {
			tc := s.cfg.TLS.Clone()
			tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
			opts = append(opts, nats.Secure(tc))
		}
		if s.cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(s.cfg.CredsFile))
		}
		nc, err := nats.Connect(s.cfg.URL, opts...)
		if err != nil {
			return fmt.Errorf("siem nats: connect: %v", err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return fmt.Errorf("siem nats: %v", err)
		}
		s.nc, s.js = nc, js
	}
	if !s.stream {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		_, err := s.js.Stream(cctx, s.cfg.Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = s.js.CreateStream(cctx, jetstream.StreamConfig{Name: s.cfg.Stream, Subjects: []string{s.cfg.Prefix + ".>"},
				Storage: jetstream.FileStorage, Duplicates: DefaultNATSDuplicates})
		}
		if err != nil {
			return fmt.Errorf("siem nats: stream %s: %v", s.cfg.Stream, err)
		}
		s.stream = true
	}
	return nil
}

// Handle publishes evs one at a time, each acknowledged by JetStream
// before the next is sent, so a failure never lets a later event overtake
// an earlier one on a subject (tail.Handler). Nats-Msg-Id is the event id:
// the stream drops a re-delivery within its duplicate window.
func (s *NATS) Handle(ctx context.Context, evs []store.StreamEvent) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return 0, err
	}
	for i := range evs {
		body, err := ocsf.Marshal(evs[i].EventRow, s.cfg.Product)
		if err != nil {
			return i, err
		}
		msg := &nats.Msg{Subject: s.Subject(evs[i].Class, evs[i].Code), Data: body, Header: nats.Header{}}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		_, err = s.js.PublishMsg(pctx, msg, jetstream.WithMsgID(evs[i].ID))
		cancel()
		if err != nil {
			if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
				s.stream = false // recreated on the next attempt if it was deleted
			}
			return i, fmt.Errorf("siem nats: publish %s: %v", evs[i].ID, err)
		}
	}
	return len(evs), nil
}

// Close closes the connection.
func (s *NATS) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	return nil
}
