//go:build !wasip1

package listener

import "github.com/tokenwire/tokenwire/guests/go/internal/hostcall"

// In native builds the host functions go to the fake host that package
// listenertest installs, and listenertest calls the exports through
// hostcall.

func init() {
	hostcall.SetExports(hostcall.Exports{
		OnEvent:    onEvent,
		OnInit:     onInit,
		OnShutdown: onShutdown,
	})
}

func host() hostcall.Host {
	h := hostcall.Current()
	if h == nil {
		panic("listener: no host installed; native builds run only under a listenertest.Host")
	}
	return h
}

func eventRead(buf []byte) int32               { return host().EventRead(buf) }
func configRead(buf []byte) int32              { return host().ConfigRead(buf) }
func logMessage(level int32, msg string) int32 { return host().Log(level, msg) }
func setError(msg string) int32                { return host().SetError(msg) }
func sign(claims []byte) int32                 { return host().Sign(claims) }
func resultRead(buf []byte) int32              { return host().ResultRead(buf) }
func emit(sink string, data []byte) int32      { return host().Emit(sink, data) }
