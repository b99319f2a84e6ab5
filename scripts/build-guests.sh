#!/usr/bin/env bash
# Rebuilds the committed WebAssembly guest modules:
#   - every Go main package under examples/ into <dir>/<dir name>.wasm
#   - every testdata/guests/*.wat into the .wasm beside it, through
#     testdata/guests/build.sh when it exists, else directly with wat2wasm.
#     Without wat2wasm these are skipped with a warning.
#
# Usage: scripts/build-guests.sh [--check]
#
# With --check nothing in the tree changes: the script builds into a
# temporary directory and exits 1, listing the files, if any committed .wasm
# is missing or differs from the fresh build.
#
# Builds are byte-reproducible for a given Go version and wabt version. Go
# builds use -trimpath and -buildvcs=false, so the checkout path and VCS
# state do not reach the output, and run with GOENV=off and without GOFLAGS,
# GOWASM and GOEXPERIMENT, so local go env settings do not either. A
# different Go release produces different bytes.
set -euo pipefail

usage() {
	echo "usage: $0 [--check]" >&2
}

check=false
case "$#:${1:-}" in
0:) ;;
1:--check) check=true ;;
1:-h | 1:--help)
	usage
	exit 0
	;;
*)
	usage
	exit 2
	;;
esac

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

out_root=$repo_root
if $check; then
	out_root=$(mktemp -d)
	trap 'rm -rf "$out_root"' EXIT
fi

built=()

# go_env runs a go command with the fixed build environment described above.
go_env() {
	env -u GOWASM -u GOEXPERIMENT GOENV=off GOFLAGS=-mod=readonly \
		GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go "$@"
}

# build_go DIR builds the Go main package in DIR (relative to the repository
# root) to $out_root/DIR/<base name of DIR>.wasm.
build_go() {
	local dir=$1
	local wasm
	wasm="$dir/$(basename "$dir").wasm"
	mkdir -p "$out_root/$dir"
	go_env build -buildmode=c-shared -trimpath -buildvcs=false \
		-o "$out_root/$wasm" "./$dir"
	built+=("$wasm")
}

# Go guests: the main packages under examples/, listed for GOOS=wasip1 so
# that build constraints match the build. -e keeps the list going when a
# module is missing, because package examples embeds audit/audit.wasm and
# fails to load without it.
#
# The committed modules were built with go_release. Another release gives
# other bytes, so --check compares them only when that release is the one
# installed, and prints a warning that it skipped them otherwise.
go_release=go1.26.8
installed_release=$(go env GOVERSION)
if $check && [[ $installed_release != "$go_release" ]]; then
	echo "build-guests: skipped the Go modules: they are compared with $go_release builds, and this is $installed_release" >&2
else
	go_dirs=$(go_env list -e -f '{{if eq .Name "main"}}{{.Dir}}{{end}}' ./examples/...)
	while IFS= read -r abs_dir; do
		if [[ -n $abs_dir ]]; then
			build_go "${abs_dir#"$repo_root"/}"
		fi
	done <<<"$go_dirs"
fi

# ---- WAT guests --------------------------------------------------------
# testdata/guests/*.wat are the hand-written modules of the runtime tests.
# Each X.wat builds to X.wasm with wat2wasm. testdata/guests/build.sh owns
# that build and its --check, so this script runs it when it exists and
# otherwise builds the files itself.
wat_status=0
if ! command -v wat2wasm >/dev/null; then
	echo "build-guests: wat2wasm not found; skipped testdata/guests/ (install wabt to rebuild them)" >&2
elif [[ -x testdata/guests/build.sh ]]; then
	if $check; then
		testdata/guests/build.sh --check || wat_status=$?
	else
		testdata/guests/build.sh
	fi
else
	shopt -s nullglob
	wat_files=(testdata/guests/*.wat)
	shopt -u nullglob
	for wat in "${wat_files[@]}"; do
		wasm="${wat%.wat}.wasm"
		mkdir -p "$out_root/$(dirname "$wasm")"
		wat2wasm "$wat" -o "$out_root/$wasm"
		built+=("$wasm")
	done
fi
# ---- end of WAT guests --------------------------------------------------

if ! $check; then
	for wasm in "${built[@]}"; do
		printf '%10d %s\n' "$(wc -c <"$wasm")" "$wasm"
	done
	exit 0
fi

stale=()
for wasm in "${built[@]}"; do
	if ! cmp -s "$out_root/$wasm" "$wasm"; then
		stale+=("$wasm")
	fi
done
if ((${#stale[@]} > 0)); then
	echo "build-guests: these committed modules are missing or differ from a fresh build with $(go env GOVERSION):" >&2
	printf '  %s\n' "${stale[@]}" >&2
	echo "Run scripts/build-guests.sh and commit the result." >&2
	exit 1
fi
if ((wat_status != 0)); then
	exit 1
fi
echo "build-guests: all ${#built[@]} module(s) built by this script match a fresh build"
