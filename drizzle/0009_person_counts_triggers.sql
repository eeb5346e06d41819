-- facegate_people and facegate_person_sync read person_counts: `people`
-- (enrolled, not deleted) and one row per sync state. These triggers keep it
-- right whatever changes a person or a sync row (a PUT, a reply, the sweep,
-- an erase, a terminal forgotten, any later job), inside the same
-- transaction, so a scrape never counts the rows themselves.
INSERT INTO `person_counts` (`key`, `count`) VALUES ('people', 0), ('pending', 0), ('sent', 0), ('applied', 0), ('failed', 0);
--> statement-breakpoint
CREATE TRIGGER `person_counts_sync_insert` AFTER INSERT ON `person_sync` BEGIN
	UPDATE `person_counts` SET `count` = `count` + 1 WHERE `key` = new.`status`;
END;
--> statement-breakpoint
CREATE TRIGGER `person_counts_sync_delete` AFTER DELETE ON `person_sync` BEGIN
	UPDATE `person_counts` SET `count` = `count` - 1 WHERE `key` = old.`status`;
END;
--> statement-breakpoint
CREATE TRIGGER `person_counts_sync_status` AFTER UPDATE OF `status` ON `person_sync` WHEN old.`status` <> new.`status` BEGIN
	UPDATE `person_counts` SET `count` = `count` - 1 WHERE `key` = old.`status`;
	UPDATE `person_counts` SET `count` = `count` + 1 WHERE `key` = new.`status`;
END;
--> statement-breakpoint
CREATE TRIGGER `person_counts_people_insert` AFTER INSERT ON `people` WHEN new.`deleted` = 0 BEGIN
	UPDATE `person_counts` SET `count` = `count` + 1 WHERE `key` = 'people';
END;
--> statement-breakpoint
CREATE TRIGGER `person_counts_people_delete` AFTER DELETE ON `people` WHEN old.`deleted` = 0 BEGIN
	UPDATE `person_counts` SET `count` = `count` - 1 WHERE `key` = 'people';
END;
--> statement-breakpoint
CREATE TRIGGER `person_counts_people_deleted` AFTER UPDATE OF `deleted` ON `people` WHEN old.`deleted` <> new.`deleted` BEGIN
	UPDATE `person_counts` SET `count` = `count` + (CASE WHEN new.`deleted` = 0 THEN 1 ELSE -1 END) WHERE `key` = 'people';
END;
