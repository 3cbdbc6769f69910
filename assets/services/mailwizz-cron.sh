#!/bin/sh
# MailWizz's cron jobs in a loop (rendered by mailstack; do not edit).
# usage: sh mailwizz-cron.sh [state-dir]
#
# The minute jobs run every round. Hourly and daily run once their interval
# has passed since they last started, by timestamps kept in the state dir
# (default /tmp, a tmpfs: a restart runs both once, so none is ever skipped).
# A round lasts 60 s plus the send time, so matching the clock to minute 00
# would drift past it and skip runs.
state="${1:-/tmp}"

console() {
  php -f /var/www/html/apps/console/console.php -- "$@"
}

# due JOB SECONDS: true when JOB never started, or started SECONDS or more ago.
due() {
  last="$(cat "$state/cron-$1.last" 2>/dev/null || echo 0)"
  case "$last" in '' | *[!0-9]*) last=0 ;; esac
  [ "$(($(date +%s) - last))" -ge "$2" ]
}

# every JOB SECONDS: run JOB when due, recording its start (start to start, no drift).
every() {
  if due "$1" "$2"; then
    date +%s >"$state/cron-$1.last"
    console "$1"
  fi
}

while :; do
  console send-campaigns
  console send-transactional-emails
  console queue
  every hourly 3600
  every daily 86400
  touch /tmp/heartbeat
  sleep 60
done
