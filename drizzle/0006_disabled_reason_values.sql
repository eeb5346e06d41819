-- Why an endpoint is disabled is a value (README §Webhooks), no longer a
-- sentence: `config` (WEBHOOK_URL unset), `gone` (its receiver answered 410),
-- `admin` (POST /api/webhooks/{id}/disable). The two sentences earlier
-- versions wrote become their values; an endpoint that is enabled has none.
UPDATE `endpoints` SET `disabled_reason` = CASE `disabled_reason`
	WHEN 'WEBHOOK_URL is not set' THEN 'config'
	WHEN 'the receiver answered 410 Gone' THEN 'gone'
	ELSE 'admin'
END WHERE `disabled_reason` IS NOT NULL AND `disabled_reason` NOT IN ('config', 'gone', 'admin');
--> statement-breakpoint
UPDATE `endpoints` SET `disabled_reason` = NULL WHERE `enabled`;
