-- facegate_outbox_depth and facegate_people/facegate_person_sync read
-- outbox_depth and person_counts: a row per endpoint, a row per count. As in
-- SQLite (drizzle/0004, drizzle/0009), triggers keep them right whatever
-- changes a delivery, a person or a sync row, inside the same transaction,
-- so a scrape never counts the rows themselves. Concurrent transactions of
-- several replicas update the same counter row: each waits for the other's
-- row lock, and the counts add up.
CREATE FUNCTION outbox_depth_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'pending' AND (TG_OP = 'DELETE' OR NEW.status <> 'pending') THEN
		UPDATE outbox_depth SET pending = pending - 1 WHERE endpoint_id = OLD.endpoint_id;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'pending' AND (TG_OP = 'INSERT' OR OLD.status <> 'pending') THEN
		INSERT INTO outbox_depth (endpoint_id, pending) VALUES (NEW.endpoint_id, 1)
			ON CONFLICT (endpoint_id) DO UPDATE SET pending = outbox_depth.pending + 1;
	END IF;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER outbox_depth_deliveries AFTER INSERT OR UPDATE OF status OR DELETE ON deliveries
	FOR EACH ROW EXECUTE FUNCTION outbox_depth_track();
--> statement-breakpoint
-- Every endpoint has its row from the start, so an endpoint with nothing waiting shows 0.
CREATE FUNCTION outbox_depth_endpoints() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO outbox_depth (endpoint_id, pending) VALUES (NEW.id, 0) ON CONFLICT (endpoint_id) DO NOTHING;
	ELSE
		DELETE FROM outbox_depth WHERE endpoint_id = OLD.id;
	END IF;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER outbox_depth_endpoints AFTER INSERT OR DELETE ON endpoints
	FOR EACH ROW EXECUTE FUNCTION outbox_depth_endpoints();
--> statement-breakpoint
INSERT INTO person_counts (key, count) VALUES ('people', 0), ('pending', 0), ('sent', 0), ('applied', 0), ('failed', 0);
--> statement-breakpoint
CREATE FUNCTION person_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		UPDATE person_counts SET count = count - 1 WHERE key = OLD.status;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		UPDATE person_counts SET count = count + 1 WHERE key = NEW.status;
	END IF;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER person_counts_sync AFTER INSERT OR UPDATE OF status OR DELETE ON person_sync
	FOR EACH ROW EXECUTE FUNCTION person_counts_sync();
--> statement-breakpoint
CREATE FUNCTION person_counts_people() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	delta integer := 0;
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.deleted THEN
		delta := delta - 1;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.deleted THEN
		delta := delta + 1;
	END IF;
	IF delta <> 0 THEN
		UPDATE person_counts SET count = count + delta WHERE key = 'people';
	END IF;
	RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER person_counts_people AFTER INSERT OR UPDATE OF deleted OR DELETE ON people
	FOR EACH ROW EXECUTE FUNCTION person_counts_people();
