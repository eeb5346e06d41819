-- facegate_outbox_depth reads outbox_depth: one row per endpoint, its pending
-- deliveries. These triggers keep it right whatever changes a delivery
-- (enqueue, an attempt's outcome, a retry, a redelivery, an endpoint's
-- removal, retention, any later job), inside the same transaction, so a
-- scrape never counts the deliveries themselves. A delivery's endpoint_id
-- never changes once it is written: only its status moves it in or out.
CREATE TRIGGER `outbox_depth_insert` AFTER INSERT ON `deliveries` WHEN new.`status` = 'pending' BEGIN
	INSERT INTO `outbox_depth` (`endpoint_id`, `pending`) VALUES (new.`endpoint_id`, 1)
		ON CONFLICT (`endpoint_id`) DO UPDATE SET `pending` = `pending` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_depth_leave` AFTER UPDATE OF `status` ON `deliveries` WHEN old.`status` = 'pending' AND new.`status` <> 'pending' BEGIN
	UPDATE `outbox_depth` SET `pending` = `pending` - 1 WHERE `endpoint_id` = old.`endpoint_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_depth_enter` AFTER UPDATE OF `status` ON `deliveries` WHEN old.`status` <> 'pending' AND new.`status` = 'pending' BEGIN
	INSERT INTO `outbox_depth` (`endpoint_id`, `pending`) VALUES (new.`endpoint_id`, 1)
		ON CONFLICT (`endpoint_id`) DO UPDATE SET `pending` = `pending` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_depth_delete` AFTER DELETE ON `deliveries` WHEN old.`status` = 'pending' BEGIN
	UPDATE `outbox_depth` SET `pending` = `pending` - 1 WHERE `endpoint_id` = old.`endpoint_id`;
END;
--> statement-breakpoint
-- Every endpoint has its row from the start, so an endpoint with nothing waiting shows 0.
CREATE TRIGGER `outbox_depth_endpoint_insert` AFTER INSERT ON `endpoints` BEGIN
	INSERT INTO `outbox_depth` (`endpoint_id`, `pending`) VALUES (new.`id`, 0) ON CONFLICT (`endpoint_id`) DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `outbox_depth_endpoint_delete` AFTER DELETE ON `endpoints` BEGIN
	DELETE FROM `outbox_depth` WHERE `endpoint_id` = old.`id`;
END;
--> statement-breakpoint
-- What a database from before this migration already holds: counted once, here.
INSERT INTO `outbox_depth` (`endpoint_id`, `pending`) SELECT `id`, 0 FROM `endpoints` WHERE true ON CONFLICT (`endpoint_id`) DO NOTHING;
--> statement-breakpoint
INSERT INTO `outbox_depth` (`endpoint_id`, `pending`)
	SELECT `endpoint_id`, count(*) FROM `deliveries` WHERE `status` = 'pending' GROUP BY `endpoint_id`
	ON CONFLICT (`endpoint_id`) DO UPDATE SET `pending` = excluded.`pending`;
