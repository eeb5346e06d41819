CREATE SEQUENCE "public"."command_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "commands" (
	"id" text PRIMARY KEY NOT NULL,
	"seq" bigint DEFAULT nextval('command_seq') NOT NULL,
	"device_sn" text NOT NULL,
	"cmd" text NOT NULL,
	"body" text NOT NULL,
	"status" text NOT NULL,
	"error" text,
	"created_at" bigint NOT NULL,
	"published_at" bigint,
	"replied_at" bigint,
	"expires_at" bigint,
	"batch" text,
	"reply" text,
	"actor" text,
	"person" text
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "deliveries_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"event_seq" bigint NOT NULL,
	"endpoint_id" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"last_attempt_at" bigint,
	"last_status" integer,
	"last_error" text,
	"created_at" bigint NOT NULL,
	"delivered_at" bigint
);
--> statement-breakpoint
CREATE TABLE "endpoints" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"secret" text,
	"event_types" jsonb NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"disabled_reason" text,
	"created_at" bigint NOT NULL,
	"format" text DEFAULT 'standard' NOT NULL,
	"lang" text DEFAULT 'zh-CN' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"type" text NOT NULL,
	"device_sn" text NOT NULL,
	"received_at" bigint NOT NULL,
	"fields" text NOT NULL,
	"has_image" boolean NOT NULL,
	"person" text,
	CONSTRAINT "events_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "images" (
	"event_seq" bigint PRIMARY KEY NOT NULL,
	"base64" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox_depth" (
	"endpoint_id" text PRIMARY KEY NOT NULL,
	"pending" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "people" (
	"num" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"fields" text NOT NULL,
	"photo" "bytea",
	"hash" text NOT NULL,
	"all_devices" boolean NOT NULL,
	"deleted" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"actor" text
);
--> statement-breakpoint
CREATE TABLE "person_counts" (
	"key" text PRIMARY KEY NOT NULL,
	"count" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "person_sync" (
	"num" text NOT NULL,
	"device_sn" text NOT NULL,
	"op" text NOT NULL,
	"want" text,
	"status" text NOT NULL,
	"command_id" text,
	"sent_op" text,
	"sent_hash" text,
	"applied_hash" text,
	"code" text,
	"message" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "person_sync_num_device_sn_pk" PRIMARY KEY("num","device_sn")
);
--> statement-breakpoint
CREATE TABLE "rejects" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "rejects_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"received_at" bigint NOT NULL,
	"topic" text NOT NULL,
	"device_sn" text,
	"reason" text NOT NULL,
	"detail" text NOT NULL,
	"size" integer NOT NULL,
	"sample" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "terminals" (
	"sn" text PRIMARY KEY NOT NULL,
	"registered" boolean DEFAULT false NOT NULL,
	"first_seen_at" bigint,
	"last_seen_at" bigint,
	"online" boolean DEFAULT false NOT NULL,
	"label" text
);
--> statement-breakpoint
CREATE TABLE "tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"hash" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "tokens_name_unique" UNIQUE("name"),
	CONSTRAINT "tokens_hash_unique" UNIQUE("hash")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "commands_seq" ON "commands" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "commands_device_created" ON "commands" USING btree ("device_sn","created_at","id");--> statement-breakpoint
CREATE INDEX "commands_created" ON "commands" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "commands_status_created" ON "commands" USING btree ("status","created_at","id");--> statement-breakpoint
CREATE INDEX "commands_device_status_created" ON "commands" USING btree ("device_sn","status","created_at","id");--> statement-breakpoint
CREATE INDEX "commands_batch_created" ON "commands" USING btree ("batch","created_at","id");--> statement-breakpoint
CREATE INDEX "commands_queue" ON "commands" USING btree ("device_sn","seq") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "commands_pairing" ON "commands" USING btree ("device_sn","cmd","published_at") WHERE status = 'published';--> statement-breakpoint
CREATE INDEX "commands_unanswered" ON "commands" USING btree ("published_at") WHERE status = 'published';--> statement-breakpoint
CREATE INDEX "commands_expiring" ON "commands" USING btree ("expires_at") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "commands_person" ON "commands" USING btree ("person") WHERE person is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_event_endpoint" ON "deliveries" USING btree ("event_seq","endpoint_id");--> statement-breakpoint
CREATE INDEX "deliveries_due" ON "deliveries" USING btree ("endpoint_id","status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "deliveries_status" ON "deliveries" USING btree ("status","seq");--> statement-breakpoint
CREATE INDEX "events_type_seq" ON "events" USING btree ("type","seq");--> statement-breakpoint
CREATE INDEX "events_device_seq" ON "events" USING btree ("device_sn","seq");--> statement-breakpoint
CREATE INDEX "events_received_at" ON "events" USING btree ("received_at","seq");--> statement-breakpoint
CREATE INDEX "events_person" ON "events" USING btree ("person") WHERE person is not null;--> statement-breakpoint
CREATE INDEX "people_all_devices" ON "people" USING btree ("num") WHERE all_devices and not deleted;--> statement-breakpoint
CREATE INDEX "person_sync_queue" ON "person_sync" USING btree ("device_sn","next_attempt_at") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "person_sync_due" ON "person_sync" USING btree ("next_attempt_at") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "person_sync_command" ON "person_sync" USING btree ("command_id") WHERE command_id is not null;--> statement-breakpoint
CREATE INDEX "person_sync_in_flight" ON "person_sync" USING btree ("device_sn") WHERE command_id is not null;--> statement-breakpoint
CREATE INDEX "person_sync_device_status" ON "person_sync" USING btree ("device_sn","status","num");--> statement-breakpoint
CREATE INDEX "person_sync_status" ON "person_sync" USING btree ("status","num");--> statement-breakpoint
CREATE INDEX "rejects_received_at" ON "rejects" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "terminals_forgettable" ON "terminals" USING btree ("last_seen_at") WHERE not registered and not online;