#!/usr/bin/env bash
# Runs every benchmark behind the performance targets in docs/benchmarks.md
# in one go, then prints each target with the figure this run measured.
#
# Usage: scripts/bench-suite.sh [OUTDIR]
#
# OUTDIR defaults to a new directory under /tmp. It receives the raw go
# test output of each group and its benchstat summary, and machine.txt
# with the CPU, kernel, Go, commit and load averages. It also receives
# targets.md and a CPU profile of the whole event path, intake-file.cpu,
# whose top functions are in intake-file.top.txt. It exits 1 when a target was missed, 2 when a
# benchmark a target needs is missing and 3 when a benchmark fails.
# COUNT (default 6) and BENCHTIME (default 0.5s) set -count and
# -benchtime. The run takes about 5 minutes on 2 vCPUs; run it on an
# otherwise idle machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d /tmp/tokenwire-bench.XXXXXX)}
count=${COUNT:-6}
benchtime=${BENCHTIME:-0.5s}
benchstat_version=v0.0.0-20260908200009-22c9c6c9d4da
mkdir -p "$out"
cd "$root"

gobin=$(go env GOPATH)/bin
if ! [ -x "$gobin/benchstat" ]; then
	go install "golang.org/x/perf/cmd/benchstat@$benchstat_version"
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
	echo "go: $(go version)"
	echo "kernel: $(uname -srm)"
	echo "cpus: $(nproc)"
	lscpu 2>/dev/null | grep -E '^(Model name|Vendor ID|CPU family|Model|Thread\(s\) per core|Hypervisor vendor|L2 cache|L3 cache):' || true
	grep MemTotal /proc/meminfo || true
	echo "count: $count, benchtime: $benchtime"
} >"$out/machine.txt"

# step NAME DIR ARGS... runs go test -bench in DIR COUNT times with
# -count 1, so the benchmarks of one step take turns and a drift in the
# machine's speed affects all of them alike, and records the load average
# before and after.
step() {
	local name=$1 dir=$2
	shift 2
	echo "== $name" >&2
	echo "load before $name: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
	: >"$out/$name.txt"
	for _ in $(seq "$count"); do
		if ! (cd "$dir" && go test -run '^$' -benchmem -count 1 -benchtime "$benchtime" "$@") | tee -a "$out/$name.txt"; then
			echo "bench-suite: the $name benchmarks failed; see $out/$name.txt" >&2
			exit 3
		fi
	done
	echo "load after $name: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
	"$gobin/benchstat" "$out/$name.txt" >"$out/$name.benchstat.txt"
}

step runtime . -bench 'Compare|DispatchMinimal/DispatchEncoded|DispatchParallel' ./runtime
step replay . -bench 'Replay' ./runtime
step signer . -bench 'Sign/RS256|RawRS256|JWXSign/RS256|RS256VersusRaw' ./runtime/signer
step intake . -bench 'IntakeHTTP' ./internal/server
step extism bench/extism -bench . .

# A CPU profile of the whole event path: HTTP intake, decoding, routing,
# dispatch, host functions and a file sink.
echo "== profile" >&2
if ! go test -run '^$' -bench 'IntakeHTTPFileSink' -benchtime 100x -count 1 \
	-cpuprofile "$out/intake-file.cpu" -o "$out/server.test" ./internal/server >"$out/profile.log" 2>&1; then
	echo "bench-suite: the profiled benchmark failed; see $out/profile.log" >&2
	exit 3
fi
go tool pprof -top -cum -nodecount 60 "$out/server.test" "$out/intake-file.cpu" >"$out/intake-file.top.txt" 2>/dev/null

go run ./bench/targets "$out"/{runtime,replay,signer,intake,extism}.txt | tee "$out/targets.md" || status=$?
echo "results in $out" >&2
exit "${status:-0}"
