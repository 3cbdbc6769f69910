#!/bin/sh
# cAdvisor 0.38.7 refuses to disable metrics it does not have: `cpuset`
# (added in 0.39) and `perf_event` (collected only with --perf_events_config,
# which is not given). Disabling what is never collected is a no-op, so drop
# them from --disable_metrics and pass every other flag unchanged.
set -eu
for arg do
  shift
  case $arg in
    --disable_metrics=*)
      arg=$(printf '%s' "$arg" | sed -E 's/(^|,)(cpuset|perf_event)(,|$)/\1\3/g; s/(^|,)(cpuset|perf_event)(,|$)/\1\3/g; s/,,+/,/g; s/=,/=/; s/,$//')
      ;;
  esac
  set -- "$@" "$arg"
done
exec /usr/bin/cadvisor -logtostderr "$@"
