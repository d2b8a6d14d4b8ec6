package flags

import (
	"fmt"
	"strings"
)

// prefix leads every error message of the package.
const prefix = "flags: "

// wrapf wraps err with context, saying the package's prefix once: the
// message starts with it, and an error of this package that already starts
// with it gives that start up. The result unwraps to err.
func wrapf(err error, format string, args ...any) error {
	return &wrapError{
		msg: prefix + fmt.Sprintf(format, args...) + ": " + strings.TrimPrefix(err.Error(), prefix),
		err: err,
	}
}

type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }
