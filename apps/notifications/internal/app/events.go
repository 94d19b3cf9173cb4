package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Each event becomes a notice with a source made of the event's own facts
// (not its CloudEvent id), so the same fact published twice, under one id or
// two, is told once.

// Registered sends the welcome message.
func (s *Service) Registered(ctx context.Context, e events.UserRegistered) error {
	_, err := s.Deliver(ctx, []string{e.UserID}, domain.Notice{Source: "user.registered|" + e.UserID, Kind: domain.KindWelcome,
		Title: "Welcome to Harmonia", Body: "Your account is ready. Follow artists to hear about their new releases.",
		InApp: true, Email: domain.EmailIfEnabled})
	return err
}

// SubscriptionChanged tells a listener about their subscription.
func (s *Service) SubscriptionChanged(ctx context.Context, topic string, e events.Subscription) error {
	p := s.plan(ctx, e.PlanID)
	params := map[string]string{"plan": p.Name, "planId": p.ID, "subscriptionId": e.SubscriptionID,
		"cycle": strconv.Itoa(e.Cycle), "amount": Money(p.Price, p.Currency)}
	if e.PeriodEnd != nil {
		params["periodEnd"] = e.PeriodEnd.UTC().Format("2 January 2006")
	}
	n := domain.Notice{Source: topic + "|" + e.SubscriptionID + "|" + strconv.Itoa(e.Cycle), Params: params, Link: "/account/subscription"}
	switch topic {
	case events.TopicSubscriptionActivated, events.TopicSubscriptionRenewed:
		n.Kind, n.Email = domain.KindReceipt, domain.EmailIfEnabled
	case events.TopicSubscriptionPaymentFailed:
		// a security message: by email even when email is off
		n.Kind, n.Email, n.SMS, n.InApp = domain.KindPaymentFailed, domain.EmailAlways, true, true
		n.Title, n.Body = "Payment failed", "We could not take the payment for your "+p.Name+" subscription. Check your card and try again."
	case events.TopicSubscriptionCancelled:
		n.Kind, n.Email, n.InApp = domain.KindCancelled, domain.EmailIfEnabled, true
		n.Title, n.Body = "Subscription ended", "Your "+p.Name+" subscription has ended, as you asked."
	case events.TopicSubscriptionExpired:
		n.Kind, n.Email, n.InApp = domain.KindExpired, domain.EmailIfEnabled, true
		n.Title, n.Body = "Subscription expired", "We could not renew your "+p.Name+" subscription, so it has ended."
	default:
		return nil
	}
	_, err := s.Deliver(ctx, []string{e.UserID}, n)
	return err
}

// Refunded tells a listener their money was given back.
func (s *Service) Refunded(ctx context.Context, e events.PaymentRefunded) error {
	_, err := s.Deliver(ctx, []string{e.UserID}, domain.Notice{Source: "payment.refunded|" + e.ChargeID, Kind: domain.KindRefund,
		Params: map[string]string{"amount": Money(e.Amount, e.Currency), "chargeId": e.ChargeID}, Email: domain.EmailIfEnabled})
	return err
}

// Invited tells the invitee of a family plan.
func (s *Service) Invited(ctx context.Context, e events.MemberInvited) error {
	if e.InviteeID == "" {
		return nil
	}
	_, err := s.Deliver(ctx, []string{e.InviteeID}, domain.Notice{Source: "member.invited|" + e.InvitationID, Kind: domain.KindInvitation,
		Title: "Family plan invitation", Body: "You have been invited to join a family plan.", Link: "/invitations",
		InApp: true, Email: domain.EmailIfEnabled})
	return err
}

// Published starts the fan-out of a new release to the artist's followers.
func (s *Service) Published(ctx context.Context, e events.AlbumPublished) error {
	artist := e.ArtistName
	if artist == "" {
		artist = "An artist you follow"
	}
	return s.startJob(ctx, "album.published|"+e.AlbumID, followersSet(e.ArtistID), domain.Notice{
		Source: "album.published|" + e.AlbumID, Kind: domain.KindRelease,
		Title: "New from " + artist, Body: artist + " released " + e.Title + ".", Link: "/albums/" + e.AlbumID,
		Params: map[string]string{"artist": artist, "album": e.Title, "albumId": e.AlbumID},
		InApp:  true, Email: domain.EmailIfEnabled})
}

// OfferOut starts the fan-out of an offer to the listeners who opted in.
func (s *Service) OfferOut(ctx context.Context, e events.OfferPublished) error {
	return s.startJob(ctx, "offer.published|"+e.OfferID, audienceSet, domain.Notice{
		Source: "offer.published|" + e.OfferID, Kind: domain.KindOffer, Title: e.Title, Body: e.Body, Link: "/offers/" + e.OfferID,
		Params: map[string]string{"title": e.Title, "body": e.Body, "offerId": e.OfferID, "planId": e.PlanID,
			"validUntil": e.ValidUntil.UTC().Format("2 January 2006")},
		InApp: true, Email: domain.EmailMarketing, Marketing: true})
}

