CREATE TABLE `outbox_depth` (
	`endpoint_id` text PRIMARY KEY NOT NULL,
	`pending` integer DEFAULT 0 NOT NULL
);
