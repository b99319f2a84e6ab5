package listener

import (
	"strconv"

	"github.com/tokenwire/tokenwire/abi"
)

// Level is the severity of a log line.
type Level int32

// Log levels of ABI version 1.
const (
	LevelDebug Level = Level(abi.LogDebug)
	LevelInfo  Level = Level(abi.LogInfo)
	LevelWarn  Level = Level(abi.LogWarn)
	LevelError Level = Level(abi.LogError)
)

// String returns the level name in lower case, for example "warn".
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Log writes msg to the host log at the given level. It drops the line
// silently when the host rejects it, for example because the per-event log
// budget is used up (abi.StatusLimitExceeded).
func Log(level Level, msg string) { logMessage(int32(level), msg) }

// Debug writes msg to the host log at LevelDebug.
func Debug(msg string) { Log(LevelDebug, msg) }

// Info writes msg to the host log at LevelInfo.
func Info(msg string) { Log(LevelInfo, msg) }

// Warn writes msg to the host log at LevelWarn.
func Warn(msg string) { Log(LevelWarn, msg) }

// Error writes msg to the host log at LevelError. It does not fail the
// event. To fail it, return an error from the handler.
func Error(msg string) { Log(LevelError, msg) }
