package siem

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// SyslogConfig configures the syslog sink. Zero values take defaults.
type SyslogConfig struct {
	Address  string      // host:port of the syslog server (TLS; 6514 is RFC 5425's port)
	TLS      *tls.Config // RootCAs (the CA that issued the server's certificate), ServerName
	Facility int         // 0 to 23 (DefaultSyslogFacility); -1 is not allowed
	Hostname string      // HOSTNAME (default: the machine's name)
	AppName  string      // APP-NAME (default: the product name)
	SDID     string      // the structured data element's id (DefaultSDID)
	Timeout  time.Duration
	Product  ocsf.Product
}

// Syslog is the syslog sink: RFC 5424 over TLS (RFC 5425).
type Syslog struct {
	cfg    SyslogConfig
	tls    *tls.Config
	procID string

	mu   sync.Mutex
	conn *tls.Conn
}

// NewSyslog returns the sink after checking cfg. It does not connect:
// the first batch does, and every batch after a failure.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("siem: syslog address %q: %v", cfg.Address, err)
	}
	if cfg.Facility < 0 || cfg.Facility > 23 {
		return nil, errors.New("siem: the syslog facility must be 0 to 23")
	}
	if cfg.Facility == 0 {
		cfg.Facility = DefaultSyslogFacility
	}
	if cfg.Product.Name == "" {
		cfg.Product = ocsf.DefaultProduct
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.AppName == "" {
		cfg.AppName = cfg.Product.Name
	}
	if cfg.SDID == "" {
		cfg.SDID = DefaultSDID
	}
	if !validSDName(strings.Replace(cfg.SDID, "@", "", 1)) || !strings.Contains(cfg.SDID, "@") {
		return nil, fmt.Errorf("siem: syslog SD-ID %q: name@enterprise-number, printable ASCII without '=', ' ', ']' or '\"', at most 32 bytes", cfg.SDID)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultSyslogTimeout
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(cfg.Address)
		tc.ServerName = host
	}
	return &Syslog{cfg: cfg, tls: tc, procID: strconv.Itoa(os.Getpid())}, nil
}

// Name is the sink's stream consumer name.
func (s *Syslog) Name() string { return SinkSyslog }

func (s *Syslog) network() {}

// Handle writes evs as one write of octet-counted RFC 5424 messages
// (tail.Handler). Before it writes, it checks that the connection is still
// open (a server that closed it between batches is noticed, not written
// to) and connects when there is none.
func (s *Syslog) Handle(ctx context.Context, evs []store.StreamEvent) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf []byte
	for i := range evs {
		buf = AppendSyslogFrame(buf, s.message(evs[i]))
	}
	if s.conn != nil && !alive(s.conn) {
		s.closeConn()
	}
	if s.conn == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: s.cfg.Timeout}, Config: s.tls}
		c, err := d.DialContext(ctx, "tcp", s.cfg.Address)
		if err != nil {
			return 0, fmt.Errorf("siem syslog: connect to %s: %v", s.cfg.Address, err)
		}
		s.conn = c.(*tls.Conn)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	if _, err := s.conn.Write(buf); err != nil {
		s.closeConn()
		return 0, fmt.Errorf("siem syslog: write: %v", err)
	}
	return len(evs), nil
}

// alive reports whether the server has not closed c: RFC 5425 servers send
// nothing, so a read that times out at once means open; EOF or data (which
// a syslog server never sends) means closed or broken.
func alive(c *tls.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Syslog) closeConn() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeConn()
	return nil
}

// message is one event as an RFC 5424 message (RFC 5424 §6):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID event_id="…" class_uid="…" code="…"] MSG
//
// PRI = facility*8 + severity (§6.2.1); TIMESTAMP is the event's time in
// UTC with milliseconds (§6.2.3); MSGID is the reason code; MSG is the
// OCSF event as JSON (MSG-ANY, no BOM: SIEMs parse it as JSON).
func (s *Syslog) message(e store.StreamEvent) []byte {
	o := ocsf.Map(e.EventRow, s.cfg.Product)
	msg, err := json.Marshal(o)
	if err != nil {
		msg = []byte(`{"error":"unencodable event"}`)
	}
	sev, _ := o["severity_id"].(int)
	pri := s.cfg.Facility*8 + syslogSeverity(sev)
	var b strings.Builder
	b.WriteString("<" + strconv.Itoa(pri) + ">1 ")
	b.WriteString(e.Time.UTC().Format("2006-01-02T15:04:05.000Z") + " ")
	b.WriteString(headerField(s.cfg.Hostname, maxHostname) + " ")
	b.WriteString(headerField(s.cfg.AppName, maxAppName) + " ")
	b.WriteString(headerField(s.procID, 128) + " ")
	b.WriteString(headerField(e.Code, maxMsgID) + " ")
	b.WriteString("[" + s.cfg.SDID)
	writeParam(&b, "event_id", e.ID)
	writeParam(&b, "class_uid", strconv.Itoa(o["class_uid"].(int)))
	writeParam(&b, "code", e.Code)
	b.WriteString("] ")
	out := []byte(b.String())
	return append(out, msg...)
}

// AppendSyslogFrame appends msg with RFC 5425 §4.3 octet-counting
// framing: MSG-LEN SP SYSLOG-MSG.
func AppendSyslogFrame(buf, msg []byte) []byte {
	buf = strconv.AppendInt(buf, int64(len(msg)), 10)
	buf = append(buf, ' ')
	return append(buf, msg...)
}

// syslogSeverity maps OCSF severity_id to syslog severity (RFC 5424
// Table 2): critical → 2 critical, high → 3 error, medium → 4 warning,
// low → 5 notice, informational and other → 6 informational.
func syslogSeverity(ocsfSev int) int {
	switch ocsfSev {
	case 5, 6:
		return 2
	case 4:
		return 3
	case 3:
		return 4
	case 2:
		return 5
	}
	return 6
}

// headerField is v as an RFC 5424 header field: PRINTUSASCII (33-126),
// at most n octets, "-" (the NILVALUE) when empty. Other octets become
// '_'.
func headerField(v string, n int) string {
	if v == "" {
		return "-"
	}
	b := []byte(v[:min(len(v), n)])
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// writeParam writes SP PARAM-NAME "=" %d34 PARAM-VALUE %d34 with '"', '\'
// and ']' escaped (RFC 5424 §6.3.3).
func writeParam(b *strings.Builder, name, value string) {
	b.WriteString(" " + name + `="`)
	for _, r := range value {
		if r == '"' || r == '\\' || r == ']' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
}

// validSDName: SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', '"'.
func validSDName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			return false
		}
	}
	return true
}
