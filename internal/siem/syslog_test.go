package siem_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// The strict parser: RFC 5425 §4.3 octet counting, RFC 5424 §6 ABNF.
// Written from the RFCs, independently of the formatter.

// syslogMsg is a parsed RFC 5424 message.
type syslogMsg struct {
	pri                          int
	timestamp                    time.Time
	hostname, app, procID, msgID string
	sdID                         string
	params                       map[string]string
	msg                          []byte
}

// readFrame reads one octet-counted frame: MSG-LEN SP SYSLOG-MSG, with
// MSG-LEN = NONZERO-DIGIT 0*8DIGIT.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var digits []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(digits) == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("frame length: %v", err)
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || (len(digits) == 0 && c == '0') || len(digits) == 9 {
			return nil, fmt.Errorf("bad MSG-LEN octet %q after %q", c, digits)
		}
		digits = append(digits, c)
	}
	if len(digits) == 0 {
		return nil, errors.New("empty MSG-LEN")
	}
	n, _ := strconv.Atoi(string(digits))
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("frame of %d: %v", n, err)
	}
	return b, nil
}

func printUSASCII(s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%q: 1 to %d octets", s, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return fmt.Errorf("%q: octet %d not PRINTUSASCII", s, i)
		}
	}
	return nil
}

// parse5424 parses SYSLOG-MSG strictly.
func parse5424(b []byte) (syslogMsg, error) {
	var m syslogMsg
	s := string(b)
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, errors.New("PRIVAL is 1 to 3 digits")
	}
	pv := s[1:end]
	if len(pv) > 1 && pv[0] == '0' {
		return m, errors.New("PRIVAL with a leading zero")
	}
	pri, err := strconv.Atoi(pv)
	if err != nil || pri < 0 || pri > 191 {
		return m, fmt.Errorf("PRIVAL %q", pv)
	}
	m.pri = pri
	s = s[end+1:]
	if !strings.HasPrefix(s, "1 ") {
		return m, errors.New("VERSION is not 1")
	}
	s = s[2:]
	fields := strings.SplitN(s, " ", 6)
	if len(fields) != 6 {
		return m, errors.New("header fields missing")
	}
	ts := fields[0]
	if ts != "-" {
		// FULL-DATE "T" FULL-TIME, TIME-SECFRAC at most 6 digits.
		if i := strings.IndexByte(ts, '.'); i >= 0 {
			j := i + 1
			for j < len(ts) && ts[j] >= '0' && ts[j] <= '9' {
				j++
			}
			if j-i-1 < 1 || j-i-1 > 6 {
				return m, fmt.Errorf("TIME-SECFRAC in %q", ts)
			}
		}
		if m.timestamp, err = time.Parse(time.RFC3339Nano, ts); err != nil || !strings.Contains(ts, "T") {
			return m, fmt.Errorf("TIMESTAMP %q: %v", ts, err)
		}
	}
	for _, f := range []struct {
		v   string
		max int
		dst *string
	}{{fields[1], 255, &m.hostname}, {fields[2], 48, &m.app}, {fields[3], 128, &m.procID}, {fields[4], 32, &m.msgID}} {
		if err := printUSASCII(f.v, f.max); err != nil {
			return m, err
		}
		*f.dst = f.v
	}
	s = fields[5]
	// STRUCTURED-DATA: exactly one SD-ELEMENT here (or NILVALUE).
	if strings.HasPrefix(s, "-") {
		return m, errors.New("no structured data (the event id must be there)")
	}
	if !strings.HasPrefix(s, "[") {
		return m, errors.New("SD-ELEMENT does not start with [")
	}
	s = s[1:]
	i := strings.IndexAny(s, " ]")
	if i < 0 {
		return m, errors.New("unterminated SD-ELEMENT")
	}
	m.sdID = s[:i]
	if err := sdName(strings.Replace(m.sdID, "@", "", 1)); err != nil || strings.Count(m.sdID, "@") != 1 {
		return m, fmt.Errorf("SD-ID %q is not name@number", m.sdID)
	}
	s = s[i:]
	m.params = map[string]string{}
	for strings.HasPrefix(s, " ") {
		s = s[1:]
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return m, errors.New("SD-PARAM without =")
		}
		name := s[:eq]
		if err := sdName(name); err != nil {
			return m, err
		}
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			return m, errors.New("PARAM-VALUE not quoted")
		}
		s = s[1:]
		var v strings.Builder
		closed := false
		for len(s) > 0 {
			c := s[0]
			if c == '\\' && len(s) > 1 && (s[1] == '"' || s[1] == '\\' || s[1] == ']') {
				v.WriteByte(s[1])
				s = s[2:]
				continue
			}
			if c == '"' {
				s = s[1:]
				closed = true
				break
			}
			if c == ']' {
				return m, errors.New("unescaped ] in PARAM-VALUE")
			}
			v.WriteByte(c)
			s = s[1:]
		}
		if !closed || !utf8.ValidString(v.String()) {
			return m, errors.New("bad PARAM-VALUE")
		}
		if _, dup := m.params[name]; dup {
			return m, fmt.Errorf("param %s twice", name)
		}
		m.params[name] = v.String()
	}
	if !strings.HasPrefix(s, "]") {
		return m, errors.New("SD-ELEMENT not closed")
	}
	s = s[1:]
	if !strings.HasPrefix(s, " ") {
		return m, errors.New("no SP before MSG")
	}
	m.msg = []byte(s[1:])
	return m, nil
}

