package devstack

// Infrastructure and control-plane ports before the offset. Redis, Mailpit,
// placement and scheduler keep the Dapr CLI's and the tools' defaults, so a
// developer who ran 'dapr init' and one who ran 'make run' see the same
// addresses; the rest are chosen not to collide with the apps' ranges.
type Ports struct {
	Redis, SMTP, MailUI                                                int
	Sentry, SentryHealth, SentryMetrics                                int
	Placement, PlacementHealth, PlacementMetrics, PlacementRaft        int
	Scheduler, SchedulerHealth, SchedulerMetrics, EtcdClient, EtcdPeer int
}

// BasePorts are the ports at offset 0.
var BasePorts = Ports{
	Redis: 6379, SMTP: 1025, MailUI: 8025,
	Sentry: 50003, SentryHealth: 50013, SentryMetrics: 50023,
	Placement: 50005, PlacementHealth: 50015, PlacementMetrics: 50025, PlacementRaft: 50035,
	Scheduler: 50006, SchedulerHealth: 50016, SchedulerMetrics: 50026, EtcdClient: 50036, EtcdPeer: 50046,
}

// Shift returns every port moved by offset.
func (p Ports) Shift(o int) Ports {
	return Ports{
		Redis: p.Redis + o, SMTP: p.SMTP + o, MailUI: p.MailUI + o,
		Sentry: p.Sentry + o, SentryHealth: p.SentryHealth + o, SentryMetrics: p.SentryMetrics + o,
		Placement: p.Placement + o, PlacementHealth: p.PlacementHealth + o, PlacementMetrics: p.PlacementMetrics + o,
		PlacementRaft: p.PlacementRaft + o,
		Scheduler:     p.Scheduler + o, SchedulerHealth: p.SchedulerHealth + o, SchedulerMetrics: p.SchedulerMetrics + o,
		EtcdClient: p.EtcdClient + o, EtcdPeer: p.EtcdPeer + o,
	}
}

// shiftApp moves an app's ports by offset.
func shiftApp(a RunApp, o int) RunApp {
	a.AppPort += o
	a.DaprHTTPPort += o
	a.DaprGRPCPort += o
	a.DaprInternalGRPCPort += o
	a.MetricsPort += o
	return a
}
