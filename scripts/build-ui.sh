#!/usr/bin/env bash
# Builds the web UI (frontend/, a leptos app compiled to wasm32) into static/pkg:
# HASH/taskgate-ui.js and HASH/taskgate-ui_bg.wasm (the shell, the sign-in form and the
# dashboard), the parts of the bundle loaded when a page first needs them
# (HASH/split_*.wasm, HASH/chunk_*.wasm, loaded by HASH/__wasm_split.js), each with .br and
# .gz copies, and start.js naming the first two, which static/boot.js loads.
#
# Installs what is missing: the wasm32 target, wasm-bindgen-cli at the version Cargo.lock
# pins, wasm-split-cli (which cuts the bundle at the UI's `wasm_split` functions), and (for
# wasm-opt) the npm package binaryen in frontend/e2e. Debian's binaryen is too old and
# produces a broken bundle, so only the npm one is used.
#
# TASKGATE_UI_PROFILE=dev builds an unoptimised debug bundle (quicker to rebuild).
# TASKGATE_UI_NAMES=1 keeps the functions' names in an optimised bundle, for a profiler
# (bench/ui's WATCH_PROFILE); larger, never for shipping.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

profile="${TASKGATE_UI_PROFILE:-wasm-release}"
case "$profile" in
    dev) profile_dir=debug; cargo_profile=() ;;
    wasm-release) profile_dir=wasm-release; cargo_profile=(--profile wasm-release) ;;
    *)
        echo "TASKGATE_UI_PROFILE must be dev or wasm-release, not '$profile'" >&2
        exit 2
        ;;
esac
target_dir="${CARGO_TARGET_DIR:-target}"
e2e=frontend/e2e

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate exactly, or the bundle fails to load.
wanted=$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)
if [ -z "$wanted" ]; then
    echo "no wasm-bindgen package in Cargo.lock" >&2
    exit 1
fi
installed_bindgen() { wasm-bindgen --version 2>/dev/null | awk '{ print $2 }'; }
if [ "$(installed_bindgen)" != "$wanted" ]; then
    # Another shell may be installing it already: wait for that rather than race it.
    if pgrep -f 'cargo install wasm-bindgen-cli' >/dev/null; then
        say "waiting for a running 'cargo install wasm-bindgen-cli' to finish"
        while pgrep -f 'cargo install wasm-bindgen-cli' >/dev/null; do sleep 5; done
        hash -r
    fi
    if [ "$(installed_bindgen)" != "$wanted" ]; then
        # Not --locked: its own lock file pins crates that need a newer rustc.
        say "installing wasm-bindgen-cli $wanted (a few minutes)"
        cargo install wasm-bindgen-cli --version "$wanted"
        hash -r
    fi
fi

# wasm-split-cli must understand the split points of the wasm_split_helpers crate the UI
# is built with (through leptos): the two come from one project and move together.
# Installed beside wasm-bindgen (cargo's own bin directory), once per machine; it has no
# --version, so cargo's record of what it installed tells which one is there.
split_version=0.2.4
if ! cargo install --list | grep -qx "wasm_split_cli_support v$split_version:"; then
    if pgrep -f 'cargo install --locked wasm_split_cli_support' >/dev/null; then
        say "waiting for a running 'cargo install wasm_split_cli_support' to finish"
        while pgrep -f 'cargo install --locked wasm_split_cli_support' >/dev/null; do sleep 5; done
    fi
    if ! cargo install --list | grep -qx "wasm_split_cli_support v$split_version:"; then
        say "installing wasm-split-cli $split_version (a few minutes)"
        cargo install --locked wasm_split_cli_support --version "$split_version" --features build-binary
    fi
    hash -r
fi
split_cli=$(command -v wasm-split-cli)

say "building taskgate-ui ($profile)"
cargo build -p taskgate-ui --target wasm32-unknown-unknown "${cargo_profile[@]}"
wasm="$target_dir/wasm32-unknown-unknown/$profile_dir/taskgate-ui.wasm"

# Assemble beside the target, then swap it in, so a running server never serves a mix.
staging="$target_dir/taskgate-ui-pkg"
rm -rf "$staging"
mkdir -p "$staging"
# The bundle cut at each `wasm_split` function (frontend/src/app.rs): the main part (for wasm-bindgen), a part per
# split point, parts shared by several, and __wasm_split.js, which loads them.
"$split_cli" --target web --out-name taskgate-ui "$wasm" "$staging/split"
# --keep-lld-exports: the parts use the main part's table of functions, which it exports.
names=()
if [ "${TASKGATE_UI_NAMES:-0}" = 1 ]; then names=(--keep-debug); fi
wasm-bindgen --target web --no-typescript --keep-lld-exports "${names[@]}" --out-dir "$staging" --out-name taskgate-ui \
    "$staging/split/taskgate-ui.wasm"
