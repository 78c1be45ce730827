package config

import (
	"strings"
	"testing"
	"time"
)

// TestSIEMValidation: each bad SIEM setting is refused with its path.
func TestSIEMValidation(t *testing.T) {
	for _, tc := range []struct {
		path string
		set  func(c *Config)
	}{
		{"siem.syslog.address", func(c *Config) { c.SIEM.Syslog.Address = "no-port"; c.SIEM.Syslog.CAFile = "ca.pem" }},
		{"siem.syslog.ca_file", func(c *Config) { c.SIEM.Syslog.Address = "siem:6514" }},
		{"siem.syslog.facility", func(c *Config) { c.SIEM.Syslog.Facility = 24 }},
		{"siem.syslog.sd_id", func(c *Config) { c.SIEM.Syslog.SDID = "no-number" }},
		{"siem.syslog.sd_id", func(c *Config) { c.SIEM.Syslog.SDID = `a"b@1` }},
		{"siem.webhook.url", func(c *Config) { c.SIEM.Webhook.URL = "http://siem/x"; c.SIEM.Webhook.SecretFile = "s" }},
		{"siem.webhook.secret_file", func(c *Config) { c.SIEM.Webhook.URL = "https://siem/x" }},
		{"siem.webhook.batch", func(c *Config) { c.SIEM.Webhook.Batch = 0 }},
		{"siem.webhook.max_attempts", func(c *Config) { c.SIEM.Webhook.MaxAttempts = 0 }},
		{"siem.webhook.max_age", func(c *Config) { c.SIEM.Webhook.MaxAge = time.Second }},
		{"siem.webhook.timeout", func(c *Config) { c.SIEM.Webhook.Timeout = time.Hour }},
		{"siem.nats.url", func(c *Config) { c.SIEM.NATS.URL = "http://nats:4222" }},
		{"siem.nats.url", func(c *Config) { c.SIEM.NATS.URL = "nats://user:pw@nats:4222" }},
		{"siem.nats.subject_prefix", func(c *Config) { c.SIEM.NATS.SubjectPrefix = "a.*" }},
		{"siem.nats.stream", func(c *Config) { c.SIEM.NATS.Stream = "A.B" }},
		{"events.max_size", func(c *Config) { c.Events.MaxSize = 10 }},
		{"events.max_age", func(c *Config) { c.Events.MaxAge = time.Second }},
		{"events.keep", func(c *Config) { c.Events.Keep = 0 }},
		{"events.keep_age", func(c *Config) { c.Events.KeepAge = time.Minute }},
	} {
		c := Default()
		c.DataDir = "/srv/fw"
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.path+":") {
			t.Errorf("%s: %v", tc.path, err)
		}
	}
	c := Default()
	c.DataDir = "/srv/fw"
	c.SIEM.Syslog = SIEMSyslog{Address: "siem:6514", CAFile: "ca.pem", Facility: 13, SDID: "acme@12345"}
	c.SIEM.Webhook.URL, c.SIEM.Webhook.SecretFile = "https://siem.example/in", "/etc/fw/siem.secret"
	c.SIEM.NATS.URL = "tls://nats-1:4222, tls://nats-2:4222"
	if err := c.Validate(); err != nil {
		t.Fatalf("a good SIEM configuration: %v", err)
	}
}
