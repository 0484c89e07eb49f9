#!/usr/bin/env bash
# expect_exit.sh CODE REGEX COMMAND...: runs COMMAND and passes when it exits with CODE and its
# combined stdout/stderr matches the extended REGEX (CTest alone checks one or the other).
set -u
want=$1 pattern=$2
shift 2
output=$("$@" 2>&1)
got=$?
printf '%s\n' "$output"
if [[ $got -ne $want ]]; then
  echo "expect_exit: exit code $got, wanted $want" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$output"; then
  echo "expect_exit: output does not match: $pattern" >&2
  exit 1
fi
