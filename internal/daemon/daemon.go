package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/budget"
	"github.com/gpuq/gpuq/internal/calendar"
	"github.com/gpuq/gpuq/internal/config"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/queue"
	"github.com/gpuq/gpuq/internal/sched"
	"github.com/gpuq/gpuq/internal/sdnotify"
	"github.com/gpuq/gpuq/internal/server"
	"github.com/gpuq/gpuq/internal/store"
	"github.com/gpuq/gpuq/internal/webhook"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Rules derives the queue's submission rules from the config.
func Rules(c *config.Config) queue.Rules {
	r := queue.Rules{
		DefaultTeam:      c.Defaults.Team,
		GPUsPerNode:      map[string]int{},
		PoolTypes:        map[string]string{},
		MaxTimeLimit:     time.Duration(c.Defaults.MaxTimeLimit),
		DefaultTimeLimit: map[string]time.Duration{"": time.Duration(c.Defaults.TimeLimit)},
		PoolMaxTimeLimit: map[string]time.Duration{},
		BillingWeight:    map[string]float64{},
		PoolRegion:       map[string]string{},
	}
	r.MaxPendingPerUser, r.MaxPendingPerTeam = c.Limits.MaxPendingPerUser, c.Limits.MaxPendingPerTeam
	r.QOS = c.Scheduling.QOSNames()
	r.TeamGrace = map[string]time.Duration{}
	for _, t := range c.Teams {
		r.Teams = append(r.Teams, t.Name)
		if t.GracePeriod > 0 {
			r.TeamGrace[t.Name] = time.Duration(t.GracePeriod)
		}
	}
	for _, p := range c.Pools {
		r.PoolTypes[p.Name] = p.GPUType
		r.PoolRegion[p.Name] = p.Region
		r.BillingWeight[p.Name] = p.BillingWeight
		def, maxLimit := c.TimeLimits(&p)
		if def > 0 {
			r.DefaultTimeLimit[p.Name] = def
		}
		if maxLimit > 0 {
			r.PoolMaxTimeLimit[p.Name] = maxLimit
		}
		r.GPUsPerNode[p.GPUType] = max(r.GPUsPerNode[p.GPUType], p.GPUsPerNode)
	}
	return r
}

// Pricing derives what accounting needs from the config: the teams' rates,
// budgets, shares and zones, and the pools' prices and billing weights.
func Pricing(c *config.Config) accounting.Pricing {
	var p accounting.Pricing
	for i := range c.Teams {
		t := &c.Teams[i]
		p.Teams = append(p.Teams, accounting.TeamPricing{Name: t.Name, HourlyRate: t.HourlyRate,
			MonthlyBudget: t.MonthlyBudget, Shares: t.Shares, Location: t.Location()})
	}
	for _, pl := range c.Pools {
		pp := accounting.PoolPricing{Name: pl.Name, GPUType: pl.GPUType, Region: pl.Region,
			PricePerGPUHour: pl.PricePerGPUHour, BillingWeight: pl.BillingWeight, MonthlyBill: pl.MonthlyBill}
		for _, b := range pl.Bills {
			if m, err := accounting.ParseMonth(b.Month); err == nil { // Validate checked it
				if pp.Bills == nil {
					pp.Bills = map[accounting.Month]money.Amount{}
				}
				pp.Bills[m] = b.Amount
			}
		}
		p.Pools = append(p.Pools, pp)
	}
	return p
}

// Budgets builds the budget watcher from the config: the teams' budgets,
// the hard limit, and the webhook when one is set.
func Budgets(c *config.Config, st *store.Store, log *slog.Logger) (*budget.Watcher, error) {
	opts := budget.Options{Pricing: Pricing(c), HardLimit: c.Budgets.HardLimit, Store: st, Logger: log,
		Interval: time.Duration(c.Budgets.CheckInterval)}
	if c.Budgets.WebhookURL != "" {
		hook, err := webhook.New(webhook.Options{URL: c.Budgets.WebhookURL, Timeout: time.Duration(c.Budgets.WebhookTimeout),
			Attempts: c.Budgets.WebhookAttempts, UserAgent: "gpuqd"})
		if err != nil {
			return nil, fmt.Errorf("budgets.webhook_url: %w", err)
		}
		opts.Webhook = hook
		log.Info("budget alerts go to a webhook", "webhook", hook.Endpoint())
	}
	return budget.New(opts)
}

