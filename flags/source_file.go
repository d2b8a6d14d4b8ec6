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

// DefaultDebounce is how long a [FileSource] waits after the last change to
// the file before it reads the file again.
const DefaultDebounce = 100 * time.Millisecond

// maxDelayFactor bounds the wait: a file that keeps changing is read at the
// latest this many debounce intervals after the first change of a burst.
const maxDelayFactor = 10

// FileSource reads flag definitions from a file: JSON, or YAML when the name
// ends in .yaml or .yml ([ParseFile]). Watch follows the file through its
// directory, so that an atomic replace (write a temporary file, rename it
// over), a rewrite in place and a swap of a symbolic link the path goes
// through (a Kubernetes ConfigMap volume's ..data) are all seen; other files
// in the directory are ignored. A change is read once the file has been quiet
// for the debounce interval, and at the latest ten intervals after the first
// change, however often it is written; only content that differs from the
// last read is delivered. A file whose document parses is delivered with its
// valid flags, its invalid ones reported ([Set.Problems], as [Parse] does).
// A document that does not parse or is refused whole ([DocumentError]) — a
// half-written file included — is refused and reported, and the previous
// definitions keep serving until the file is good again. A directory that is
// removed is reported the same way, and followed again once it is back.
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

// WithDebounce sets how long the file must stay quiet before it is read
// again; d must be positive. A file that keeps changing is read at the latest
// 10×d after its first change. The default is [DefaultDebounce].
func WithDebounce(d time.Duration) FileOption {
	return func(s *FileSource) error {
		if d <= 0 {
			return fmt.Errorf("flags: WithDebounce: %v is not positive", d)
		}
		s.debounce = d
		return nil
	}
}

// NewFileSource returns a source reading path. It reads nothing yet. It
// returns an error for an empty path or a nil option, and the error of the
// first option that refuses its argument.
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

// Load reads and parses the file once, and answers as [ParseFile] does: a
// Set with a nil error, a Set of the valid flags with a [*ValidationError]
// naming the invalid ones, or a nil Set with a [*DocumentError]. Errors from
// reading wrap the os/fs error (fs.ErrNotExist, fs.ErrPermission).
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
	set, err := ParseFile(s.path, data)
	if err != nil {
		return set, wrapf(err, "flag file %s", s.path)
	}
	return set, nil
}

// ParseFile parses the content of the file called name: YAML ([ParseYAML])
// when name ends in .yaml or .yml, whatever the case, and JSON ([Parse])
// otherwise. It is what [FileSource] reads a file with.
func ParseFile(name string, data []byte) (*Set, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return ParseYAML(data)
	}
	return Parse(data)
}

// Watch implements [Source]. It returns an error at once when the file's
// directory cannot be watched, and later when the watch breaks down, or when
// the directory is gone and its parent cannot be watched for its return.
func (s *FileSource) Watch(ctx context.Context, changed func(*Set, error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("flags: watch flag file %s: %w", s.path, err)
	}
	defer w.Close()
	fw := &fileWatch{src: s, w: w, dir: filepath.Dir(s.path)}
	// The directory, not the file: a rename over the file replaces the inode
	// a file watch would follow.
	if err := w.Add(fw.dir); err != nil {
		return fmt.Errorf("flags: watch directory of flag file %s: %w", s.path, err)
	}
	if _, err := fw.follow(); err != nil {
		return err
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
		if set == nil {
			s.logger.Debug("flag file refused", "path", s.path, "err", err)
			changed(nil, err)
			return
		}
		// Invalid flags travel in the set; the provider reports them.
		s.logger.Info("flag file read", "path", s.path, "flags", len(set.flags), "invalid", len(set.invalid))
		changed(set, nil)
	}
	read()

	wait := debounce{quiet: s.debounce, max: maxDelayFactor * s.debounce}
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
			if !fw.relevant[ev.Name] {
				continue // another file of a watched directory
			}
			s.logger.Debug("flag file changed", "event", ev.String())
			// The directory may have gone or come back: follow it. The
			// file is read either way.
			if _, err := fw.follow(); err != nil {
				return err
			}
			timer.Reset(wait.change(time.Now()))
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("flags: watch of flag file %s ended", s.path)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: read again to be sure.
				timer.Reset(wait.change(time.Now()))
				continue
			}
			return fmt.Errorf("flags: watch flag file %s: %w", s.path, err)
		case <-timer.C:
			wait.done()
			read()
			// A read may find the path resolving elsewhere (a link
			// swapped), or the directory back.
			reread, err := fw.follow()
			if err != nil {
				return err
			}
			if reread {
				timer.Reset(wait.change(time.Now()))
			}
		}
	}
}

