#!/usr/bin/env bash
# test_tokenize.sh — the `musicgen tokenize` CLI contract:
#  1. `musicgen tokenize -m DIR TEXT` prints the ids of TEXT space-separated on one
#     line, ending with 1, equal to hf_ids in tokenizer_golden.json (a selection of
#     prompts: plain, whitespace, NFKC, emoji, added tokens, empty);
#  2. several TEXTs give one line each; --pieces adds a line of pieces;
#  3. errors (missing model folder, unknown option, no TEXT) exit non-zero with one
#     line on stderr and nothing on stdout; --help exits 0.
set -euo pipefail

MUSICGEN="${MUSICGEN:-$(dirname "$0")/../../build/musicgen}"
REF="${MG_REFERENCE_DIR:-$(dirname "$0")/../../../shared/reference}"
MODEL="$REF/tiny-mono"
GOLDEN="$REF/tokenizer_golden.json"
[ -x "$MUSICGEN" ] || { echo "FAIL: $MUSICGEN not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is needed to read $GOLDEN" >&2; exit 1; }

fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { checks=$((checks + 1)); }

DIR="$(mktemp -d /tmp/mg_tokenize.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

# Golden prompt i: its text into $DIR/text, its hf_ids (space-separated) into $DIR/want.
golden() {
    python3 - "$GOLDEN" "$1" "$DIR" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
p = d["prompts"][int(sys.argv[2])]
open(sys.argv[3] + "/text", "w", encoding="utf-8").write(p["text"])
open(sys.argv[3] + "/want", "w").write(" ".join(str(i) for i in p["hf_ids"]) + "\n")
PYEOF
}

n_prompts=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["prompts"]))' "$GOLDEN")
matched=0
tried=0
for i in 0 3 6 7 12 14 16 22 26 29 40 41 44 46 55 56 58; do
    [ "$i" -lt "$n_prompts" ] || continue
    golden "$i"
    text="$(cat "$DIR/text"; printf x)"   # keep trailing newlines/spaces
    text="${text%x}"
    check
    tried=$((tried + 1))
    if ! "$MUSICGEN" tokenize -m "$MODEL" -- "$text" >"$DIR/got" 2>"$DIR/err"; then
        fail "prompt $i: exit code $? ($(cat "$DIR/err"))"
        continue
    fi
    if cmp -s "$DIR/got" "$DIR/want"; then
        matched=$((matched + 1))
    else
        fail "prompt $i: got '$(cat "$DIR/got")' want '$(cat "$DIR/want")'"
    fi
done
echo "golden prompts via CLI: $matched/$tried match hf_ids"

# Several texts: one line each; --pieces adds a pieces line after each ids line.
check
out="$("$MUSICGEN" tokenize -m "$MODEL" "90s rock song" "" "</s>")"
want=$'4 1092 11 821 3551 3164 1\n1\n1'
[ "$out" = "$want" ] || fail "several texts: got '$out'"
check
out="$("$MUSICGEN" tokenize --pieces -m "$MODEL" "90s rock")"
want=$'4 1092 11 821 3551 1\n\xe2\x96\x81 90 s \xe2\x96\x81r ock </s>'
[ "$out" = "$want" ] || fail "--pieces: got '$out'"

# --help
check
"$MUSICGEN" tokenize --help >"$DIR/help" 2>&1 || fail "--help exited non-zero"
grep -q "usage: musicgen tokenize" "$DIR/help" || fail "--help has no usage line"

# Errors: non-zero exit, exactly one line on stderr, nothing on stdout.
expect_error() {
    local what="$1"
    shift
    check
    if "$MUSICGEN" "$@" >"$DIR/out" 2>"$DIR/err"; then
        fail "$what: exit code 0"
        return
    fi
    [ "$(wc -l <"$DIR/err")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$DIR/err")"
    [ ! -s "$DIR/out" ] || fail "$what: wrote to stdout: $(cat "$DIR/out")"
    grep -q "^musicgen" "$DIR/err" || fail "$what: message does not start with 'musicgen': $(cat "$DIR/err")"
}
expect_error "missing model folder" tokenize -m "$DIR/no-such-model" "hello"
expect_error "unknown option" tokenize -m "$MODEL" --frobnicate "hello"
expect_error "unknown short option" tokenize -m "$MODEL" -z "hello"
expect_error "no text" tokenize -m "$MODEL"
expect_error "missing -m value" tokenize -m

if [ "$fails" -ne 0 ]; then
    echo "test_tokenize.sh: $fails of $checks checks FAILED" >&2
    exit 1
fi
echo "test_tokenize.sh: all $checks checks passed"