// Scheduling derives the scheduler's teams and policy from the config:
// sched.DefaultPolicy with the config's weights, preemption rules, grace
// period and time limits.
func Scheduling(c *config.Config) ([]sched.Team, sched.Policy, error) {
	var teams []sched.Team
	for i := range c.Teams {
		t := &c.Teams[i]
		cal, err := calendar.FromConfig(t, 0)
		if err != nil {
			return nil, sched.Policy{}, fmt.Errorf("teams[%d]: %w", i, err)
		}
		st := sched.Team{Name: t.Name, Shares: t.Shares, Calendar: cal, PreferredRegion: t.PreferredRegion, Users: map[string]float64{}}
		for _, u := range t.Users {
			st.Users[u] = 0
		}
		teams = append(teams, st)
	}
	p := sched.DefaultPolicy()
	w := c.Scheduling.Weights
	p.Weights = sched.Weights{FairShare: w.FairShare, TimeZone: w.TimeZone, Age: w.Age, JobSize: w.JobSize, QOS: w.QOS}
	p.MaxAge = time.Duration(c.Scheduling.MaxAge)
	p.QOS = maps.Clone(c.Scheduling.QOS)
	p.Backfill, p.ReserveTop = c.Scheduling.Backfill.Enabled, c.Scheduling.Backfill.ReserveTop
	p.Preemption.Enabled = c.Scheduling.Preemption.Enabled
	p.Preemption.MinRuntime = time.Duration(c.Scheduling.Preemption.MinRuntime)
	p.Preemption.MaxPerDay = c.Scheduling.Preemption.MaxPerDay
	p.Preemption.OffHours = c.Scheduling.Preemption.OffHours
	p.Preemption.Teams = c.Scheduling.Preemption.Teams
	p.Preemption.QOS = c.Scheduling.Preemption.QOS
	p.Preemption.PreemptorQOS = c.Scheduling.Preemption.PreemptorQOS
	p.DefaultTimeLimit = time.Duration(c.Defaults.TimeLimit)
	p.Preemption.Grace = time.Duration(c.Defaults.GracePeriod)
	p.PoolTimeLimit = map[string]time.Duration{}
	for i := range c.Pools {
		if def, _ := c.TimeLimits(&c.Pools[i]); def > 0 {
			p.PoolTimeLimit[c.Pools[i].Name] = def
		}
	}
	return teams, p, p.Validate()
}