// fileWatch is what a FileSource's Watch watches: the file's directory
// (while it is gone, its parent, to see it return), the directory of the
// file a symbolic link leads to, and the names whose events matter.
type fileWatch struct {
	src *FileSource
	w   *fsnotify.Watcher
	dir string
	// gone is set while the directory cannot be watched.
	gone bool
	// parent is the directory's parent while it is watched, "" otherwise.
	// It is watched only while the directory is gone: a watch of a
	// directory costs one descriptor per entry on kqueue systems.
	parent string
	// extra is the directory of the link target being watched, "" if none.
	extra string
	// relevant holds the paths whose change can change what the file reads:
	// the path, its directory, each link followed and what it points to
	// (with the directories on the way), and the file finally read.
	relevant map[string]bool
}

// follow brings the watches and the relevant paths up to date. reread is
// set when a directory is watched anew (the flag file's, back after it was
// gone, or a link target's): what was written in it before its watch was in
// place was not seen, so the file must be read. It returns an error when the
// directory is gone and its parent cannot be watched to tell of its return.
func (fw *fileWatch) follow() (reread bool, err error) {
	fw.relevant = followed(fw.src.path)
	wasGone := fw.gone
	if err := fw.watchDir(); err != nil {
		return false, err
	}
	extra := ""
	if real, err := filepath.EvalSymlinks(fw.src.path); err == nil {
		if d := filepath.Dir(real); d != fw.dir {
			extra = d
		}
	}
	reread = wasGone && !fw.gone
	if old := fw.extra; extra != old {
		fw.extra = ""
		fw.unwatch(old)
		if extra != "" && fw.w.Add(extra) == nil {
			fw.extra = extra
			reread = true
		}
	}
	return reread, nil
}

// watchDir watches the flag file's directory, or its parent while it is
// gone.
func (fw *fileWatch) watchDir() error {
	for {
		if fw.w.Add(fw.dir) == nil {
			fw.gone = false
			if p := fw.parent; p != "" {
				fw.parent = ""
				fw.unwatch(p)
			}
			return nil
		}
		fw.gone = true
		// Adding again also tells whether a watch of the parent is still
		// alive: it ends when the parent is removed in turn.
		parent := filepath.Dir(fw.dir)
		if parent == fw.dir || fw.w.Add(parent) != nil {
			fw.parent = ""
			return fmt.Errorf("flags: watch flag file %s: directory %s is gone and %s cannot be watched for its return", fw.src.path, fw.dir, parent)
		}
		if fw.parent != "" {
			return nil // still gone; the parent tells of its return
		}
		fw.parent = parent
		// The directory may have come back before the parent's watch was
		// in place: look again.
	}
}

// unwatch removes the watch of dir unless another role still needs it.
func (fw *fileWatch) unwatch(dir string) {
	if dir == "" || dir == fw.dir || dir == fw.parent || dir == fw.extra {
		return
	}
	_ = fw.w.Remove(dir) // gone already when the directory was removed
}

// maxLinks is how many symbolic links followed is taken for a loop, as the
// Linux kernel does.
const maxLinks = 40

// followed returns the paths whose change can change what path reads.
func followed(path string) map[string]bool {
	paths := map[string]bool{}
	withDirs := func(p string) {
		for {
			paths[p] = true
			d := filepath.Dir(p)
			if d == p {
				return
			}
			p = d
		}
	}
	withDirs(path)
	p := path
	for range maxLinks {
		target, err := os.Readlink(p)
		if err != nil {
			break // not a link (or gone): the end of the chain
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = filepath.Clean(target)
		withDirs(p)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		withDirs(real)
	}
	return paths
}

// debounce decides when a burst of changes is read: once no change has come
// for quiet, and at the latest max after the burst's first change, so that a
// file written without pause is still read.
type debounce struct {
	quiet, max time.Duration
	first      time.Time // of the burst waiting to be read; zero when none
}

// change records a change at now and returns how long to wait before
// reading.
func (d *debounce) change(now time.Time) time.Duration {
	if d.first.IsZero() {
		d.first = now
	}
	return max(min(d.quiet, d.first.Add(d.max).Sub(now)), 0)
}

// done ends the burst: the file is being read.
func (d *debounce) done() { d.first = time.Time{} }
