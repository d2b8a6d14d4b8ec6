package release

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
)

// pageState is what the page draws: each section nil when the caller may
// not read it, or when reading it failed (Problems says which, without the
// cause, which goes to the log).
type pageState struct {
	Generated time.Time     `json:"generated"`
	Versions  versions      `json:"versions"`
	Releases  []pageRelease `json:"releases"`
	Flags     *pageFlags    `json:"flags"`
	Instances []pageMember  `json:"instances"`
	// Problems names the sections that could not be read.
	Problems []string `json:"problems,omitempty"`
}

// pageRelease is a release's Status with, for the ones not over and the
// latest one, the events of its attempt, and the actions the caller may
// take on it now.
type pageRelease struct {
	Status
	Events []Event  `json:"events,omitempty"`
	Can    []Action `json:"can"`
}

type pageFlags struct {
	Revision int64 `json:"revision"`
	// Document is the flagd document of the store's flags.
	Document json.RawMessage `json:"document"`
	// Invalid says, a line each, what is wrong with the flags the store
	// holds that do not validate.
	Invalid []string `json:"invalid,omitempty"`
	// Can lists, by flag, the actions the caller may take.
	Can map[string][]flagstore.Action `json:"can"`
	// History is the newest records of the audit trail; nil when the
	// caller may not read it. More says whether older ones exist.
	History []flagstore.Record `json:"history"`
	More    bool               `json:"more"`
}

// pageMember is an instance of the registry as the page shows it.
type pageMember struct {
	ID            string    `json:"id"`
	Address       string    `json:"address"`
	Service       string    `json:"service"`
	Version       string    `json:"version"`
	ReleaseID     string    `json:"releaseId,omitempty"`
	Ready         bool      `json:"ready"`
	Detail        string    `json:"detail,omitempty"`
	FlagsRevision *int64    `json:"flagsRevision"`
	RegisteredAt  time.Time `json:"registeredAt"`
	LastSeen      time.Time `json:"lastSeen"`
}

func (p *Page) allowed(r *http.Request, a Action, id string) bool {
	_, err := p.authorize(r, a, id)
	return err == nil
}

func (p *Page) allowedFlag(r *http.Request, a flagstore.Action, key string) bool {
	_, err := p.authorizeFlags(r, a, key)
	return err == nil
}

// snapshotTTL is the longest a snapshot serves while the versions stay
// the same: the heartbeats' times move without changing them.
const snapshotTTL = 2 * time.Second

// snapshot is what the page reads from the database for every caller;
// each caller sees the part its authorizers allow. One snapshot serves
// every open page until the versions change (or [snapshotTTL] passes),
// so that a change costs the database one read whatever the number of
// pages open.
type snapshot struct {
	at    time.Time
	v     versions
	known bool // v is the feed's, read before the snapshot

	releases []Status
	events   map[string][]Event // of the releases not over and the latest that is
	set      *flags.Set
	doc      json.RawMessage
	history  []flagstore.Record
	more     bool
	members  []pageMember
	// failed names the sections that could not be read; a snapshot with
	// one is not kept.
	failed []string
}

// snapRead is a read of a snapshot under way, which the callers that
// arrive meanwhile wait for and share.
type snapRead struct {
	done chan struct{}
	s    *snapshot
}

// snapTimeout bounds one read of a snapshot; it runs on a context of its
// own, so that the caller that started it may leave without failing the
// others.
const snapTimeout = 30 * time.Second

// snap returns a snapshot that is as new as the feed's versions, reading
// one when the last is older; callers that arrive during a read share it.
func (p *Page) snap(ctx context.Context) *snapshot {
	p.snapMu.Lock()
	v, known := p.feed.versionsKnown()
	now := p.now()
	if s := p.last; s != nil && known && s.known && s.v == v && now.Sub(s.at) < snapshotTTL {
		p.snapMu.Unlock()
		return s
	}
	rd := p.reading
	if rd == nil {
		rd = &snapRead{done: make(chan struct{})}
		p.reading = rd
		gen := p.snapGen
		go p.read(context.WithoutCancel(ctx), rd, gen, v, known, now)
	}
	p.snapMu.Unlock()
	select {
	case <-rd.done:
		return rd.s
	case <-ctx.Done():
		return &snapshot{failed: []string{"releases", "instances", "flags"}} // the caller has left
	}
}

