package app

// The checkout saga on a real durabletask engine in the test process: the
// SQLite backend in memory behind durabletask's gRPC executor, the same
// client and worker the app uses against its sidecar, the real workflow and
// activities over an in-memory store, and a scripted payments service.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/backend"
	"github.com/dapr/durabletask-go/backend/sqlite"
	"github.com/dapr/durabletask-go/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// engine starts a durabletask engine and returns a workflow client with a
// worker for reg running; everything stops with the test.
func engine(t *testing.T, reg *workflow.Registry) *workflow.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := quiet{}
	be := sqlite.NewSqliteBackend(sqlite.NewSqliteOptions(""), logger)
	srv := grpc.NewServer()
	exec, register := backend.NewGrpcExecutor(be, logger)
	register(srv)
	wfWorker := backend.NewWorkflowWorker(backend.WorkflowWorkerOptions{Backend: be, Executor: exec, Logger: logger, AppID: "subscriptions"})
	hub := backend.NewTaskHubWorker(be, wfWorker, backend.NewActivityTaskWorker(be, exec, logger), logger)
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := workflow.NewClientWithLogger(conn, logger)
	if err := c.StartWorker(ctx, reg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		// workers first: the executor's Shutdown closes a channel that a
		// still-running worker may send on (a data race in durabletask-go 0.12.1)
		_ = hub.Shutdown(sctx)
		_ = exec.Shutdown(sctx)
		_ = conn.Close()
		srv.Stop()
	})
	return c
}

// quiet drops the engine's logs (it logs every work item at debug level).
type quiet struct{}

