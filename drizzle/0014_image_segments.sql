ALTER TABLE `images` ADD `segment` integer;--> statement-breakpoint
ALTER TABLE `images` ADD `position` integer;--> statement-breakpoint
ALTER TABLE `images` ADD `length` integer;--> statement-breakpoint
CREATE INDEX `images_segment` ON `images` (`segment`) WHERE segment is not null;