rm "$staging/split/taskgate-ui.wasm"
mv "$staging"/split/* "$staging/"
rmdir "$staging/split"

if [ "$profile" != dev ]; then
    wasm_opt="$e2e/node_modules/.bin/wasm-opt"
    if [ ! -x "$wasm_opt" ] && command -v npm >/dev/null; then
        say "installing binaryen (wasm-opt) into $e2e/node_modules"
        npm ci --prefix "$e2e" --no-audit --no-fund >/dev/null 2>&1 \
            || npm install --prefix "$e2e" --no-audit --no-fund >/dev/null 2>&1 \
            || warn "npm could not install $e2e's packages"
    fi
    if [ -x "$wasm_opt" ]; then
        say "wasm-opt -Oz"
        # rustc's wasm32 output uses these post-MVP features (wasm-bindgen drops the
        # target_features section wasm-opt would otherwise detect them from).
        for part in "$staging"/*.wasm; do
            if "$wasm_opt" -Oz $([ "${TASKGATE_UI_NAMES:-0}" = 1 ] && echo -g) --enable-bulk-memory --enable-nontrapping-float-to-int \
                --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
                -o "$staging/opt.wasm" "$part"; then
                mv "$staging/opt.wasm" "$part"
            else
                rm -f "$staging/opt.wasm"
                warn "wasm-opt failed on $part; keeping it unoptimised"
            fi
        done
    else
        warn "no wasm-opt ($wasm_opt); the bundle is larger than it needs to be"
    fi
fi

# The bundle's files go in a directory named after their content (static/pkg/HASH/), so the
# server lets browsers keep them for good; static/pkg/start.js (revalidated on every load)
# says which directory is current. Each is also stored brotli- and gzip-compressed, sent
# to browsers that accept it.
hash=$(cat "$staging"/*.js "$staging"/*.wasm | sha256sum | cut -c1-16)
mkdir "$staging/$hash"
mv "$staging"/*.js "$staging"/*.wasm "$staging/$hash/"
cat >"$staging/start.js" <<JS
// Written by scripts/build-ui.sh: this build's files (their directory changes with their
// content). Names only, so that boot.js fetches both at once.
export const js = "/pkg/$hash/taskgate-ui.js";
export const wasm = "/pkg/$hash/taskgate-ui_bg.wasm";
JS
if command -v node >/dev/null; then
    node -e '
        const fs = require("fs"), zlib = require("zlib");
        for (const f of process.argv.slice(1)) {
            const data = fs.readFileSync(f);
            fs.writeFileSync(f + ".gz", zlib.gzipSync(data, { level: 9 }));
            fs.writeFileSync(f + ".br", zlib.brotliCompressSync(data, { params: {
                [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
        }' "$staging/$hash"/*.js "$staging/$hash"/*.wasm
else
    warn "no node: the bundle is not precompressed (sent uncompressed)"
fi

rm -rf static/pkg
mv "$staging" static/pkg

kb() { echo $((($1 + 1023) / 1024)); }
size() { if [ -f "$1" ]; then wc -c <"$1"; else echo 0; fi; }
pkg="static/pkg/$hash"
wasm_bytes=$(size "$pkg/taskgate-ui_bg.wasm")
br_bytes=$(size "$pkg/taskgate-ui_bg.wasm.br")
gzip_bytes=$(size "$pkg/taskgate-ui_bg.wasm.gz")
js_bytes=$(size "$pkg/taskgate-ui.js")
parts=0
parts_br=0
for part in "$pkg"/split_*.wasm "$pkg"/chunk_*.wasm; do
    [ -f "$part" ] || continue
    parts=$((parts + 1))
    parts_br=$((parts_br + $(size "$part.br")))
done
say "parts loaded on first use: $parts files, $(kb "$parts_br") KB brotli in all"
say "bundle $hash: taskgate-ui_bg.wasm $(kb "$wasm_bytes") KB ($(kb "$br_bytes") KB brotli, $(kb "$gzip_bytes") KB gzip)," \
    "taskgate-ui.js $(kb "$js_bytes") KB [$wasm_bytes, $br_bytes br, $gzip_bytes gz, $js_bytes bytes]"
