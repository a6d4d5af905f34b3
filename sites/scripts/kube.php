<?php
// Pause or resume a store's cron and queue consumers around a release; the release and resume Jobs run
// it with their ServiceAccount (a Role allowing exactly these calls in the store's namespace).
//   pause:  suspend the CronJob, pause each consumer ScaledObject at 0 replicas (KEDA's
//           autoscaling.keda.sh/paused-replicas), then wait until no cron Job and no consumer pod runs;
//   resume: un-suspend the CronJob and remove the pause from each ScaledObject.
// Environment: CRON_JOB, SCALED_OBJECTS (comma-separated), CONSUMER_SELECTOR, CRON_SELECTOR, WAIT_SECONDS.
define('ACCOUNT', getenv('SERVICEACCOUNT_DIR') ?: '/var/run/secrets/kubernetes.io/serviceaccount');
const PAUSE = 'autoscaling.keda.sh/paused-replicas';

function api(string $method, string $path, ?array $body = null, bool $absentOk = false): ?array
{
    $url = 'https://' . getenv('KUBERNETES_SERVICE_HOST') . ':' . getenv('KUBERNETES_SERVICE_PORT') . $path;
    $curl = curl_init($url);
    $headers = ['Authorization: Bearer ' . trim(file_get_contents(ACCOUNT . '/token')), 'Accept: application/json'];
    if ($body !== null) {
        $headers[] = 'Content-Type: application/merge-patch+json';
        curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body, JSON_THROW_ON_ERROR));
    }
    curl_setopt_array($curl, [
        CURLOPT_CUSTOMREQUEST => $method, CURLOPT_HTTPHEADER => $headers, CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CAINFO => ACCOUNT . '/ca.crt', CURLOPT_TIMEOUT => 30,
    ]);
    $response = curl_exec($curl);
    $code = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    if ($absentOk && $code === 404) {
        echo "$path does not exist yet (first release): nothing to change\n";
        return null;
    }
    if ($response === false || $code >= 300) {
        fwrite(STDERR, "$method $path: HTTP $code " . curl_error($curl) . ' ' . (string) $response . "\n");
        exit(1);
    }
    return json_decode($response, true, 512, JSON_THROW_ON_ERROR);
}

$action = $argv[1] ?? '';
if (!in_array($action, ['pause', 'resume'], true)) {
    fwrite(STDERR, "usage: php kube.php pause|resume\n");
    exit(64);
}
$ns = rawurlencode(trim(file_get_contents(ACCOUNT . '/namespace')));
$paused = $action === 'pause';
// On a store's first release the CronJob and ScaledObjects do not exist yet (they follow this Job).
api('PATCH', "/apis/batch/v1/namespaces/$ns/cronjobs/" . rawurlencode(getenv('CRON_JOB')), ['spec' => ['suspend' => $paused]], $paused);
foreach (array_filter(explode(',', (string) getenv('SCALED_OBJECTS'))) as $name) {
    api('PATCH', "/apis/keda.sh/v1alpha1/namespaces/$ns/scaledobjects/" . rawurlencode($name),
        ['metadata' => ['annotations' => [PAUSE => $paused ? '0' : null]]], $paused);
}
echo "$action: cron and consumers " . ($paused ? 'paused' : 'resumed') . "\n";
if (!$paused) {
    exit(0);
}
$deadline = time() + (int) (getenv('WAIT_SECONDS') ?: 900);
while (true) {
    $jobs = api('GET', "/apis/batch/v1/namespaces/$ns/jobs?labelSelector=" . rawurlencode(getenv('CRON_SELECTOR')));
    $running = count(array_filter($jobs['items'], fn ($job) => ($job['status']['active'] ?? 0) > 0));
    $pods = api('GET', "/api/v1/namespaces/$ns/pods?labelSelector=" . rawurlencode(getenv('CONSUMER_SELECTOR')));
    $consumers = count($pods['items']);
    if ($running === 0 && $consumers === 0) {
        echo "pause: no cron run and no consumer left\n";
        exit(0);
    }
    if (time() > $deadline) {
        fwrite(STDERR, "pause: still $running cron run(s) and $consumers consumer pod(s) after the wait\n");
        exit(1);
    }
    sleep(5);
}
