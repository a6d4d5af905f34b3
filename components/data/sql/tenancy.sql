-- One store's database tenancy: its schema and its user, granted on that schema only.
--
-- Rendered per site by components/data/tenancy_sql.py (its placeholders are dollar-brace names) and run by the
-- site's tenancy Job as the cluster's root user through the HAProxy writer. Every statement is
-- idempotent and none drops, truncates or rewrites anything: a second run changes nothing, and a run
-- against a schema that already holds data leaves the data as it is.
--
-- * CREATE ... IF NOT EXISTS never replaces an existing schema or user (an existing user keeps its
--   password: rotation is the runbook docs/runbooks/restore-mysql.md "Rotate a store's password").
-- * The grant names the schema with `_` escaped: in a GRANT an unescaped `_` matches any character,
--   so `magento_shop_fr`.* would also cover `magentoXshopXfr`.
-- * GRANT adds privileges, never removes any; re-granting what the user holds is a no-op.
-- * ALTER USER ... WITH MAX_USER_CONNECTIONS only sets the limit the configuration derives from the
--   store's PHP-FPM children, cron and consumers (components/sizing.py); the password is untouched.

CREATE DATABASE IF NOT EXISTS `${database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password}';

ALTER USER '${user}'@'%' WITH MAX_USER_CONNECTIONS ${max_connections};

GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, CREATE TEMPORARY TABLES,
      LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER
   ON `${grant_database}`.* TO '${user}'@'%';
