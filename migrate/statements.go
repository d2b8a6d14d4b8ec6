package migrate

import (
	"context"
	"log/slog"
	"sync"
)

// goose logs every statement of a SQL migration just before it executes it
// (with WithVerbose). Its SQL parser is internal, so reading those records is
// how a Runner knows, exactly as goose split them, which statements had run
// when a migration fails.
const gooseStatementMsg = "executing statement"

type statementsKey struct{}

// statementLog collects the statements goose started during one call.
type statementLog struct {
	mu      sync.Mutex
	entries []startedStatement
	// onStart, when set, is called just before goose executes a statement,
	// with the statements of that version started so far (this one last).
	onStart func(ctx context.Context, version int64, started []string)
}

type startedStatement struct {
	version   int64
	statement string
}

func withStatementLog(ctx context.Context) (context.Context, *statementLog) {
	l := new(statementLog)
	return context.WithValue(ctx, statementsKey{}, l), l
}

// of returns the statements started for one version, in order.
func (l *statementLog) of(version int64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if e.version == version {
			out = append(out, e.statement)
		}
	}
	return out
}

// statementHandler receives goose's log records: it files statements in the
// call's statementLog and passes every record on to the user's logger,
// statements at debug level.
type statementHandler struct {
	next slog.Handler
}

func (h *statementHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *statementHandler) Handle(ctx context.Context, rec slog.Record) error {
	level := rec.Level
	if rec.Message == gooseStatementMsg {
		level = slog.LevelDebug
		if l, ok := ctx.Value(statementsKey{}).(*statementLog); ok {
			var e startedStatement
			rec.Attrs(func(a slog.Attr) bool {
				switch a.Key {
				case "statement":
					e.statement = a.Value.String()
				case "version":
					if a.Value.Kind() == slog.KindInt64 {
						e.version = a.Value.Int64()
					}
				}
				return true
			})
			l.mu.Lock()
			l.entries = append(l.entries, e)
			l.mu.Unlock()
			if l.onStart != nil {
				l.onStart(ctx, e.version, l.of(e.version))
			}
		}
	}
	if !h.next.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(rec.Time, level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *statementHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &statementHandler{next: h.next.WithAttrs(as)}
}

func (h *statementHandler) WithGroup(name string) slog.Handler {
	return &statementHandler{next: h.next.WithGroup(name)}
}
