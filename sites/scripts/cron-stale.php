<?php
// Before each cron:run (the store's CronJob runs this first): rows of cron_schedule left 'running' by a
// run that was killed (its pod died, or it hit the Job's activeDeadlineSeconds) block that job code
// forever (magento2 #11002). Runs never overlap (concurrencyPolicy Forbid, one process: groups do not
// fork, use_separate_process=0), so a row that has been running longer than a run may last is stale:
// it is marked 'error' with a message saying why, and the next schedule runs the job again.
// Usage: php cron-stale.php <env.php> <seconds a run may last>
if ($argc !== 3 || !ctype_digit($argv[2])) {
    fwrite(STDERR, "usage: php cron-stale.php <env.php> <seconds>\n");
    exit(64);
}
$env = require $argv[1];
$db = $env['db']['connection']['default'];
$parts = explode(':', $db['host'], 2);
$dsn = sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4', $parts[0], $parts[1] ?? '3306', $db['dbname']);
$pdo = new PDO($dsn, $db['username'], $db['password'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 10]);
$table = '`' . str_replace('`', '``', ($env['db']['table_prefix'] ?? '') . 'cron_schedule') . '`';
$stale = $pdo->prepare(
    "UPDATE $table SET status = 'error', finished_at = UTC_TIMESTAMP(),"
    . " messages = CONCAT(COALESCE(messages, ''), :why)"
    . " WHERE status = 'running' AND executed_at < UTC_TIMESTAMP() - INTERVAL :seconds SECOND"
);
$stale->bindValue(':why', 'marked stale by the cron CronJob: still running after the deadline of the run that started it');
$stale->bindValue(':seconds', (int) $argv[2], PDO::PARAM_INT);
$stale->execute();
fwrite(STDOUT, sprintf("cron: %d stale running job(s) marked as error\n", $stale->rowCount()));
