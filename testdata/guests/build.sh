#!/usr/bin/env bash
# Rebuilds every guest module in this directory: X.wat -> X.wasm.
#
# Usage:
#   ./build.sh          rebuild every .wasm beside its .wat
#   ./build.sh --check  build into a temporary directory and exit 1 if a
#                       committed .wasm is missing, differs from a fresh
#                       build, or has no .wat
#
# Needs wat2wasm from wabt. The committed files were built with wabt 1.0.32.
# wat2wasm output is deterministic for one wabt version, but another version
# may encode the same module differently, which --check reports as a
# difference.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v wat2wasm >/dev/null 2>&1; then
    echo "build.sh: wat2wasm not found; install wabt (Debian/Ubuntu: apt-get install wabt)" >&2
    exit 1
fi

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac

shopt -s nullglob
sources=(*.wat)
if [ ${#sources[@]} -eq 0 ]; then
    echo "build.sh: no .wat files in $(pwd)" >&2
    exit 1
fi

if [ "$mode" = build ]; then
    for wat in "${sources[@]}"; do
        wat2wasm "$wat" -o "${wat%.wat}.wasm"
    done
    echo "built ${#sources[@]} modules"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=0
for wat in "${sources[@]}"; do
    wasm="${wat%.wat}.wasm"
    wat2wasm "$wat" -o "$tmp/$wasm"
    if [ ! -f "$wasm" ]; then
        echo "build.sh: $wasm is missing; run ./build.sh to build it" >&2
        failed=1
    elif ! cmp -s "$wasm" "$tmp/$wasm"; then
        echo "build.sh: $wasm differs from a fresh build of $wat; run ./build.sh and commit the result" >&2
        failed=1
    fi
done

for wasm in *.wasm; do
    if [ ! -f "${wasm%.wasm}.wat" ]; then
        echo "build.sh: $wasm has no source ${wasm%.wasm}.wat; delete it or add the source" >&2
        failed=1
    fi
done

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "all ${#sources[@]} modules match their .wat sources"
