#!/bin/sh
# The release Job of a store (one per image tag, named release-<tag>), run before the web tiers roll:
#  1. pause cron and the queue consumers (and wait until none runs);
#  2. `setup:db:status` decides: 0 = schema and data current, 2 = `setup:upgrade --keep-generated`
#     (code is compiled into the image), anything else fails the Job;
#  3. `app:config:status` 2 = `app:config:import`.
# If any step fails, the Job fails, Pulumi stops before touching the Deployments, and the old release
# keeps serving (cron and consumers stay paused: docs/runbooks/failed-release.md). The resume Job
# (resume-<tag>) un-pauses them once the new release's pods are in.
set -eu
php "$SCRIPTS/kube.php" pause
status=0
php bin/magento setup:db:status --no-ansi || status=$?
case "$status" in
    0) echo "release $RELEASE: schema and data are current" ;;
    2) echo "release $RELEASE: upgrading schema and data"
       php bin/magento setup:upgrade --keep-generated --no-interaction --no-ansi
       php bin/magento setup:db:status --no-ansi ;;
    *) echo "release $RELEASE: setup:db:status failed with status $status" >&2
       exit "$status" ;;
esac
status=0
php bin/magento app:config:status --no-ansi || status=$?
case "$status" in
    0) ;;
    2) php bin/magento app:config:import --no-interaction --no-ansi ;;
    *) echo "release $RELEASE: app:config:status failed with status $status" >&2
       exit "$status" ;;
esac
echo "release $RELEASE: done"
