package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DBPing returns a check that pings db, for [Checker.Register]. The check
// uses one connection from db's pool for the ping; it opens nothing of its
// own and imports no driver.
func DBPing(db *sql.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		if db == nil {
			return errors.New("database ping: nil *sql.DB")
		}
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("database ping: %w", err)
		}
		return nil
	}
}

// maxDrain bounds how much of a response body HTTPGet reads, so that
// connections are reused without reading unbounded bodies.
const maxDrain = 64 << 10

// HTTPGet returns a check that GETs rawURL with client (http.DefaultClient
// when nil) and fails on a transport error or a status outside 200-299. The
// body is read up to 64 KiB and discarded. The check's error names the URL
// without its password.
func HTTPGet(client *http.Client, rawURL string) func(context.Context) error {
	if client == nil {
		client = http.DefaultClient
	}
	shown := rawURL
	u, perr := url.Parse(rawURL)
	if perr == nil {
		shown = u.Redacted()
	} else {
		shown = "(unparsable url)"
		var ue *url.Error
		if errors.As(perr, &ue) {
			perr = ue.Err // url.Error repeats the URL, password included
		}
	}
	return func(ctx context.Context) error {
		if perr != nil {
			return fmt.Errorf("http get: invalid url: %w", perr)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return fmt.Errorf("http get %s: %w", shown, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // url.Error repeats the URL, password included
			}
			return fmt.Errorf("http get %s: %w", shown, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) // only to reuse the connection
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("http get %s: status %s", shown, resp.Status)
		}
		return nil
	}
}