func sdName(s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("SD-NAME %q length", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' || c == ' ' {
			return fmt.Errorf("SD-NAME %q octet %q", s, c)
		}
	}
	return nil
}

// syslogServer is a TLS syslog server that parses everything strictly.
type syslogServer struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []syslogMsg
	errs  []error
	conns []net.Conn
	total int
}

func newSyslogServer(t *testing.T, cert tls.Certificate, maxVersion uint16) *syslogServer {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion}
	if maxVersion != 0 {
		cfg.MinVersion = tls.VersionTLS10
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &syslogServer{ln: ln}
	t.Cleanup(func() { ln.Close(); s.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.total++
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

func (s *syslogServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		b, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "closed") && !strings.Contains(err.Error(), "handshake") && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "certificate") {
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}
			return
		}
		m, err := parse5424(b)
		s.mu.Lock()
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%v in %q", err, b))
		} else {
			s.msgs = append(s.msgs, m)
		}
		s.mu.Unlock()
	}
}

func (s *syslogServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *syslogServer) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.params["event_id"])
	}
	return out
}

func TestSyslogOverTLS(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	ca := newTestCA(t)
	srv := newSyslogServer(t, ca.server, 0)
	sink, err := siem.NewSyslog(siem.SyslogConfig{Address: srv.ln.Addr().String(), TLS: &tls.Config{RootCAs: ca.pool},
		Hostname: "gw-1", Facility: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	want := appendEvents(t, st, "s", 0, 12)
	runCtx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { siem.Run(runCtx, st, fastRun("h1"), sink); close(done) }()
	waitFor(t, "the first events", func() bool { return len(srv.ids()) >= len(want) })
	// The server goes away between batches (a restart): the sink notices
	// the closed connection, reconnects, and the next events arrive.
	srv.dropAll()
	want = append(want, appendEvents(t, st, "t", 0, 8)...)
	waitFor(t, "the events after the reconnect", func() bool { return len(distinct(srv.ids())) >= len(want) })
	cancel()
	<-done
	got := distinct(srv.ids())
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, err := range srv.errs {
		t.Errorf("strict parser: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %v\nwant %v", got, want)
	}
	if srv.total < 2 {
		t.Errorf("%d connections: the sink did not reconnect", srv.total)
	}
	m := srv.msgs[0]
	// A replay is high severity: syslog error (3), facility 10: 83.
	if m.pri != 10*8+3 || m.hostname != "gw-1" || m.app != "fifthwheel" || m.msgID != "replay" || m.sdID != siem.DefaultSDID {
		t.Errorf("header %+v", m)
	}
	var o struct {
		ClassUID int `json:"class_uid"`
		Time     int64
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(m.msg, &o); err != nil {
		t.Fatalf("MSG is not the OCSF JSON: %v", err)
	}
	if o.Metadata.UID != m.params["event_id"] || o.ClassUID != 2004 || m.params["class_uid"] != "2004" || m.params["code"] != "replay" {
		t.Errorf("MSG %+v, params %v", o, m.params)
	}
	if m.timestamp.UnixMilli() != o.Time {
		t.Errorf("TIMESTAMP %v, OCSF time %d", m.timestamp, o.Time)
	}
}

// TestSyslogFramingEscapes: the formatter's framing and escaping under the
// strict parser, with values that need escaping.
func TestSyslogFramingEscapes(t *testing.T) {
	msg := []byte(`<83>1 2026-12-05T22:00:00.123Z gw 1 2 replay [fifthwheel@32473 event_id="a\"b\\c\]d"] {}`)
	frame := siem.AppendSyslogFrame(nil, msg)
	b, err := readFrame(bufio.NewReader(strings.NewReader(string(frame))))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parse5424(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.params["event_id"] != `a"b\c]d` {
		t.Fatalf("param %q", m.params["event_id"])
	}
	for _, bad := range []string{"0 ", "01 x", "x ", "3 ab"} {
		if _, err := readFrame(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("frame %q accepted", bad)
		}
	}
}

// TestAttackSyslogImpostorServer: a server whose certificate does not
// chain to the configured CA gets no events.
func TestAttackSyslogImpostorServer(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	impostor := newSyslogServer(t, newTestCA(t).server, 0)
	trusted := newTestCA(t)
	sink, err := siem.NewSyslog(siem.SyslogConfig{Address: impostor.ln.Addr().String(), TLS: &tls.Config{RootCAs: trusted.pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	appendEvents(t, st, "s", 0, 3)
	n, err := sink.Handle(ctx, readAll(t, st))
	if err == nil || n != 0 {
		t.Fatalf("handle: %d, %v: delivered to an impostor", n, err)
	}
	time.Sleep(50 * time.Millisecond)
	if ids := impostor.ids(); len(ids) != 0 {
		t.Fatalf("the impostor received %v", ids)
	}
}

// TestAttackSyslogTLSDowngrade: a server (or a man in the middle) offering
// only TLS 1.1 is refused.
func TestAttackSyslogTLSDowngrade(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	ca := newTestCA(t)
	old := newSyslogServer(t, ca.server, tls.VersionTLS11)
	sink, err := siem.NewSyslog(siem.SyslogConfig{Address: old.ln.Addr().String(), TLS: &tls.Config{RootCAs: ca.pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	appendEvents(t, st, "s", 0, 2)
	if n, err := sink.Handle(ctx, readAll(t, st)); err == nil || n != 0 {
		t.Fatalf("handle: %d, %v: sent over TLS 1.1", n, err)
	}
	if ids := old.ids(); len(ids) != 0 {
		t.Fatalf("received over TLS 1.1: %v", ids)
	}
}
