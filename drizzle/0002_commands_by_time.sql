DROP INDEX `commands_device_created`;--> statement-breakpoint
CREATE INDEX `commands_created` ON `commands` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `commands_device_created` ON `commands` (`device_sn`,`created_at`,`id`);