# Helpers for the deploy tests (bash). Sourced, not run. Every check prints
# what it checked; the first failure ends the test with a non-zero status.
set -euo pipefail

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
pass() { printf 'ok: %s\n' "$*"; }
# skip: CTest counts exit status 77 as skipped (SKIP_RETURN_CODE).
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$what"; else printf '%s\n' "$out" >&2; fail "$what"; fi
}
# refuse DESCRIPTION COMMAND...: the command must fail.
refuse() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then printf '%s\n' "$out" >&2; fail "$what (it succeeded)"; else pass "$what"; fi
}

# checked_exposure OUTPUT: the "1.4 OK" of `systemd-analyze security` output
# for granite.service; fails unless the exposure is 2.0 or better. Call as
# score=$(checked_exposure "$out") || exit 1.
checked_exposure() {
  local score
  score=$(sed -n 's/.*Overall exposure level for granite.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$1")
  [ -n "$score" ] || { echo "$1" >&2; fail "no exposure level from systemd-analyze security"; }
  awk -v s="${score% *}" 'BEGIN { exit !(s <= 2.0) }' || { echo "$1" >&2; fail "exposure $score, above 2.0"; }
  echo "$score"
}