// read reads a snapshot for rd; it keeps it for later callers when every
// section was read and no write came since it started (gen).
func (p *Page) read(ctx context.Context, rd *snapRead, gen int, v versions, known bool, at time.Time) {
	ctx, cancel := context.WithTimeout(ctx, snapTimeout)
	defer cancel()
	s := &snapshot{at: at, v: v, known: known, events: map[string][]Event{}}
	fail := func(section string, err error) {
		p.c.cfg.logger.ErrorContext(ctx, "release: page: read failed", "section", section, "err", err)
		s.failed = append(s.failed, section)
	}
	if err := p.readReleases(ctx, s); err != nil {
		fail("releases", err)
	}
	if p.c.instances != nil {
		if err := p.readMembers(ctx, s); err != nil {
			fail("instances", err)
		}
	}
	if err := p.readFlags(ctx, s); err != nil {
		fail("flags", err)
	}
	p.snapMu.Lock()
	if p.reading == rd {
		p.reading = nil
	}
	if len(s.failed) == 0 && gen == p.snapGen {
		p.last = s
	}
	p.snapMu.Unlock()
	rd.s = s
	close(rd.done)
}

// forget drops the kept snapshot and lets no read under way keep its
// own: after a write through the page, the next read is a new one, even
// before the feed has seen the write.
func (p *Page) forget() {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.snapGen++
	p.last, p.reading = nil, nil
}

// readReleases reads every release and, for those the page draws whole
// (the ones not over and the latest that is), the events of the attempt,
// whose measurements make the status too: one read of the ledger each.
func (p *Page) readReleases(ctx context.Context, s *snapshot) error {
	recs, driver, err := p.c.records(ctx)
	if err != nil {
		return err
	}
	s.releases = make([]Status, 0, len(recs))
	latestDone := false
	// The records come as List gives them: the releases not over first,
	// then the newest.
	for _, r := range recs {
		if r.State.Terminal() && latestDone {
			st, err := p.c.status(ctx, r, driver)
			if err != nil {
				return err
			}
			s.releases = append(s.releases, st)
			continue
		}
		latestDone = latestDone || r.State.Terminal()
		evs, err := p.c.events(ctx, r.ID, r.Attempt, 0)
		if err != nil {
			return err
		}
		s.events[r.ID] = evs
		s.releases = append(s.releases, statusOf(r, driver, measurementsOf(evs)))
	}
	return nil
}

func (p *Page) readFlags(ctx context.Context, s *snapshot) error {
	// A set with flags that do not validate comes with an error, and
	// holds the others: the page shows them and names the invalid ones.
	set, err := p.store.Current(ctx)
	if set == nil {
		return err
	}
	if s.doc, err = json.Marshal(set); err != nil {
		return err
	}
	recs, err := p.store.History(ctx, flagstore.Filter{Limit: p.cfg.history + 1})
	if err != nil {
		return err
	}
	s.set, s.more, s.history = set, len(recs) > p.cfg.history, recs[:min(len(recs), p.cfg.history)]
	return nil
}

func (p *Page) readMembers(ctx context.Context, s *snapshot) error {
	ins, err := p.c.instances.List(ctx)
	if err != nil {
		return err
	}
	s.members = make([]pageMember, 0, len(ins))
	for _, in := range ins {
		s.members = append(s.members, pageMember{
			ID: in.ID, Address: in.Address, Service: in.Service, Version: in.Version, ReleaseID: in.ReleaseID,
			Ready: in.Ready, Detail: in.Detail, FlagsRevision: in.FlagsRevision,
			RegisteredAt: in.RegisteredAt, LastSeen: in.LastSeen,
		})
	}
	return nil
}

