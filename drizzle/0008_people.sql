CREATE TABLE `counters` (
	`name` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `people` (
	`num` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`fields` text NOT NULL,
	`photo` blob,
	`hash` text NOT NULL,
	`all_devices` integer NOT NULL,
	`deleted` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `people_all_devices` ON `people` (`num`) WHERE all_devices = 1 and deleted = 0;--> statement-breakpoint
CREATE TABLE `person_counts` (
	`key` text PRIMARY KEY NOT NULL,
	`count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `person_sync` (
	`num` text NOT NULL,
	`device_sn` text NOT NULL,
	`op` text NOT NULL,
	`want` text,
	`status` text NOT NULL,
	`command_id` text,
	`sent_op` text,
	`sent_hash` text,
	`applied_hash` text,
	`code` text,
	`message` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`num`, `device_sn`)
);
--> statement-breakpoint
CREATE INDEX `person_sync_queue` ON `person_sync` (`device_sn`,`next_attempt_at`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `person_sync_due` ON `person_sync` (`next_attempt_at`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `person_sync_command` ON `person_sync` (`command_id`) WHERE command_id is not null;--> statement-breakpoint
CREATE INDEX `person_sync_in_flight` ON `person_sync` (`device_sn`) WHERE command_id is not null;--> statement-breakpoint
CREATE INDEX `person_sync_device_status` ON `person_sync` (`device_sn`,`status`,`num`);--> statement-breakpoint
CREATE INDEX `person_sync_status` ON `person_sync` (`status`,`num`);--> statement-breakpoint
ALTER TABLE `commands` ADD `person` text;--> statement-breakpoint
CREATE INDEX `commands_person` ON `commands` (`person`) WHERE person is not null;--> statement-breakpoint
ALTER TABLE `events` ADD `person` text;--> statement-breakpoint
CREATE INDEX `events_person` ON `events` (`person`) WHERE person is not null;--> statement-breakpoint
INSERT INTO `counters` (`name`, `value`) SELECT 'commands', coalesce(max(`seq`), 0) FROM `commands`;