// --- follower lists and the audience -------------------------------------

const audienceSet = "audience"

func followersSet(artistID string) string { return "followers|" + artistID }

func memberKey(set, user string) string {
	return set + "|" + strconv.Itoa(domain.Shard(user, domain.MemberShards))
}

// Followed records a follow; Unfollowed its end. A late, older event never
// undoes a newer one.
func (s *Service) Followed(ctx context.Context, userID, artistID string, on bool, at time.Time) error {
	if _, err := s.members.Upsert(ctx, memberKey(followersSet(artistID), userID), func(m *domain.Members, _ bool) error {
		m.Set(userID, on, at)
		return nil
	}); err != nil {
		return err
	}
	_, err := s.follows.Upsert(ctx, userID, func(f *followed, _ bool) error {
		i := slices.Index(f.ArtistIDs, artistID)
		switch {
		case on && i < 0:
			f.ArtistIDs = append(f.ArtistIDs, artistID)
		case !on && i >= 0:
			f.ArtistIDs = slices.Delete(f.ArtistIDs, i, i+1)
		}
		return nil
	})
	return err
}

// Updated clears a listener's cached contact and keeps the marketing
// audience in step with their choice.
func (s *Service) Updated(ctx context.Context, e events.UserUpdated) error {
	s.ForgetContact(e.UserID)
	if e.MarketingOptIn == nil {
		return nil
	}
	_, err := s.members.Upsert(ctx, memberKey(audienceSet, e.UserID), func(m *domain.Members, _ bool) error {
		m.Set(e.UserID, *e.MarketingOptIn, e.UpdatedAt)
		return nil
	})
	return err
}

// Forget removes what notifications holds of a deleted account: its inbox
// and notifications, its place in follower lists and the audience, and
// tickets. Messages keep no address or name; their records stay for the
// failed list and end with their listener unknown.
func (s *Service) Forget(ctx context.Context, userID string) error {
	s.ForgetContact(userID)
	f, err := s.follows.Get(ctx, userID)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if f != nil {
		for _, a := range f.ArtistIDs {
			if err := s.dropMember(ctx, memberKey(followersSet(a), userID), userID); err != nil {
				return err
			}
		}
	}
	if err := s.dropMember(ctx, memberKey(audienceSet, userID), userID); err != nil {
		return err
	}
	head, err := s.inbox.Get(ctx, userID)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if head != nil {
		for lo := 1; lo <= head.Last; lo += 100 {
			var ops []state.Op
			for seq := lo; seq < lo+100 && seq <= head.Last; seq++ {
				ops = append(ops, s.items.DeleteOp(itemKey(userID, seq)))
			}
			if err := s.kv.Transact(ctx, ops); err != nil {
				return err
			}
		}
	}
	return s.kv.Transact(ctx, []state.Op{s.inbox.DeleteOp(userID), s.follows.DeleteOp(userID)})
}

