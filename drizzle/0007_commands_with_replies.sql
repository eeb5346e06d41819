-- Commands with replies (README §Commands with replies): a queue order, a name to pair
-- replies by, the times of each state, a ttl, a batch, the reply. SQLite adds
-- a NOT NULL column only with a default; the rows of earlier versions get
-- their values just below, and the writer gives every new row its own.
ALTER TABLE `commands` ADD `seq` integer NOT NULL DEFAULT 0;--> statement-breakpoint
ALTER TABLE `commands` ADD `cmd` text NOT NULL DEFAULT '';--> statement-breakpoint
ALTER TABLE `commands` ADD `published_at` integer;--> statement-breakpoint
ALTER TABLE `commands` ADD `replied_at` integer;--> statement-breakpoint
ALTER TABLE `commands` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `commands` ADD `batch` text;--> statement-breakpoint
ALTER TABLE `commands` ADD `reply` text;--> statement-breakpoint
-- Earlier rows: published or failed as they were; their order is the order they were written in.
UPDATE `commands` SET `seq` = rowid, `cmd` = coalesce(json_extract(`body`, '$.cmd'), ''),
	`published_at` = CASE WHEN `status` = 'published' THEN `created_at` END;--> statement-breakpoint
CREATE UNIQUE INDEX `commands_seq` ON `commands` (`seq`);--> statement-breakpoint
CREATE INDEX `commands_status_created` ON `commands` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `commands_device_status_created` ON `commands` (`device_sn`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `commands_batch_created` ON `commands` (`batch`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `commands_queue` ON `commands` (`device_sn`,`seq`) WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX `commands_pairing` ON `commands` (`device_sn`,`cmd`,`published_at`) WHERE status = 'published';--> statement-breakpoint
CREATE INDEX `commands_unanswered` ON `commands` (`published_at`) WHERE status = 'published';--> statement-breakpoint
CREATE INDEX `commands_expiring` ON `commands` (`expires_at`) WHERE status = 'queued';