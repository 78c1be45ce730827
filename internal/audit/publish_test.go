package audit_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

type pubClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *pubClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *pubClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type noEvents struct{}

func (noEvents) Emit(context.Context, ...event.Event) error { return nil }

// checkpointReceiver is a customer's webhook: it verifies each request's
// signature with the client's secret (webhook.Verify), then the
// checkpoint with the log's verifier key as `audit key` prints it, and
// keeps the sizes it verified per client (the path names the client).
type checkpointReceiver struct {
	t       *testing.T
	clk     *pubClock
	secrets map[string][]byte
	vkey    string
	mu      sync.Mutex
	got     map[string][]uint64
}

func (r *checkpointReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	client := strings.TrimPrefix(req.URL.Path, "/hook/")
	body, _ := io.ReadAll(req.Body)
	if _, err := webhook.Verify(r.secrets[client], req.Header, body, r.clk.Now()); err != nil {
		r.t.Errorf("%s: webhook signature: %v", client, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m audit.CheckpointMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Type != audit.WebhookCheckpoint || req.Header.Get("Content-Type") == "" {
		r.t.Errorf("%s: body %s: %v", client, body, err)
	}
	v, err := audit.NewVerifier(r.vkey)
	if err != nil {
		r.t.Fatal(err)
	}
	cp, err := audit.OpenCheckpoint([]byte(m.Checkpoint), v)
	if err != nil || cp.Size != m.Size || cp.Origin != m.Origin || m.Time.IsZero() {
		r.t.Errorf("%s: checkpoint %q (size %d, origin %q): %v", client, m.Checkpoint, m.Size, m.Origin, err)
	}
	r.mu.Lock()
	r.got[client] = append(r.got[client], cp.Size)
	r.mu.Unlock()
}

func (r *checkpointReceiver) sizes() map[string][]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]uint64{}
	for k, v := range r.got {
		out[k] = slices.Clone(v)
	}
	return out
}

// TestCheckpointPublishedToAuditorsWebhooks: end to end, on both engines:
// the checkpoint a sequencer stored is enqueued for the active clients
// with a webhook whose roles grant audit:read, delivered by the webhook
// sender to a TLS receiver that verifies the HMAC signature and then the
// checkpoint with the log's key; at most once per Every, only when the
// log grew, and a second replica does not publish it again. A client
// without audit:read, one without a webhook and a suspended auditor get
// nothing.
func TestCheckpointPublishedToAuditorsWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		t.Parallel()
		l := newTestLog(t, e)
		clk := &pubClock{now: time.Now().UTC()}
		rcv := &checkpointReceiver{t: t, clk: clk, secrets: map[string][]byte{}, vkey: l.key.VerifierKey(), got: map[string][]uint64{}}
		srv := httptest.NewTLSServer(rcv)
		t.Cleanup(srv.Close)
		for _, c := range []struct {
			id, role string
			status   store.ClientStatus
			hook     bool
		}{
			{"aud", "auditor", store.ClientActive, true},
			{"sec", "security-admin", store.ClientActive, true},
			{"disp", "dispatcher", store.ClientActive, true},
			{"aud-nohook", "auditor", store.ClientActive, false},
			{"aud-suspended", "auditor", store.ClientSuspended, true},
			{"unknown-role", "superuser", store.ClientActive, true},
		} {
			if err := l.st.CreateClient(ctx, store.Client{ID: c.id, Name: c.id, Status: c.status, CreatedAt: clk.Now(), Roles: []string{c.role}}); err != nil {
				t.Fatal(err)
			}
			if !c.hook {
				continue
			}
			secret := []byte(strings.Repeat(c.id[:1], 32))
			rcv.secrets[c.id] = secret
			sealed, err := webhook.SealSecret(l.sealer, c.id, secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.st.SetClientWebhook(ctx, store.ClientWebhook{Client: c.id, URL: srv.URL + "/hook/" + c.id, Sealed: sealed, UpdatedAt: clk.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		sender, err := webhook.NewSender(webhook.Config{AllowPrivate: true, Timeout: 5 * time.Second}, webhook.Deps{Outbox: l.st,
			Endpoints: webhook.StoreEndpoints{Store: l.st, Secrets: l.sealer}, Events: noEvents{}, Now: clk.Now, RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		newPub := func() *audit.Publisher {
			p, err := audit.NewPublisher(audit.PublisherDeps{Store: l.st, Origin: origin, Now: clk.Now}, audit.PublisherConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		pub := newPub()
		grow := func() store.AuditCheckpoint {
			t.Helper()
			l.batches(t, 1, 2)
			cp, err := l.st.LatestAuditCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return cp
		}
		publish := func(p *audit.Publisher) time.Duration {
			t.Helper()
			wait, err := p.Publish(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sender.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return wait
		}
		want := func(aud, sec []uint64) {
			t.Helper()
			got := rcv.sizes()
			if len(got) > 2 || !slices.Equal(got["aud"], aud) || !slices.Equal(got["sec"], sec) {
				t.Fatalf("received %v, want aud %v, sec %v and nothing else", got, aud, sec)
			}
		}

		pub.Offer(ctx, grow()) // size 1
		if wait := publish(pub); wait != 0 {
			t.Fatalf("first publication waits %v", wait)
		}
		want([]uint64{1}, []uint64{1})

		// The log grows within Every: not yet; once Every has passed, the
		// newest checkpoint (size 3) goes out, once.
		pub.Offer(ctx, grow())
		pub.Offer(ctx, grow())
		clk.Add(audit.DefaultPublishEvery / 2)
		if wait := publish(pub); wait != audit.DefaultPublishEvery/2 {
			t.Fatalf("wait %v, want %v", wait, audit.DefaultPublishEvery/2)
		}
		want([]uint64{1}, []uint64{1})
		clk.Add(audit.DefaultPublishEvery / 2)
		publish(pub)
		want([]uint64{1, 3}, []uint64{1, 3})

		// No growth: nothing, however long.
		clk.Add(10 * audit.DefaultPublishEvery)
		if wait := publish(pub); wait != 0 {
			t.Fatalf("wait %v with nothing new", wait)
		}
		want([]uint64{1, 3}, []uint64{1, 3})

		// Another replica's publisher, offered what this one published,
		// finds it published (the shared state); after the log grows on
		// it, it publishes the new size.
		other := newPub()
		cp, err := l.st.LatestAuditCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other.Offer(ctx, cp)
		publish(other)
		want([]uint64{1, 3}, []uint64{1, 3})
		other.Offer(ctx, grow())
		publish(other)
		want([]uint64{1, 3, 4}, []uint64{1, 3, 4})
	})
}

// TestAttackCheckpointWebhookToClientWithoutAuditRead: a client whose
// roles do not grant audit:read (a dispatcher; a role name this version
// does not know) is not sent the checkpoint, webhook or not.
func TestAttackCheckpointWebhookToClientWithoutAuditRead(t *testing.T) {
	t.Parallel()
	st := storetest.OpenConfig(t, storetest.SQLiteConfig(t))
	now := time.Now()
	for id, role := range map[string]string{"aud": "auditor", "disp": "dispatcher", "forged": "auditor "} {
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: now, Roles: []string{role}}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetClientWebhook(ctx, store.ClientWebhook{Client: id, URL: "https://x.example/h", Sealed: []byte("s"), UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := audit.AuditingClients(ctx, st)
	if err != nil || !slices.Equal(got, []string{"aud"}) {
		t.Fatalf("AuditingClients = %v, %v; want [aud]", got, err)
	}
}
