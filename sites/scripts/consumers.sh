#!/bin/sh
# A consumer group's pod: run each consumer named in the arguments, restart it whenever it exits (it
# drains its queue, consumers_wait_for_messages=0, or reaches --max-messages, which recycles PHP's memory),
# and stop cleanly: on SIGTERM start nothing new and wait until every running consumer has finished its
# message and exited (Magento's consumers do not handle SIGTERM themselves, magento2 #28870; the pod's
# terminationGracePeriodSeconds bounds the wait).
# Environment: MAX_MESSAGES (per run), POLL_SECONDS (pause between runs of an idle consumer).
set -u
stop="${TMPDIR:-/tmp}/consumers.stop"
rm -f "$stop"
trap 'touch "$stop"' TERM INT
pids=""
for consumer in "$@"; do
    (
        trap '' TERM INT
        while [ ! -e "$stop" ]; do
            php bin/magento queue:consumers:start "$consumer" --max-messages="${MAX_MESSAGES:-1000}" --no-ansi
            status=$?
            [ "$status" -eq 0 ] || echo "consumer $consumer exited with status $status" >&2
            [ -e "$stop" ] || sleep "${POLL_SECONDS:-5}"
        done
    ) &
    pids="$pids $!"
done
# `wait` returns early when the trap runs: wait again until each loop has ended.
for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
done
echo "consumers stopped: $*"
