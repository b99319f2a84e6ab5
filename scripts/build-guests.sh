#!/usr/bin/env bash
# Rebuilds the committed WebAssembly guest modules:
#   - every Go main package under examples/ into <dir>/<dir name>.wasm
#   - every testdata/guests/*.wat into the .wasm beside it, through
#     testdata/guests/build.sh when it exists, else directly with wat2wasm.
#     Without wat2wasm these are skipped with a warning.
#
#   - the example listeners in C, Rust, AssemblyScript and WAT, each in
#     examples/<listener>/<c|rust|as|wat>/ into <listener>.wasm there. A
#     language whose toolchain is missing is skipped with a warning.
#
#   - every bench/extism/testdata/*.wat into the .wasm beside it, with
#     wat2wasm, when it is installed.
#
# Usage: scripts/build-guests.sh [--check] [--out DIR]
#
# With --check nothing in the tree changes: the script builds into a
# temporary directory and exits 1, listing the files, if any committed .wasm
# is missing or differs from the fresh build. With --out DIR it builds into
# DIR (same layout as the repository) and keeps it, so the rebuilt modules
# can be run through the conformance tests:
#
#   TOKENWIRE_MODULE_ROOT=DIR go test ./examples/conformance
#
# The toolchain versions the committed modules were built with are pinned
# below (go_release, clang_release, rustc_release, asc_release,
# wabt_release). A module built by another version of its toolchain is not
# compared byte for byte: the script prints a warning, and the conformance tests
# over --out decide whether it behaves the same.
#
# Builds are byte-reproducible for a given Go version and wabt version. Go
# builds use -trimpath and -buildvcs=false, so the checkout path and VCS
# state do not reach the output, and run with GOENV=off and without GOFLAGS,
# GOWASM and GOEXPERIMENT, so local go env settings do not either. A
# different Go release produces different bytes.
set -euo pipefail

usage() {
	echo "usage: $0 [--check] [--out DIR]" >&2
}

