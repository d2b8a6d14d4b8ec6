package flags

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a [FileSource] waits after the last change in
// the file's directory before it reads the file again.
const DefaultDebounce = 100 * time.Millisecond

// FileSource reads flag definitions from a file: JSON, or YAML when the name
// ends in .yaml or .yml. Watch follows the file through its directory, so
// that both an atomic replace (write a temporary file, rename it over) and a
// rewrite in place are seen; changes are read once the directory has been
// quiet for the debounce interval, and only content that differs from the
// last read is delivered. Content that does not parse or validate — a
// half-written file included — is refused and reported, and the previous
// definitions keep serving until the file is good again.
//
// FileSource is not a [Writer]: the file belongs to whoever edits it. Use
// [NewFileSource]; the zero FileSource is not usable.
type FileSource struct {
	path     string
	debounce time.Duration
	logger   *slog.Logger
}

var _ Source = (*FileSource)(nil)

// FileOption configures a [FileSource]. Options validate their argument.
type FileOption func(*FileSource) error

// WithFileLogger sets where the source logs the changes it sees. The default
// discards the log.
func WithFileLogger(l *slog.Logger) FileOption {
	return func(s *FileSource) error {
		if l == nil {
			return errors.New("flags: WithFileLogger: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithDebounce sets how long the directory must stay quiet before the file is
// read again; d must be positive. The default is [DefaultDebounce].
func WithDebounce(d time.Duration) FileOption {
	return func(s *FileSource) error {
		if d <= 0 {
			return fmt.Errorf("flags: WithDebounce: %v is not positive", d)
		}
		s.debounce = d
		return nil
	}
}

// NewFileSource returns a source reading path. It reads nothing yet.
func NewFileSource(path string, opts ...FileOption) (*FileSource, error) {
	if path == "" {
		return nil, errors.New("flags: NewFileSource: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("flags: flag file %q: %w", path, err)
	}
	s := &FileSource{path: abs, debounce: DefaultDebounce, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("flags: NewFileSource %s: nil option", path)
		}
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Path returns the absolute path of the file.
func (s *FileSource) Path() string { return s.path }

// Load reads and parses the file once. Errors from reading wrap the
// os/fs error (fs.ErrNotExist, fs.ErrPermission); definitions that do not
// parse or validate give an error wrapping [ErrInvalid].
func (s *FileSource) Load(ctx context.Context) (*Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("flags: read flag file: %w", err)
	}
	return s.parse(data)
}

func (s *FileSource) parse(data []byte) (*Set, error) {
	var set *Set
	var err error
	switch strings.ToLower(filepath.Ext(s.path)) {
	case ".yaml", ".yml":
		set, err = ParseYAML(data)
	default:
		set, err = Parse(data)
	}
	if err != nil {
		return nil, wrapf(err, "flag file %s", s.path)
	}
	return set, nil
}

// Watch implements [Source]. It returns an error at once when the file's
// directory cannot be watched, and later when the watch breaks down.
func (s *FileSource) Watch(ctx context.Context, changed func(*Set, error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("flags: watch flag file %s: %w", s.path, err)
	}
	defer w.Close()
	// The directory, not the file: a rename over the file replaces the inode
	// a file watch would follow.
	if err := w.Add(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("flags: watch directory of flag file %s: %w", s.path, err)
	}
	// Read after the watch is in place, so that no change falls between.
	var last []byte
	read := func() {
		data, err := os.ReadFile(s.path)
		if err != nil {
			last = nil // whatever comes next is new
			changed(nil, fmt.Errorf("flags: read flag file: %w", err))
			return
		}
		if last != nil && bytes.Equal(data, last) {
			return
		}
		last = data
		set, err := s.parse(data)
		if err != nil {
			s.logger.Debug("flag file refused", "path", s.path, "err", err)
			changed(nil, err)
			return
		}
		s.logger.Info("flag file read", "path", s.path, "flags", len(set.flags))
		changed(set, nil)
	}
	read()

	timer := time.NewTimer(s.debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("flags: watch of flag file %s ended", s.path)
			}
			s.logger.Debug("flag directory changed", "event", ev.String())
			timer.Reset(s.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("flags: watch of flag file %s ended", s.path)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: read again to be sure.
				timer.Reset(s.debounce)
				continue
			}
			return fmt.Errorf("flags: watch flag file %s: %w", s.path, err)
		case <-timer.C:
			read()
		}
	}
}
