ALTER TABLE `endpoints` ADD `format` text DEFAULT 'standard' NOT NULL;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `lang` text DEFAULT 'zh-CN' NOT NULL;