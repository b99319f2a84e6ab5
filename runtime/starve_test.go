package runtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// TestDeadlineWithEveryCPUBusy runs more endless loops than there are
// CPUs, with the largest budget, and checks the deadline stops each.
// Guest code returns to Go at every refuel, so the loops cannot keep the
// host from checking their deadline.
func TestDeadlineWithEveryCPUBusy(t *testing.T) {
	lc := listenerFor("loop", "loop")
	lc.Deadline = config.Duration(50 * time.Millisecond)
	lc.Budgets.Instructions = config.MaxInstructions
	lc.PoolSize = 4
	env := newEnv(t, lc)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, lc.PoolSize)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = env.rt.Dispatch(context.Background(), testEvent(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if kindOf(err) != FailTimeout {
			t.Errorf("event %d: %v, want kind timeout", i, err)
		}
	}
	// Generous for a loaded machine. Without refuel the loops ran until
	// their budgets ended them.
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the loops ran %v, want them stopped near the 50ms deadline", elapsed)
	}
}
