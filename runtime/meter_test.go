package runtime

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// fixedSigner "signs" by encoding the claims, so output that holds a SET is
// the same on every run.
type fixedSigner struct{}

func (fixedSigner) Sign(claims []byte) ([]byte, error) {
	return []byte("signed." + base64.RawURLEncoding.EncodeToString(claims)), nil
}

func (fixedSigner) PublicJWKS() []byte { return []byte(`{"keys":[]}`) }

// meterConfig lists every module in the repository that loads, each with
// the config it needs.
const meterConfig = `
issuer: https://issuer.example.com
sinks:
  - {name: stdout, type: stdout}
  - {name: other, type: stdout}
listeners:
%s`

// meterExamples are the Go examples.
const meterExamples = `
  - {name: audit, module: ../examples/audit/audit.wasm, sign: true, sinks: [other], config: {sink: other, audience: https://siem.example.com}}
  - {name: claimfilter, module: ../examples/claimfilter/claimfilter.wasm, sinks: [stdout], config: {claims: [sub, iat, amr], properties: {source: tokenwire}, sink: stdout}}
`

// meterGuests are the test guests that load and finish quickly. loop and
// init_loop never finish, and the budget tests cover them. stackoverflow,
// memgrow, logflood and fdwrite_bomb spend their time in the host, not in
// guest code.
var meterGuests = []string{"echo", "minimal", "scan", "probe", "trap", "oob", "exit", "signabuse", "tablegrow"}

// runCorpus dispatches the corpus to every repo module and returns, per
// event, the listeners' errors and, sorted because listeners run
// concurrently, everything emitted.
func runCorpus(t *testing.T, metered bool) []string {
	t.Helper()
	saved := meterModules
	meterModules = metered
	defer func() { meterModules = saved }()

	var guests strings.Builder
	guests.WriteString(meterExamples)
	for _, g := range meterGuests {
		fmt.Fprintf(&guests, "  - {name: %s, module: %s, sign: true, sinks: [stdout], deadline: 10s}\n", g, filepath.ToSlash(guestPath(g)))
	}
	cfg, err := config.Parse(fmt.Appendf(nil, meterConfig, guests.String()), "meter-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, other := newCaptureSink(), newCaptureSink()
	rt, err := New(context.Background(), cfg, WithLogger(testLogger(&logBuffer{})), WithSigner(fixedSigner{}),
		WithSink("stdout", out), WithSink("other", other), WithBackoff(false))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())

	var results []string
	for _, ev := range corpus(t) {
		err := rt.Dispatch(context.Background(), ev)
		results = append(results, fmt.Sprintf("event %s: %v", ev.ID, err))
	}
	emitted := append(out.all(), other.all()...)
	slices.Sort(emitted)
	return append(results, emitted...)
}

// TestMeteringPreservesBehaviour dispatches the event corpus to every
// module in the repository with and without instruction metering and
// requires the same errors and the same output, line for line.
func TestMeteringPreservesBehaviour(t *testing.T) {
	if raceEnabled {
		t.Skip("compares output only, and takes minutes under the race detector")
	}
	plain := runCorpus(t, false)
	metered := runCorpus(t, true)
	if len(plain) != len(metered) {
		t.Fatalf("metered run gave %d results, plain run %d", len(metered), len(plain))
	}
	for i := range plain {
		if plain[i] != metered[i] {
			t.Errorf("result %d differs:\nplain   %.300s\nmetered %.300s", i, plain[i], metered[i])
		}
	}
	if len(plain) < 100 {
		t.Errorf("only %d results compared; the corpus or the sinks are not being exercised", len(plain))
	}
}

// TestBudgetStopsEndlessLoop gives the loop guest a deadline it never
// reaches and checks that the budget alone stops each call, as a timeout.
func TestBudgetStopsEndlessLoop(t *testing.T) {
	lc := listenerFor("loop", "loop")
	lc.Deadline = config.Duration(time.Hour)
	lc.Budgets.Instructions = 5_000_000
	env := newEnv(t, lc)
	for i := range 3 {
		err := env.rt.Dispatch(context.Background(), testEvent(fmt.Sprint(i)))
		if kindOf(err) != FailTimeout {
			t.Fatalf("event %d: %v, want kind timeout", i, err)
		}
		mustContain(t, "error", err.Error(), "instruction budget of 5000000 exhausted")
	}
	if status := env.rt.Listeners()[0]; status.Timeouts != 3 {
		t.Errorf("status has %d timeouts, want 3", status.Timeouts)
	}
}

// TestStartBudgetStopsInitLoop checks the start budget bounds tw_init.
func TestStartBudgetStopsInitLoop(t *testing.T) {
	lc := listenerFor("init_loop", "init_loop")
	lc.StartDeadline = config.Duration(time.Hour)
	lc.Budgets.StartInstructions = 1_000_000
	_, err := tryEnv(t, lc)
	mustContain(t, "error", fmt.Sprint(err), "tw_init timed out", "instruction budget of 1000000 exhausted")
}