// reads says which sections r's caller may read.
type reads struct{ releases, flags, history bool }

func (p *Page) reads(r *http.Request) reads {
	return reads{
		releases: p.allowed(r, ActionList, ""),
		flags:    p.allowedFlag(r, flagstore.ActionList, ""),
		history:  p.allowedFlag(r, flagstore.ActionHistory, ""),
	}
}

// visible is v with the parts the caller may not read zeroed: the
// versions say when something changed, and how much.
func (v versions) visible(can reads) versions {
	if !can.releases {
		v.Releases, v.Instances = 0, ""
	}
	if !can.flags {
		v.Flags = 0
	}
	return v
}

// state is what r's caller may see of the latest snapshot.
func (p *Page) state(r *http.Request, can reads) pageState {
	st := pageState{Generated: p.c.cfg.now().UTC()}
	if !can.releases && !can.flags {
		return st
	}
	s := p.snap(r.Context())
	st.Versions = s.v.visible(can)
	failed := func(section string) bool { return slices.Contains(s.failed, section) }
	if can.releases {
		for _, section := range []string{"releases", "instances"} {
			if failed(section) {
				st.Problems = append(st.Problems, section)
			}
		}
		if !failed("releases") {
			st.Releases = p.releasesFor(r, s)
		}
		if p.c.instances != nil && !failed("instances") {
			st.Instances = s.members
		}
	}
	if can.flags {
		if failed("flags") {
			st.Problems = append(st.Problems, "flags")
		} else {
			st.Flags = p.flagsFor(r, s, can.history)
		}
	}
	return st
}

func (p *Page) releasesFor(r *http.Request, s *snapshot) []pageRelease {
	out := make([]pageRelease, 0, len(s.releases))
	for _, st := range s.releases {
		pr := pageRelease{Status: st, Can: []Action{}}
		for _, a := range st.actions() {
			actor, err := p.authorize(r, a, st.ID)
			if err != nil {
				continue
			}
			if a == ActionPromote && len(st.Plan.Approval.Promoters) > 0 && !slices.Contains(st.Plan.Approval.Promoters, actor) {
				continue // the release would refuse this actor's promote
			}
			pr.Can = append(pr.Can, a)
		}
		if evs, ok := s.events[st.ID]; ok && p.allowed(r, ActionRead, st.ID) {
			pr.Events = evs
		}
		out = append(out, pr)
	}
	return out
}

// actions are the actions that apply to a release in its state: promote
// once the first step is written.
func (s Status) actions() []Action {
	var out []Action
	if s.Step >= 0 && (s.State == StateProgressing || s.State == StatePaused) {
		out = append(out, ActionPromote)
	}
	switch s.State {
	case StateProgressing:
		out = append(out, ActionPause, ActionAbort)
	case StatePaused:
		out = append(out, ActionResume, ActionAbort)
	case StateRollingBack:
		out = append(out, ActionAbort)
	}
	return out
}

func (p *Page) flagsFor(r *http.Request, s *snapshot, history bool) *pageFlags {
	fl := &pageFlags{Revision: s.set.Revision(), Document: s.doc, Can: map[string][]flagstore.Action{}}
	for _, pr := range s.set.Problems() {
		fl.Invalid = append(fl.Invalid, pr.String())
	}
	for _, key := range s.set.Keys() {
		can := []flagstore.Action{}
		for _, a := range []flagstore.Action{flagstore.ActionKill, flagstore.ActionRevive, flagstore.ActionWeights} {
			if p.allowedFlag(r, a, key) {
				can = append(can, a)
			}
		}
		fl.Can[key] = can
	}
	if history {
		fl.History, fl.More = s.history, s.more
	}
	return fl
}
