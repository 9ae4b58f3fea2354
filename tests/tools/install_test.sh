#!/usr/bin/env bash
# meson install into a scratch DESTDIR: the three binaries, the systemd unit
# (which must pass systemd-analyze verify), the man pages (which must name every
# flag --help names) and the bash completion (which must complete subcommands).
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d /tmp/berth-install-test.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail=0
check() {  # description command...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}

meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root=$dest$prefix

for b in berth berthd berth-worker; do
  check "bin/$b is executable" test -x "$root/bin/$b"
done
unit=$root/lib/systemd/system/berthd.service
check "berthd.service installed" test -f "$unit"
check "berthd.service is Type=notify" grep -qx 'Type=notify' "$unit"
check "berthd.service runs the installed berthd" grep -qx "ExecStart=$prefix/bin/berthd" "$unit"
if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart= on the real root; point it at the staged binary.
  sed "s|^ExecStart=.*|ExecStart=$root/bin/berthd|" "$unit" >"$dest/berthd.service"
  # --man=no: the man pages are staged, not installed where man(1) looks.
  out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$dest/berthd.service" 2>&1)
  check "systemd-analyze verify berthd.service passes${out:+: $out}" test -z "$out"
else
  echo "FAILED: systemd-analyze is missing"
  fail=1
fi

for m in man1/berth.1 man1/berth-worker.1 man8/berthd.8; do
  page=$root/share/man/$m
  check "$m installed" test -s "$page"
  tool=$(basename "$m" | sed 's/\.[0-9]$//')
  for flag in $("$root/bin/$tool" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    check "$m names $flag" grep -q -- "${flag//-/\\\\-}" "$page"
  done
done

completion=$root/share/bash-completion/completions/berth
check "bash completion installed" test -s "$completion"
complete_words() {  # words... : what completing the last word offers
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _berth; echo "${COMPREPLY[*]}"' \
    _ "$completion" "$@"
}
check "completion: berth jo -> job" test "$(complete_words berth jo)" = job
check "completion: berth -H x wor -> workers" test "$(complete_words berth -H x wor)" = workers
check "completion: berth run --loc -> --local" test "$(complete_words berth run --loc)" = --local

[ "$fail" -eq 0 ] && echo "install: all checks passed"
exit "$fail"