check=false
out_dir=
while (($# > 0)); do
	case $1 in
	--check) check=true ;;
	--out)
		if (($# < 2)); then
			usage
			exit 2
		fi
		out_dir=$2
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage
		exit 2
		;;
	esac
	shift
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

out_root=$repo_root
if [[ -n $out_dir ]]; then
	mkdir -p "$out_dir"
	out_root=$(cd "$out_dir" && pwd)
elif $check; then
	out_root=$(mktemp -d)
	trap 'rm -rf "$out_root"' EXIT
fi
# unpinned lists modules whose toolchain differs from the pinned one, so
# --check does not compare their bytes.
unpinned=()

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
	elif [[ -z $out_dir ]]; then
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

# ---- listeners in other languages --------------------------------------
# Each build below writes examples/<listener>/<lang>/<listener>.wasm.
listeners=(audit claimfilter meter)

# pinned NAME INSTALLED WANTED: warns and returns 1 when a toolchain version
# differs from the pinned one, so the caller marks its modules unpinned.
pinned() {
	if [[ $2 != "$3" ]]; then
		echo "build-guests: $1 is $2, the committed modules were built with $3; they are rebuilt but not compared byte for byte" >&2
		return 1
	fi
}

# C: the SDK is guests/c. clang runs wasm-opt after linking whenever one is
# on PATH, which changes the output, so clang runs with an empty PATH; it
# finds wasm-ld in its own installation directory.
clang_release="Debian clang version 14.0.6"
if clang_bin=$(command -v clang); then
	clang_ok=true
	pinned clang "$("$clang_bin" --version | head -n 1)" "$clang_release" || clang_ok=false
	for l in "${listeners[@]}"; do
		src="examples/$l/c/$l.c"
		[[ -f $src ]] || continue
		wasm="examples/$l/c/$l.wasm"
		mkdir -p "$out_root/examples/$l/c"
		env PATH=/nonexistent "$clang_bin" --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror \
			-Wl,--strip-all -I guests/c -o "$out_root/$wasm" "$src" guests/c/tokenwire.c
		# The same source without a C library, into c-freestanding/.
		free="examples/$l/c-freestanding/$l.wasm"
		mkdir -p "$out_root/examples/$l/c-freestanding"
		env PATH=/nonexistent "$clang_bin" --target=wasm32 -nostdlib -DTW_FREESTANDING -O2 -Wall -Werror \
			-Wl,--no-entry -Wl,--strip-all -I guests/c -o "$out_root/$free" "$src" guests/c/tokenwire.c
		if $clang_ok; then built+=("$wasm" "$free"); else unpinned+=("$wasm" "$free"); fi
	done
else
	echo "build-guests: clang not found; skipped the C listeners (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)" >&2
fi

# Rust: Debian's rustc, which has the wasm32-wasi standard library (a
# rustup toolchain usually has none). The SDK crate guests/rust is compiled
# once to an rlib, then each listener is a cdylib linked against it: the
# same crates cargo builds, without cargo's target directory. Paths are
# remapped so the checkout directory does not reach the module.
rustc_release="rustc 1.63.0"
rustc_bin=${RUSTC:-/usr/bin/rustc}
if [[ -x $rustc_bin ]] && "$rustc_bin" --print sysroot >/dev/null 2>&1 &&
	[[ -d "$("$rustc_bin" --print sysroot)/lib/rustlib/wasm32-wasi" ]]; then
	rust_ok=true
	pinned rustc "$("$rustc_bin" --version | cut -d' ' -f1-2)" "$rustc_release" || rust_ok=false
	rust_tmp=$(mktemp -d)
	rustc_wasm() {
		"$rustc_bin" --edition 2021 --target wasm32-wasi -C opt-level=s -C strip=symbols \
			--remap-path-prefix "$repo_root=." "$@"
	}
	rustc_wasm --crate-type rlib --crate-name tokenwire -o "$rust_tmp/libtokenwire.rlib" guests/rust/src/lib.rs
	for l in "${listeners[@]}"; do
		src="examples/$l/rust/src/lib.rs"
		[[ -f $src ]] || continue
		wasm="examples/$l/rust/$l.wasm"
		mkdir -p "$out_root/examples/$l/rust"
		rustc_wasm --crate-type cdylib --crate-name "$l" \
			--extern tokenwire="$rust_tmp/libtokenwire.rlib" -o "$out_root/$wasm" "$src"
		if $rust_ok; then built+=("$wasm"); else unpinned+=("$wasm"); fi
	done
	rm -rf "$rust_tmp"
else
	echo "build-guests: no rustc with the wasm32-wasi standard library at $rustc_bin; skipped the Rust listeners (apt-get install rustc libstd-rust-dev-wasm32)" >&2
fi

# AssemblyScript: each listener directory is an npm package that depends on
# the SDK (guests/assemblyscript) and on the pinned compiler, installed with
# npm ci from its package-lock.json.
asc_release="0.28.9"
if command -v npm >/dev/null; then
	for l in "${listeners[@]}"; do
		dir="examples/$l/as"
		[[ -f $dir/package.json ]] || continue
		wasm="$dir/$l.wasm"
		mkdir -p "$out_root/$dir"
		if [[ ! -x $dir/node_modules/.bin/asc ]]; then
			(cd "$dir" && npm ci --no-audit --no-fund --silent) || {
				echo "build-guests: npm ci failed in $dir; skipped it" >&2
				continue
			}
		fi
		as_version=$("$dir/node_modules/.bin/asc" --version | awk '{print $NF}')
		(cd "$dir" && node_modules/.bin/asc assembly/index.ts --config asconfig.json --target release -o "$out_root/$wasm")
		if pinned asc "$as_version" "$asc_release"; then built+=("$wasm"); else unpinned+=("$wasm"); fi
	done
else
	echo "build-guests: npm not found; skipped the AssemblyScript listeners (install Node.js and npm)" >&2
fi

# WAT: hand-written listeners.
wabt_release="1.0.32"
if command -v wat2wasm >/dev/null; then
	wabt_ok=true
	pinned wat2wasm "$(wat2wasm --version)" "$wabt_release" || wabt_ok=false
	for l in "${listeners[@]}"; do
		src="examples/$l/wat/$l.wat"
		[[ -f $src ]] || continue
		wasm="examples/$l/wat/$l.wasm"
		mkdir -p "$out_root/examples/$l/wat"
		wat2wasm "$src" -o "$out_root/$wasm"
		if $wabt_ok; then built+=("$wasm"); else unpinned+=("$wasm"); fi
	done
	# The Extism guests and the listener adapter of the Extism comparison
	# in bench/extism.
	for src in bench/extism/testdata/*.wat; do
		wasm="${src%.wat}.wasm"
		mkdir -p "$out_root/$(dirname "$wasm")"
		wat2wasm "$src" -o "$out_root/$wasm"
		if $wabt_ok; then built+=("$wasm"); else unpinned+=("$wasm"); fi
	done
fi
# ---- end of listeners in other languages -------------------------------

if ! $check; then
	for wasm in "${built[@]}" "${unpinned[@]}"; do
		printf '%10d %s\n' "$(wc -c <"$out_root/$wasm")" "$wasm"
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
	echo "build-guests: these committed modules are missing or differ from a fresh build:" >&2
	printf '  %s\n' "${stale[@]}" >&2
	echo "Run scripts/build-guests.sh and commit the result." >&2
	exit 1
fi
if ((wat_status != 0)); then
	exit 1
fi
echo "build-guests: all ${#built[@]} module(s) built by this script match a fresh build"