// Serve runs gpuqd with a validated config until ctx ends. ready, when not
// nil, is called with the bound addresses once gpuqd serves.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(tcp net.Addr)) error {
	st, err := store.Open(store.Options{Dir: cfg.DataDir, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	start := time.Now()
	teams, policy, err := Scheduling(&cfg)
	if err != nil {
		return err
	}
	budgets, err := Budgets(&cfg, st, log)
	if err != nil {
		return err
	}
	q, err := queue.New(queue.Options{Store: st, Rules: Rules(&cfg), Logger: log, Teams: teams, Policy: policy,
		GracePeriod: time.Duration(cfg.Defaults.GracePeriod), KillWait: time.Duration(cfg.Defaults.KillWait),
		HeartbeatInterval: time.Duration(cfg.Defaults.HeartbeatInterval), NodeDownAfter: time.Duration(cfg.Defaults.NodeDownAfter),
		MinJobAge: time.Duration(cfg.Defaults.MinJobAge), Budget: budgets})
	if err != nil {
		return err
	}
	if err := budgets.Load(ctx, q); err != nil {
		return err
	}
	log.Info("queue loaded", "jobs", q.Len(), "took", time.Since(start).Round(time.Millisecond))

	sec, err := openSecurity(&cfg, st, log)
	if err != nil {
		return err
	}
	defer sec.audit.Close()
	maxRecv := cfg.Limits.MaxRequestBytes
	if maxRecv == 0 {
		maxRecv = 4 << 20
	}
	gs := grpc.NewServer(
		grpc.Creds(auth.ServerCredentials(sec.tls)),
		grpc.ChainUnaryInterceptor(server.UnaryErrors(log), sec.guard.Unary()),
		grpc.ChainStreamInterceptor(server.StreamErrors(log), sec.guard.Stream()),
		grpc.MaxRecvMsgSize(maxRecv),
		grpc.MaxSendMsgSize(256<<20),
		grpc.ForceServerCodecV2(server.Codec()),
	)
	var rate *auth.RateLimiter
	if cfg.Limits.SubmitRate > 0 {
		rate = &auth.RateLimiter{Rate: cfg.Limits.SubmitRate, Burst: cfg.Limits.SubmitBurst}
	}
	gpuqv1.RegisterQueueServiceServer(gs, server.NewQueueService(q, q, server.QueueOptions{DefaultTeam: cfg.Defaults.Team, SubmitRate: rate}))
	gpuqv1.RegisterNodeServiceServer(gs, server.NewNodeService(q, server.NodeOptions{CA: sec.ca, Join: sec.join, Tokens: sec.tokens, Joined: sec.tokens.NodeJoined}))
	gpuqv1.RegisterAccountingServiceServer(gs, server.NewAccountingService(q, server.AccountingOptions{Pricing: Pricing(&cfg), Budget: budgets, PageCodec: true}))
	gpuqv1.RegisterAuthServiceServer(gs, server.NewAuthService(server.AuthOptions{Tokens: sec.tokens, CA: sec.ca, Teams: Rules(&cfg).Teams,
		DefaultTTL: time.Duration(cfg.Security.TokenTTL), MaxTTL: time.Duration(cfg.Security.MaxTokenTTL)}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)

	listeners, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	qctx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = q.Run(qctx) })
	wg.Go(func() { budgets.Run(qctx) })
	errc := make(chan error, len(listeners))
	var tcp net.Addr
	for _, l := range listeners {
		if l.Addr().Network() == "tcp" {
			tcp = l.Addr()
		}
		log.Info("serving", "network", l.Addr().Network(), "addr", l.Addr().String())
		go func() { errc <- gs.Serve(l) }()
	}
	if err := sdnotify.Notify("READY=1"); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	if ready != nil {
		ready(tcp)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("serve", "err", err)
	}
	_ = sdnotify.Notify("STOPPING=1")
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop()
	}
	stopQueue()
	wg.Wait()
	if cfg.Listen.Unix != "" {
		_ = os.Remove(cfg.Listen.Unix)
	}
	return err
}

func listen(l config.Listen) ([]net.Listener, error) {
	var out []net.Listener
	closeAll := func() {
		for _, x := range out {
			_ = x.Close()
		}
	}
	if l.TCP != "" {
		ln, err := net.Listen("tcp", l.TCP)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", l.TCP, err)
		}
		out = append(out, ln)
	}
	if l.Unix != "" {
		if err := os.MkdirAll(filepath.Dir(l.Unix), 0o755); err != nil {
			closeAll()
			return nil, fmt.Errorf("socket directory: %w", err)
		}
		// A socket left by a killed gpuqd: remove it if nobody answers on it.
		if c, err := net.Dial("unix", l.Unix); err == nil {
			_ = c.Close()
			closeAll()
			return nil, fmt.Errorf("listen on %s: another gpuqd is serving there", l.Unix)
		}
		if err := os.Remove(l.Unix); err != nil && !errors.Is(err, os.ErrNotExist) {
			closeAll()
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
		ln, err := net.Listen("unix", l.Unix)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on %s: %w", l.Unix, err)
		}
		// Open to every local user: the kernel's peer credentials say who
		// each is (auth.ServerCredentials), and the Guard what they may do.
		if err := os.Chmod(l.Unix, 0o666); err != nil {
			closeAll()
			return nil, fmt.Errorf("socket mode: %w", err)
		}
		out = append(out, ln)
	}
	return out, nil
}