func (quiet) Debug(...any)          {}
func (quiet) Debugf(string, ...any) {}
func (quiet) Info(...any)           {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warn(...any)           {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Error(...any)          {}
func (quiet) Errorf(string, ...any) {}

// script is the payments service as the saga sees it: each key's answers in
// order (the last one repeats), "ok" by default; a key whose answer is
// "block" waits until released. Answers are set per key without its
// subscription id: "0" the first purchase, "1/2" the first renewal's second
// attempt.
type script struct {
	mu       sync.Mutex
	answers  map[string][]string // key suffix → "ok", "decline", "error", "block"
	charges  []string            // keys asked, in order
	paid     map[string]bool     // keys that took money and were not given back
	refunds  []string
	refundOK bool
	blocked  chan string
	release  chan struct{}
}

func newScript() *script {
	return &script{answers: map[string][]string{}, paid: map[string]bool{}, refundOK: true,
		blocked: make(chan string, 4), release: make(chan struct{})}
}

// on scripts the answers to one key (by its suffix).
func on(suffix string, answers ...string) func(*script) {
	return func(p *script) { p.answers[suffix] = answers }
}

func (p *script) Charge(_ context.Context, in ChargeRequest) (ChargeResult, error) {
	p.mu.Lock()
	p.charges = append(p.charges, in.IdempotencyKey)
	if p.paid[in.IdempotencyKey] { // payments' idempotency: the same key answers as before
		p.mu.Unlock()
		return ChargeResult{Status: ChargeSucceeded}, nil
	}
	answer, suffix := "ok", in.IdempotencyKey[strings.Index(in.IdempotencyKey, "/")+1:]
	if as := p.answers[suffix]; len(as) > 0 {
		answer = as[0]
		if len(as) > 1 {
			p.answers[suffix] = as[1:]
		}
	}
	p.mu.Unlock()
	switch answer {
	case "decline":
		return ChargeResult{Status: "declined", Reason: "card_declined"}, nil
	case "error":
		return ChargeResult{}, errors.New("payments unavailable")
	case "block":
		p.blocked <- in.IdempotencyKey
		<-p.release
	}
	p.mu.Lock()
	p.paid[in.IdempotencyKey] = true
	p.mu.Unlock()
	return ChargeResult{Status: ChargeSucceeded}, nil
}

func (p *script) Refund(_ context.Context, key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.refundOK {
		return errors.New("processor refused the refund")
	}
	p.refunds = append(p.refunds, key)
	delete(p.paid, key)
	return nil
}

// kept lists the keys whose money was taken and kept.
func (p *script) kept() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, k := range p.charges {
		if p.paid[k] && !contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func (p *script) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.charges...)
}

type sagaRig struct {
	t   *testing.T
	s   *Service
	kv  *state.Memory
	pay *script
	wf  *workflow.Client
	sub *domain.Subscription
}

func testConfig() Config {
	return Config{Period: 800 * time.Millisecond, RenewalRetryInterval: 400 * time.Millisecond, RenewalAttempts: 3,
		ActivityAttempts: 2, ActivityRetryTimeout: 2 * time.Second, RefundRetryTimeout: 3 * time.Second, TestHooks: true}
}

// rig starts the engine with the real workflow and activities and records a
// pending subscription; idemKey is its Idempotency-Key (test hooks read it),
// and answers script payments before the checkout starts.
func rig(t *testing.T, cfg Config, idemKey string, answers ...func(*script)) *sagaRig {
	t.Helper()
	t.Parallel()
	kv, pay := state.NewMemory(), newScript()
	for _, a := range answers {
		a(pay)
	}
	s := New(cfg, kv, pay, nil, &pubsub.Memory{}, nil)
	reg := workflow.NewRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	r := &sagaRig{t: t, s: s, kv: kv, pay: pay, wf: engine(t, reg)}
	s.SetWorkflows(WorkflowClient{C: r.wf})
	ctx := context.Background()
	if err := s.SeedPlans(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, owner, idemKey, "individual", pm)
	if err != nil {
		t.Fatal(err)
	}
	r.sub = sub
	return r
}

func (r *sagaRig) key(cycle Cycle, attempt int) string {
	return ChargeKey{SubscriptionID: r.sub.ID, Cycle: cycle, Attempt: attempt}.String()
}

func (r *sagaRig) get() *domain.Subscription {
	sub, err := r.s.subs.Get(context.Background(), r.sub.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return sub
}

// until polls the subscription until ok holds (a bound on waiting, not a
// measure of speed).
func (r *sagaRig) until(what string, ok func(*domain.Subscription) bool) *domain.Subscription {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sub := r.get()
		if ok(sub) {
			return sub
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("never %s: %+v; charges asked %v, refunds %v", what, sub, r.pay.asked(), r.pay.refunds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// done waits for the workflow to complete and returns the final subscription.
func (r *sagaRig) done() *domain.Subscription {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	md, err := r.wf.WaitForWorkflowCompletion(ctx, r.sub.ID)
	if err != nil {
		r.t.Fatalf("workflow did not complete: %v; charges asked %v", err, r.pay.asked())
	}
	if !strings.Contains(md.String(), "COMPLETED") {
		r.t.Fatalf("workflow ended %s", md)
	}
	return r.get()
}

func (r *sagaRig) cancel() {
	r.t.Helper()
	if _, err := r.s.Cancel(context.Background(), owner, r.sub.ID); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sagaRig) topics() []string {
	var out []string
	for _, e := range r.kv.Events {
		out = append(out, e.Topic)
	}
	return out
}

func same(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestSagaApproved(t *testing.T) {
	r := rig(t, Config{Period: time.Hour, RenewalAttempts: 1, ActivityAttempts: 2, ActivityRetryTimeout: time.Second}, "k")
	sub := r.until("active", func(s *domain.Subscription) bool { return s.Status == domain.Active })
	if sub.Cycle != 0 || sub.PeriodEnd == nil || !same(r.pay.kept(), []string{r.key(0, 0)}) {
		t.Fatalf("%+v, kept %v", sub, r.pay.kept())
	}
	if !same(r.topics(), []string{"subscription.activated"}) {
		t.Fatal(r.topics())
	}
}

func TestSagaDeclinedChargesNothingAndCompensatesNothing(t *testing.T) {
	r := rig(t, testConfig(), "k", on("0", "decline"))
	sub := r.done()
	if sub.Status != domain.PaymentFailed || len(r.pay.kept()) != 0 || len(r.pay.refunds) != 0 {
		t.Fatalf("%s, kept %v, refunds %v", sub.Status, r.pay.kept(), r.pay.refunds)
	}
	if !same(r.topics(), []string{"subscription.payment_failed"}) {
		t.Fatal(r.topics())
	}
}

func TestSagaTransientErrorIsRetried(t *testing.T) {
	r := rig(t, testConfig(), "k", on("0", "error", "ok"))
	r.until("active", func(s *domain.Subscription) bool { return s.Status == domain.Active })
	if len(r.pay.asked()) < 2 || !same(r.pay.kept(), []string{r.key(0, 0)}) {
		t.Fatalf("asked %v, kept %v", r.pay.asked(), r.pay.kept())
	}
}

func TestSagaTimeoutVoidsTheKey(t *testing.T) {
	r := rig(t, testConfig(), "k", on("0", "error"))
	sub := r.done()
	if sub.Status != domain.Failed || !same(r.pay.refunds, []string{r.key(0, 0)}) || len(r.pay.kept()) != 0 {
		t.Fatalf("%s %q, refunds %v, kept %v", sub.Status, sub.Outcome, r.pay.refunds, r.pay.kept())
	}
}

func TestSagaFailureAfterChargeRefunds(t *testing.T) {
	r := rig(t, testConfig(), "fail-activation")
	sub := r.done()
	if sub.Status != domain.Failed || !same(r.pay.refunds, []string{r.key(0, 0)}) || len(r.pay.kept()) != 0 {
		t.Fatalf("%s %q, refunds %v, kept %v", sub.Status, sub.Outcome, r.pay.refunds, r.pay.kept())
	}
}

func TestSagaRefundThatKeepsFailingNeedsAnOperator(t *testing.T) {
	r := rig(t, testConfig(), "fail-activation")
	r.pay.mu.Lock()
	r.pay.refundOK = false
	r.pay.mu.Unlock()
	sub := r.done()
	if sub.Status != domain.Failed || !strings.Contains(sub.Outcome, "needs an operator") {
		t.Fatalf("%s %q", sub.Status, sub.Outcome)
	}
}

func TestSagaRenewsUnderItsOwnKey(t *testing.T) {
	r := rig(t, testConfig(), "k")
	sub := r.until("renewed twice", func(s *domain.Subscription) bool { return s.Cycle >= 2 })
	if sub.Status != domain.Active || !same(r.pay.kept()[:3], []string{r.key(0, 0), r.key(1, 1), r.key(2, 1)}) {
		t.Fatalf("%+v kept %v", sub, r.pay.kept())
	}
	r.cancel()
	if sub := r.done(); sub.Status != domain.Cancelled {
		t.Fatal(sub.Status)
	}
}

// Fails on the code before patchBilling: every renewal attempt reused the
// key of the declined one, and payments answered "declined" again.
func TestSagaDeclineThenSuccessRenews(t *testing.T) {
	r := rig(t, testConfig(), "k", on("1/1", "decline"))
	sub := r.until("renewed", func(s *domain.Subscription) bool { return s.Cycle >= 1 })
	if sub.Status != domain.Active || !same(r.pay.kept()[:2], []string{r.key(0, 0), r.key(1, 2)}) {
		t.Fatalf("%+v, kept %v", sub, r.pay.kept())
	}
	r.cancel()
	r.done()
}

func TestSagaExpiresAfterTheLastAttempt(t *testing.T) {
	r := rig(t, testConfig(), "k", on("1/1", "decline"), on("1/2", "decline"), on("1/3", "decline"))
	sub := r.done()
	if sub.Status != domain.Expired || !same(r.pay.asked(), []string{r.key(0, 0), r.key(1, 1), r.key(1, 2), r.key(1, 3)}) {
		t.Fatalf("%s, asked %v", sub.Status, r.pay.asked())
	}
	if !same(r.topics(), []string{"subscription.activated", "subscription.expired"}) {
		t.Fatal(r.topics())
	}
}

func TestSagaCancelDuringThePeriod(t *testing.T) {
	r := rig(t, testConfig(), "k")
	r.until("active", func(s *domain.Subscription) bool { return s.Status == domain.Active })
	r.cancel()
	sub := r.done()
	if sub.Status != domain.Cancelled || !same(r.pay.asked(), []string{r.key(0, 0)}) {
		t.Fatalf("%s, asked %v", sub.Status, r.pay.asked())
	}
	if !same(r.topics(), []string{"subscription.activated", "subscription.cancelled"}) {
		t.Fatal(r.topics())
	}
}

// Fails on the code before patchBilling: a cancel raised while the renewal
// charge ran was dropped at continue-as-new and the next period was charged.
func TestSagaCancelDuringTheRenewalCharge(t *testing.T) {
	r := rig(t, testConfig(), "k", on("1/1", "block"))
	<-r.pay.blocked // the renewal charge is at payments
	r.cancel()
	close(r.pay.release)
	sub := r.done()
	if sub.Status != domain.Cancelled || !sub.CancelAtPeriodEnd {
		t.Fatalf("%+v", sub)
	}
	// the money taken while the cancel arrived is given back; nothing after it is asked
	if len(r.pay.kept()) != 1 || !same(r.pay.refunds, []string{r.key(1, 1)}) || len(r.pay.asked()) != 2 {
		t.Fatalf("kept %v, refunds %v, asked %v", r.pay.kept(), r.pay.refunds, r.pay.asked())
	}
}

// Fails on the code before patchBilling: a cancel between renewal retries
// waited for a timer and the next attempt charged.
func TestSagaCancelBetweenRenewalRetries(t *testing.T) {
	cfg := testConfig()
	cfg.RenewalRetryInterval = time.Hour // only a cancel ends this wait
	r := rig(t, cfg, "k", on("1/1", "decline"))
	r.until("declined once", func(*domain.Subscription) bool { return len(r.pay.asked()) >= 2 })
	r.cancel()
	sub := r.done()
	if sub.Status != domain.Cancelled || !same(r.pay.asked(), []string{r.key(0, 0), r.key(1, 1)}) {
		t.Fatalf("%s, asked %v", sub.Status, r.pay.asked())
	}
}

// A cancel recorded whose event was never raised (a crash in between, or a
// lost event): the renewal charge refuses before payments is asked.
func TestSagaCancelRecordedButNotRaised(t *testing.T) {
	r := rig(t, testConfig(), "k")
	r.until("active", func(s *domain.Subscription) bool { return s.Status == domain.Active })
	if _, err := r.s.recordCancel(context.Background(), step{SubscriptionID: r.sub.ID}); err != nil {
		t.Fatal(err)
	}
	sub := r.done()
	if sub.Status != domain.Cancelled || !same(r.pay.asked(), []string{r.key(0, 0)}) {
		t.Fatalf("%s, asked %v", sub.Status, r.pay.asked())
	}
}

// A cancel raised whose record was lost (subscriptions crashed after the
// raise): the workflow records it and ends the subscription.
func TestSagaCancelRaisedButNotRecorded(t *testing.T) {
	r := rig(t, testConfig(), "k")
	r.until("active", func(s *domain.Subscription) bool { return s.Status == domain.Active })
	if err := r.wf.RaiseEvent(context.Background(), r.sub.ID, CancelEvent); err != nil {
		t.Fatal(err)
	}
	sub := r.done()
	if sub.Status != domain.Cancelled || !sub.CancelAtPeriodEnd || len(r.pay.asked()) != 1 {
		t.Fatalf("%+v, asked %v", sub, r.pay.asked())
	}
}

// A cancel whose raise fails records nothing and answers 503.
func TestCancelThatCannotBeRaisedRecordsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(testConfig(), kv, nil, nil, &pubsub.Memory{}, nil)
	s.SetWorkflows(failingWF{})
	now := time.Now().UTC()
	end := now.Add(time.Hour)
	sub := &domain.Subscription{ID: "01930000-0000-7000-8000-0000000000f1", UserID: owner, Status: domain.Active, PeriodEnd: &end}
	if err := s.subs.Create(ctx, sub.ID, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, owner, sub.ID); err == nil {
		t.Fatal("a cancel that reached no workflow succeeded")
	}
	if got, _ := s.subs.Get(ctx, sub.ID); got.CancelAtPeriodEnd {
		t.Fatal("recorded a cancel the workflow never heard")
	}
}

type failingWF struct{}

func (failingWF) StartCheckout(context.Context, string) error { return errors.New("down") }
func (failingWF) RaiseCancel(context.Context, string) error   { return errors.New("down") }

// Fails on the code before: activities run at least once, and a second run
// of a committed activation extended the period again and announced twice.
func TestActivationIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(testConfig(), kv, nil, nil, &pubsub.Memory{}, nil)
	if err := s.SeedPlans(ctx); err != nil {
		t.Fatal(err)
	}
	sub := &domain.Subscription{ID: "01930000-0000-7000-8000-0000000000f2", UserID: owner, PlanID: "individual", Status: domain.Pending}
	if err := s.subs.Create(ctx, sub.ID, sub); err != nil {
		t.Fatal(err)
	}
	for cycle := Cycle(0); cycle <= 1; cycle++ {
		key := ChargeKey{SubscriptionID: sub.ID, Cycle: cycle, Attempt: int(cycle)}
		first, err := s.activate(ctx, step{SubscriptionID: sub.ID, Cycle: cycle, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.activate(ctx, step{SubscriptionID: sub.ID, Cycle: cycle, Key: &key})
		if err != nil || !again.PeriodEnd.Equal(*first.PeriodEnd) || again.Cycle != int(cycle) {
			t.Fatalf("cycle %d: the second run moved the period end from %v to %v", cycle, first.PeriodEnd, again.PeriodEnd)
		}
	}
	if got := fmt.Sprint(topicsOf(kv)); got != "[subscription.activated subscription.renewed]" {
		t.Fatalf("events %s", got)
	}
	// finishing twice announces once
	for i := 0; i < 2; i++ {
		if _, err := s.finish(ctx, step{SubscriptionID: sub.ID, Status: domain.Expired, Outcome: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(topicsOf(kv)); n != 3 {
		t.Fatalf("events after two finishes: %v", topicsOf(kv))
	}
}

func topicsOf(kv *state.Memory) []string {
	var out []string
	for _, e := range kv.Events {
		out = append(out, e.Topic)
	}
	return out
}

// Version-1 inputs still in flight decode to the keys version 1 used.
func TestLegacyStepsKeepTheirKeys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		key  string
		want Cycle
		read bool
	}{
		{`{"subscriptionId":"s","cycle":0}`, "s/0", 0, false},
		{`{"subscriptionId":"s","cycle":3}`, "s/3", 3, false},
		{`{"subscriptionId":"s","cycle":2003}`, "s/2003", 3, false},
		{`{"subscriptionId":"s","cycle":-1}`, "", -1, true},
		{`{"subscriptionId":"s","cycle":2,"key":{"subscriptionId":"s","cycle":2,"attempt":3}}`, "s/2/3", 2, false},
	} {
		var in step
		if err := json.Unmarshal([]byte(c.in), &in); err != nil {
			t.Fatal(err)
		}
		read := in.upgrade()
		key := ""
		if in.Key != nil {
			key = in.Key.String()
		}
		if read != c.read || key != c.key || in.Cycle != c.want {
			t.Errorf("%s: read %v key %q cycle %d", c.in, read, key, in.Cycle)
		}
	}
}
