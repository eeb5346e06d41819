CREATE TABLE `commands` (
	`id` text PRIMARY KEY NOT NULL,
	`device_sn` text NOT NULL,
	`body` text NOT NULL,
	`status` text NOT NULL,
	`error` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `commands_device_created` ON `commands` (`device_sn`,`created_at`);--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`type` text NOT NULL,
	`device_sn` text NOT NULL,
	`received_at` integer NOT NULL,
	`fields` text NOT NULL,
	`has_image` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_id_unique` ON `events` (`id`);--> statement-breakpoint
CREATE INDEX `events_type_seq` ON `events` (`type`,`seq`);--> statement-breakpoint
CREATE INDEX `events_device_seq` ON `events` (`device_sn`,`seq`);--> statement-breakpoint
CREATE INDEX `events_received_at` ON `events` (`received_at`);--> statement-breakpoint
CREATE TABLE `images` (
	`event_seq` integer PRIMARY KEY NOT NULL,
	`base64` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `rejects` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`received_at` integer NOT NULL,
	`topic` text NOT NULL,
	`device_sn` text,
	`reason` text NOT NULL,
	`detail` text NOT NULL,
	`size` integer NOT NULL,
	`sample` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rejects_received_at` ON `rejects` (`received_at`);--> statement-breakpoint
CREATE TABLE `terminals` (
	`sn` text PRIMARY KEY NOT NULL,
	`registered` integer DEFAULT false NOT NULL,
	`first_seen_at` integer,
	`last_seen_at` integer,
	`online` integer DEFAULT false NOT NULL
);