func (s *Service) dropMember(ctx context.Context, key, userID string) error {
	_, err := s.members.Update(ctx, key, func(m *domain.Members) error {
		m.Forget(userID)
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// --- fan-out jobs ---------------------------------------------------------

const jobListID = "open"

// startJob records a fan-out (once per source) and wakes the worker; the
// event is acknowledged at once, however many listeners it reaches.
func (s *Service) startJob(ctx context.Context, id, set string, n domain.Notice) error {
	jobID := domain.MessageID(id, "", "job")
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if _, err := s.jobs.Read(ctx, tx, jobID); err == nil {
			return errRecorded
		}
		list, err := s.jobList.ReadOrNew(ctx, tx, jobListID)
		if err != nil {
			return err
		}
		list.IDs = append(list.IDs, jobID)
		if err := s.jobs.Write(tx, jobID, &domain.Job{ID: jobID, Set: set, Notice: n, CreatedAt: s.now().UTC()}); err != nil {
			return err
		}
		return s.jobList.Write(tx, jobListID, list)
	})
	if errors.Is(err, errRecorded) {
		return nil
	}
	if err == nil {
		s.WakeJobs()
	}
	return err
}

// WakeJobs asks the worker to look for fan-outs now.
func (s *Service) WakeJobs() {
	select {
	case s.wakeJobs <- struct{}{}:
	default:
	}
}

// RunJobs works through fan-outs until ctx ends: at start (resuming what
// an earlier process left), when woken, and every interval.
func (s *Service) RunJobs(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.RunPendingJobs(ctx); err != nil && ctx.Err() == nil {
			platform.Logger(ctx).Warn("fan-out interrupted; resuming shortly", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wakeJobs:
		case <-t.C:
		}
	}
}

// RunPendingJobs finishes every fan-out recorded.
func (s *Service) RunPendingJobs(ctx context.Context) error {
	list, err := s.jobList.Get(ctx, jobListID)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, id := range list.IDs {
		if err := s.runJob(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) runJob(ctx context.Context, id string) error {
	job, err := s.lease(ctx, id, nil)
	switch {
	case errors.Is(err, state.ErrNotFound), errors.Is(err, errJobDone):
		return s.dropJob(ctx, id)
	case errors.Is(err, errLeased):
		return nil // another replica is on it
	case err != nil:
		return err
	}
	log := platform.Logger(ctx).With(slog.String("job", id), slog.String("set", job.Set), slog.String("kind", job.Notice.Kind))
	// Shards are read a group at a time (one round trip each); progress is
	// recorded after every shard that had listeners, so a restart resumes
	// after the last one done and an artist with few followers costs a few
	// reads, not one per shard.
	const group = 16
	for lo := job.Next; lo < domain.MemberShards; lo += group {
		hi := min(lo+group, domain.MemberShards)
		keys := make([]string, 0, hi-lo)
		for shard := lo; shard < hi; shard++ {
			keys = append(keys, s.members.Prefix+job.Set+"|"+strconv.Itoa(shard))
		}
		raw, err := s.kv.GetMany(ctx, keys)
		if err != nil {
			return err
		}
		for i, k := range keys {
			b, ok := raw[k]
			if !ok {
				continue
			}
			var m domain.Members
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			n, err := s.deliverChunks(ctx, m.Active(), job.Notice)
			job.Delivered += n
			if err != nil {
				return err
			}
			next := lo + i + 1
			job, err = s.lease(ctx, id, func(j *domain.Job) { j.Next, j.Delivered = next, job.Delivered })
			if errors.Is(err, errLeased) || errors.Is(err, errJobDone) {
				log.Info("fan-out taken over by another replica")
				return nil // it goes on from the last shard recorded
			}
			if err != nil {
				return err
			}
		}
	}
	took := s.now().Sub(job.CreatedAt)
	log.Info("fan-out finished", slog.Int("reached", job.Delivered), slog.Duration("took", took))
	// The finished job stays (until its TTL) so that the same event coming
	// again finds it done and starts nothing.
	if job, err = s.lease(ctx, id, func(j *domain.Job) { j.Done, j.Owner = true, "" }); err != nil {
		return err
	}
	if err := s.dropJob(ctx, id); err != nil {
		return err
	}
	if s.cfg.JobDone != nil {
		s.cfg.JobDone(*job, took)
	}
	return nil
}

// JobLease is how long a replica holds a fan-out without renewing it (it
// renews after every shard); past it another replica may take over.
const JobLease = time.Minute

var (
	errLeased  = errors.New("another replica holds the fan-out")
	errJobDone = errors.New("the fan-out is done")
)

// lease takes or renews this process's hold on a job (guarded by its ETag)
// and applies change to it. It fails with errLeased while another process
// holds it, and with errJobDone once it is finished.
func (s *Service) lease(ctx context.Context, id string, change func(*domain.Job)) (*domain.Job, error) {
	return s.jobs.Update(ctx, id, func(j *domain.Job) error {
		now := s.now().UTC()
		if j.Done {
			return errJobDone
		}
		if j.Owner != "" && j.Owner != s.id && j.LeaseUntil.After(now) {
			return errLeased
		}
		j.Owner, j.LeaseUntil = s.id, now.Add(JobLease)
		if change != nil {
			change(j)
		}
		return nil
	})
}

// fanoutChunk is how many listeners one delivery takes at a time.
const fanoutChunk = 100

// deliverChunks delivers n to users in chunks, several at once.
func (s *Service) deliverChunks(ctx context.Context, users []string, n domain.Notice) (int, error) {
	var (
		mu      sync.Mutex
		reached int
		first   error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, s.cfg.FanoutWorkers)
	)
	for start := 0; start < len(users); start += fanoutChunk {
		chunk := users[start:min(start+fanoutChunk, len(users))]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := s.deliver(ctx, chunk, n, false)
			mu.Lock()
			defer mu.Unlock()
			reached += r
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return reached, first
}

func (s *Service) dropJob(ctx context.Context, id string) error {
	_, err := s.jobList.Update(ctx, jobListID, func(l *domain.Jobs) error {
		if i := slices.Index(l.IDs, id); i >= 0 {
			l.IDs = slices.Delete(l.IDs, i, i+1)
		}
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}
