package tsdb

import "strconv"

// Status is a libtsdb status code (ts_status in tsdb.h). The numbers are fixed forever;
// later library versions may add codes, which this package reports with their number.
type Status uint32

// The statuses of tsdb.h, with the same numbers.
const (
	StatusOK              Status = 0 // TS_OK: success (never in an *Error)
	StatusDone            Status = 1 // TS_DONE: a cursor is exhausted; not an error (io.EOF here)
	StatusNotFound        Status = 2 // TS_NOT_FOUND
	StatusExists          Status = 3 // TS_EXISTS
	StatusInvalidArgument Status = 4 // TS_INVALID_ARGUMENT
	StatusBusy            Status = 5 // TS_BUSY
	StatusIOError         Status = 6 // TS_IO_ERROR
	StatusCorruption      Status = 7 // TS_CORRUPTION
	StatusClosed          Status = 8 // TS_CLOSED: a call on a closed or released handle
	StatusInternal        Status = 9 // TS_INTERNAL
)

var statusNames = [...]string{
	"TS_OK", "TS_DONE", "TS_NOT_FOUND", "TS_EXISTS", "TS_INVALID_ARGUMENT", "TS_BUSY",
	"TS_IO_ERROR", "TS_CORRUPTION", "TS_CLOSED", "TS_INTERNAL",
}

// String returns the C name of the status, e.g. "TS_NOT_FOUND", or "TS_UNKNOWN_STATUS(n)"
// for a code this package does not know.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "TS_UNKNOWN_STATUS(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Error is every error this package returns (except io.EOF from Cursor.NextBatch).
//
// Test for a kind of error with errors.Is and the sentinels below, which match any *Error
// with the same Status:
//
//	if errors.Is(err, tsdb.ErrNotFound) { ... }
//
// or get the details with errors.As.
type Error struct {
	Status Status // what kind of failure
	Op     string // the Go method that failed, e.g. "DB.Insert"
	Msg    string // what exactly failed: the library's ts_errmsg() text, or this package's
}

// Error formats the error as "tsdb: <Op>: <Msg> [<Status>]".
func (e *Error) Error() string {
	s := "tsdb: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	if e.Msg != "" {
		s += e.Msg + " "
	}
	return s + "[" + e.Status.String() + "]"
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, ErrBusy) holds for every TS_BUSY failure whatever its Op and Msg.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Status == e.Status
}

// Sentinels for errors.Is, one per error status of tsdb.h. Do not modify them.
var (
	// ErrNotFound: no live metric with that id or name (in this snapshot, for reads), or a
	// missing database directory with Options.ErrorIfMissing.
	ErrNotFound = &Error{Status: StatusNotFound}
	// ErrExists: DB.CreateMetric with the name of a live metric (whose id it also returns).
	ErrExists = &Error{Status: StatusExists}
	// ErrInvalidArgument: an empty batch, from > until, a bad name, timestamp or option.
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	// ErrBusy: the database is open elsewhere (Open), or snapshots or cursors are live (Close).
	ErrBusy = &Error{Status: StatusBusy}
	// ErrIOError: a file operation failed; the message names the path and the operation.
	ErrIOError = &Error{Status: StatusIOError}
	// ErrCorruption: stored data failed its checks; the message names file and offset.
	ErrCorruption = &Error{Status: StatusCorruption}
	// ErrClosed: a call on a closed DB, a released Txn or a closed Cursor.
	ErrClosed = &Error{Status: StatusClosed}
	// ErrInternal: a bug in libtsdb, or a database in a failed state after an earlier
	// error; close and reopen it.
	ErrInternal = &Error{Status: StatusInternal}
)

func newError(op string, st Status, msg string) *Error {
	return &Error{Status: st, Op: op, Msg: msg}
}

func closedError(op, what string) *Error {
	return &Error{Status: StatusClosed, Op: op, Msg: what + " is closed"}
}
