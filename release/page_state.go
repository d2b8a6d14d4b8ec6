package release

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

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

// state reads what r's caller may see.
func (p *Page) state(r *http.Request) pageState {
	ctx := r.Context()
	st := pageState{Generated: p.c.cfg.now().UTC(), Versions: p.feed.current()}
	problem := func(section string, err error) {
		p.c.cfg.logger.ErrorContext(ctx, "release: page: read failed", "section", section, "err", err)
		st.Problems = append(st.Problems, section)
	}
	if p.allowed(r, ActionList, "") {
		rels, err := p.releases(ctx, r)
		if err != nil {
			problem("releases", err)
		} else {
			st.Releases = rels
		}
		if p.c.instances != nil {
			ms, err := p.members(ctx)
			if err != nil {
				problem("instances", err)
			} else {
				st.Instances = ms
			}
		}
	}
	if p.allowedFlag(r, flagstore.ActionList, "") {
		fl, err := p.flags(ctx, r)
		if err != nil {
			problem("flags", err)
		} else {
			st.Flags = fl
		}
	}
	return st
}

func (p *Page) releases(ctx context.Context, r *http.Request) ([]pageRelease, error) {
	list, err := p.c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pageRelease, 0, len(list))
	latestDone := false
	for _, s := range list {
		pr := pageRelease{Status: s, Can: []Action{}}
		for _, a := range s.actions() {
			if p.allowed(r, a, s.ID) {
				pr.Can = append(pr.Can, a)
			}
		}
		// The list holds the releases not over first, then the newest.
		if (!s.State.Terminal() || !latestDone) && p.allowed(r, ActionRead, s.ID) {
			if pr.Events, err = p.c.events(ctx, s.ID, s.Attempt, 0); err != nil {
				return nil, err
			}
		}
		latestDone = latestDone || s.State.Terminal()
		out = append(out, pr)
	}
	return out, nil
}

// actions are the actions that apply to a release in its state.
func (s Status) actions() []Action {
	switch s.State {
	case StateProgressing:
		return []Action{ActionPromote, ActionPause, ActionAbort}
	case StatePaused:
		return []Action{ActionPromote, ActionResume, ActionAbort}
	case StateRollingBack:
		return []Action{ActionAbort}
	}
	return nil
}

func (p *Page) flags(ctx context.Context, r *http.Request) (*pageFlags, error) {
	set, err := p.store.Current(ctx)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	fl := &pageFlags{Revision: set.Revision(), Document: doc, Can: map[string][]flagstore.Action{}}
	for _, pr := range set.Problems() {
		fl.Invalid = append(fl.Invalid, pr.String())
	}
	for _, key := range set.Keys() {
		can := []flagstore.Action{}
		for _, a := range []flagstore.Action{flagstore.ActionKill, flagstore.ActionRevive, flagstore.ActionWeights} {
			if p.allowedFlag(r, a, key) {
				can = append(can, a)
			}
		}
		fl.Can[key] = can
	}
	if p.allowedFlag(r, flagstore.ActionHistory, "") {
		recs, err := p.store.History(ctx, flagstore.Filter{Limit: p.cfg.history + 1})
		if err != nil {
			return nil, err
		}
		fl.More = len(recs) > p.cfg.history
		fl.History = recs[:min(len(recs), p.cfg.history)]
	}
	return fl, nil
}

func (p *Page) members(ctx context.Context) ([]pageMember, error) {
	ins, err := p.c.instances.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pageMember, 0, len(ins))
	for _, in := range ins {
		out = append(out, pageMember{
			ID: in.ID, Address: in.Address, Service: in.Service, Version: in.Version, ReleaseID: in.ReleaseID,
			Ready: in.Ready, Detail: in.Detail, FlagsRevision: in.FlagsRevision,
			RegisteredAt: in.RegisteredAt, LastSeen: in.LastSeen,
		})
	}
	return out, nil
}
