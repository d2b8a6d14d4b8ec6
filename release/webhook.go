package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/Masterminds/semver/v3"
)

type constraint = *semver.Constraints

func parseConstraint(s string) (constraint, error) {
	c, err := semver.NewConstraint(s)
	if err != nil {
		return nil, fmt.Errorf("requires %q: %w", s, err)
	}
	return c, nil
}

func parseVersion(s string) (*semver.Version, error) { return semver.NewVersion(s) }

func webhookNamed(p *Plan, name string) *Webhook {
	for i := range p.Webhooks {
		if p.Webhooks[i].Name == name {
			return &p.Webhooks[i]
		}
	}
	return nil
}

// webhookPayload is the body POSTed to a webhook.
type webhookPayload struct {
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	ReleaseID string         `json:"releaseId"`
	Attempt   int            `json:"attempt"`
	State     State          `json:"state"`
	Step      int            `json:"step"` // 1-based, as in the plan's approval
	Steps     int            `json:"steps"`
	Weights   map[string]int `json:"weights"`
}

// call asks one webhook and returns "" when it passes, or why not.
func (c *Controller) call(ctx context.Context, wh Webhook, r *record) string {
	ctx, cancel := context.WithTimeout(ctx, wh.Timeout.D())
	defer cancel()
	body, err := json.Marshal(webhookPayload{Type: wh.Type, Name: wh.Name, ReleaseID: r.ID, Attempt: r.Attempt,
		State: r.State, Step: r.Step + 1, Steps: len(r.Plan.Steps), Weights: r.weights()})
	if err != nil {
		return err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.cfg.client.Do(req)
	if err != nil {
		// Without the URL, which may hold a token: the reason goes into the
		// ledger and the outcome.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if ctx.Err() != nil {
			return fmt.Sprintf("no answer in time (timeout %v): %v", wh.Timeout.D(), err)
		}
		return fmt.Sprintf("call failed: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256)) // a short excerpt for the ledger; a read error leaves it shorter
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return ""
}

// confirm asks the confirm-promotion webhooks before a step is taken. It
// returns the name of the first that does not pass and why, and whether
// the plan says to roll back then (else the step holds).
func (c *Controller) confirm(ctx context.Context, r *record, p *Plan) (name, why string, rollback bool) {
	for _, wh := range p.Webhooks {
		if wh.Type != WebhookConfirmPromotion {
			continue
		}
		if why := c.call(ctx, wh, r); why != "" {
			return wh.Name, why, wh.OnFailure == WebhookRollback
		}
	}
	return "", "", false
}
