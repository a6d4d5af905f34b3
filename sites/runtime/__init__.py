"""The configuration files a site's servers read, each a pure function of the site config and its sizing.

One module per generated file; the sites layer mounts their text as ConfigMaps, and the real-server
request-chain test (tests/test_request_chain.py) runs Debian's servers on exactly this text.

* `nginx.nginx_conf(site, fpm_address=..., resources=..., trusted_cidrs=...)`: nginx tier (Magento's
  nginx.conf.sample adapted: unprivileged, static files without PHP, fastcgi to the FPM tier);
* `php_fpm.fpm_conf(site, sizing, listen=...)`: PHP-FPM master + pool; `php_fpm.php_ini(site, sizing)`: php.ini
  of the web tier; `php_fpm.php_cli_ini(site, memory_limit)`: php.ini of cron, consumers and the release Job;
* `varnish.varnish_vcl(site, backend_host=..., backend_port=..., purge_acl=...)`: Magento's VCL (health
  probe on health_check.php, purge only on the purge listener and from the ACL, X-Forwarded-Proto in the
  hash); `varnish.varnishd_args(memory_limit)`: the listeners and storage sizes;
* the WAF tier's files are in `sites/waf_config.py` (the image renders its own nginx configuration).
"""
