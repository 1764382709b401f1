import Foundation
/// The schema of a Stepwise PostgreSQL store, as numbered migrations, in a schema of its own
/// (`stepwise` unless configured): ``PostgresStore/Configuration/schema``.
///
/// The schema's `schema_version` table holds how many have been applied. The store's `run()`
/// applies the missing ones in one transaction (PostgreSQL's DDL is transactional), under a
/// transaction-scoped advisory lock, re-reading the version inside it: ten instances starting
/// at once migrate once, and the nine others find the work done. A schema newer than this
/// build is refused (``PostgresStoreError/schemaTooNew(found:known:)``) rather than written
/// with assumptions that no longer hold.
///
/// Teams that run their own migration tool print the SQL (`stepwise postgres-schema`, or
/// ``sql(schema:from:)``) and apply it themselves; the store then finds the version current.
///
/// Conventions, the same as SQLite's so that both stores read alike:
/// - Times are `bigint` milliseconds since the epoch, as every record carries them, and come
///   from the engine's clock (the hosts'), never the database's: see the guide's "Clocks".
/// - JSON (event data, outputs, errors, settings) is `text`, never `jsonb`: a stored event
///   must read back byte for byte (a retried request is compared with what it first stored),
///   and `jsonb` reorders keys and drops duplicates.
/// - Every text the engine compares or orders is `COLLATE "C"`: byte order and byte equality,
///   whatever the database's locale, as in the other stores.
public enum PostgresMigrations {
    /// The migrations, in order; `{schema}` stands for the quoted schema name.
    static let all: [String] = [
        // 1: the whole schema of Stepwise's store contract, as of schema 6 in SQLite.
        """
        CREATE TABLE {schema}.events (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text COLLATE "C" NOT NULL UNIQUE,
            environment text COLLATE "C" NOT NULL,
            name text COLLATE "C" NOT NULL,
            data text NOT NULL,
            "user" text,
            dedupe_id text COLLATE "C",
            ts bigint NOT NULL,
            v text,
            received_at bigint NOT NULL
        );
        CREATE INDEX events_by_received ON {schema}.events (environment, received_at, id);
        CREATE INDEX events_by_name ON {schema}.events (environment, name, received_at, id);
        CREATE TABLE {schema}.event_dedupe (
            environment text COLLATE "C" NOT NULL,
            dedupe_id text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            accepted_at bigint NOT NULL,
            PRIMARY KEY (environment, dedupe_id)
        );
        CREATE TABLE {schema}.functions (
            environment text COLLATE "C" NOT NULL,
            app_id text COLLATE "C" NOT NULL,
            function_id text COLLATE "C" NOT NULL,
            registered_at bigint NOT NULL,
            settings text NOT NULL DEFAULT '{}',
            PRIMARY KEY (environment, app_id, function_id)
        );
        CREATE TABLE {schema}.function_triggers (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            environment text COLLATE "C" NOT NULL,
            app_id text COLLATE "C" NOT NULL,
            function_id text COLLATE "C" NOT NULL,
            pattern text COLLATE "C" NOT NULL,
            is_prefix boolean NOT NULL,
            conditions text,
            FOREIGN KEY (environment, app_id, function_id) REFERENCES {schema}.functions ON DELETE CASCADE
        );
        CREATE INDEX function_triggers_by_function ON {schema}.function_triggers (environment, app_id, function_id);
        CREATE TABLE {schema}.cron_schedules (
            environment text COLLATE "C" NOT NULL,
            app_id text COLLATE "C" NOT NULL,
            function_id text COLLATE "C" NOT NULL,
            expression text COLLATE "C" NOT NULL,
            time_zone text COLLATE "C" NOT NULL,
            next_at bigint NOT NULL,
            PRIMARY KEY (environment, app_id, function_id, expression, time_zone),
            FOREIGN KEY (environment, app_id, function_id) REFERENCES {schema}.functions ON DELETE CASCADE
        );
        CREATE INDEX cron_schedules_due ON {schema}.cron_schedules (environment, app_id, next_at);
        CREATE TABLE {schema}.runs (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text COLLATE "C" NOT NULL UNIQUE,
            environment text COLLATE "C" NOT NULL,
            app_id text COLLATE "C" NOT NULL,
            function_id text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            status text COLLATE "C" NOT NULL,
            attempt integer NOT NULL DEFAULT 0,
            available_at bigint,
            lease_token bigint NOT NULL DEFAULT 0,
            lease_owner text,
            output text,
            error text,
            created_at bigint NOT NULL,
            started_at bigint,
            ended_at bigint,
            rerun_of text COLLATE "C",
            event_count integer NOT NULL DEFAULT 1
        );
        -- One run per function per event, for triggered runs: a rerun is a second on purpose.
        CREATE UNIQUE INDEX runs_once_per_event ON {schema}.runs (environment, app_id, function_id, event_id)
            WHERE rerun_of IS NULL;
        -- The claim's index: only runs that have not ended, so it stays as small as the work.
        CREATE INDEX runs_due ON {schema}.runs (environment, app_id, available_at, seq)
            WHERE status IN ('queued', 'running', 'sleeping', 'waiting');
        CREATE INDEX runs_by_event ON {schema}.runs (event_id);
        CREATE INDEX runs_by_environment ON {schema}.runs (environment, id);
        CREATE INDEX runs_by_function ON {schema}.runs (environment, function_id, id);
        CREATE TABLE {schema}.run_events (
            run_id text COLLATE "C" NOT NULL,
            position integer NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            PRIMARY KEY (run_id, position)
        );
        CREATE TABLE {schema}.steps (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            step_id text NOT NULL,
            kind text COLLATE "C" NOT NULL,
            status text COLLATE "C" NOT NULL,
            output text,
            error text,
            failed_attempts integer NOT NULL,
            started_at bigint NOT NULL,
            ended_at bigint NOT NULL,
            UNIQUE (run_id, key)
        );
        CREATE TABLE {schema}.step_attempts (
            run_id text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            attempt integer NOT NULL,
            status text COLLATE "C" NOT NULL,
            error text,
            started_at bigint NOT NULL,
            ended_at bigint NOT NULL,
            PRIMARY KEY (run_id, key, attempt)
        );
        CREATE TABLE {schema}.run_waits (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            environment text COLLATE "C" NOT NULL,
            run_id text COLLATE "C" NOT NULL,
            kind text COLLATE "C" NOT NULL,
            step_key text COLLATE "C" NOT NULL,
            event_name text COLLATE "C" NOT NULL,
            match_path text COLLATE "C",
            match_value text COLLATE "C",
            condition text,
            expires_at bigint NOT NULL,
            UNIQUE (run_id, step_key, event_name)
        );
        CREATE INDEX run_waits_by_match ON {schema}.run_waits (environment, event_name, match_path, match_value);
        """,
        // 2: a version per environment, moved on by every registration: an append checks,
        // in its one statement, that the triggers it fanned out with are still current.
        """
        CREATE TABLE {schema}.registry_versions (
            environment text COLLATE "C" PRIMARY KEY,
            version bigint NOT NULL
        );
        """,
        // 3: the hot paths as functions, so that their statements are parsed and planned once
        // per connection, not on every call (planning the checkpoint's statement cost more
        // than running it). PL/pgSQL "caches … the prepared plan for each expression and SQL
        // command … for the life of the database connection" (plpgsql-implementation, Plan
        // Caching). Each is still one call, one round trip, its own transaction.
        """
        CREATE FUNCTION {schema}.commit_checkpoint(
            p_run text, p_token bigint,
            s_key text[], s_step_id text[], s_kind text[], s_status text[], s_output text[], s_error text[], s_failed integer[],
            s_started bigint[], s_ended bigint[],
            a_key text[], a_number integer[], a_status text[], a_error text[], a_started bigint[], a_ended bigint[],
            p_ends_run boolean, p_ending_waits text[],
            w_kind text[], w_step_key text[], w_event text[], w_path text[], w_value text[], w_condition text[], w_expires bigint[],
            p_status text, p_available_at bigint, p_attempt integer, p_set_error boolean, p_error text, p_set_output boolean,
            p_output text, p_ended_at bigint
        ) RETURNS text LANGUAGE plpgsql AS $body$
        DECLARE
            v_environment text;
        BEGIN
            -- The fence: a locked read, which waits for a claim of the run that is committing
            -- and then reads its new token; the lock holds to the end of the call.
            SELECT environment INTO v_environment FROM {schema}.runs
            WHERE id = p_run AND lease_token = p_token AND status = 'running' FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            IF cardinality(s_key) > 0 THEN
                INSERT INTO {schema}.steps (run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at)
                SELECT p_run, key, step_id, kind, status, output, error, failed, started, ended
                FROM unnest(s_key, s_step_id, s_kind, s_status, s_output, s_error, s_failed, s_started, s_ended)
                    WITH ORDINALITY AS s (key, step_id, kind, status, output, error, failed, started, ended, position)
                ORDER BY position
                ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, output = excluded.output, error = excluded.error,
                    failed_attempts = excluded.failed_attempts, ended_at = excluded.ended_at;
            END IF;
            IF cardinality(a_key) > 0 THEN
                INSERT INTO {schema}.step_attempts (run_id, key, attempt, status, error, started_at, ended_at)
                SELECT p_run, key, number, status, error, started, ended
                FROM unnest(a_key, a_number, a_status, a_error, a_started, a_ended) AS a (key, number, status, error, started, ended)
                ON CONFLICT (run_id, key, attempt) DO UPDATE SET status = excluded.status, error = excluded.error,
                    started_at = excluded.started_at, ended_at = excluded.ended_at;
            END IF;
            IF p_ends_run THEN
                DELETE FROM {schema}.run_waits WHERE run_id = p_run;
            ELSIF cardinality(p_ending_waits) > 0 THEN
                DELETE FROM {schema}.run_waits WHERE run_id = p_run AND step_key = ANY(p_ending_waits);
            END IF;
            IF cardinality(w_kind) > 0 THEN
                INSERT INTO {schema}.run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
                SELECT v_environment, p_run, kind, step_key, event, path, value, condition, expires
                FROM unnest(w_kind, w_step_key, w_event, w_path, w_value, w_condition, w_expires)
                    WITH ORDINALITY AS w (kind, step_key, event, path, value, condition, expires, position)
                ORDER BY position
                ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at;
            END IF;
            IF p_status IS NOT NULL THEN
                UPDATE {schema}.runs SET status = p_status, available_at = p_available_at, attempt = coalesce(p_attempt, attempt),
                    error = CASE WHEN p_set_error THEN p_error ELSE error END,
                    output = CASE WHEN p_set_output THEN p_output ELSE output END,
                    ended_at = coalesce(p_ended_at, ended_at), lease_owner = NULL
                WHERE id = p_run;
            END IF;
            RETURN v_environment;
        END
        $body$;
        """,
        // 4: the worker's loop as functions too: its claim (the due runs locked, leased anew,
        // each with its events and steps as JSON) and its next due time, asked before every
        // sleep of the worker and planned, inline, at more than the cost of running it.
        """
        CREATE FUNCTION {schema}.claim_runs(
            p_environment text, p_app text, p_functions text[], p_owner text, p_now bigint, p_lease bigint, p_limit integer
        ) RETURNS TABLE (
            id text, environment text, app_id text, function_id text, event_id text, status text, attempt bigint, output text,
            error text, created_at bigint, started_at bigint, ended_at bigint, available_at bigint, rerun_of text, event_count bigint,
            lease_token bigint, claimed_from text, events text, steps text
        ) LANGUAGE plpgsql AS $body$
        #variable_conflict use_column
        BEGIN
            RETURN QUERY
            WITH due AS (
                SELECT r.id, r.status FROM {schema}.runs r
                WHERE r.environment = p_environment AND r.app_id = p_app
                  AND r.status IN ('queued', 'running', 'sleeping', 'waiting') AND r.available_at <= p_now
                  AND r.function_id = ANY(p_functions)
                ORDER BY r.available_at, r.seq
                LIMIT p_limit
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE {schema}.runs r SET status = 'running', lease_token = r.lease_token + 1, lease_owner = p_owner,
                    available_at = p_now + p_lease, started_at = coalesce(r.started_at, p_now)
                FROM due WHERE r.id = due.id
                RETURNING r.id, r.environment, r.app_id, r.function_id, r.event_id, r.status, r.attempt::bigint, r.output, r.error,
                    r.created_at, r.started_at, r.ended_at, r.available_at, r.rerun_of, r.event_count::bigint, r.lease_token,
                    due.status AS claimed_from, r.seq
            )
            SELECT c.id::text, c.environment::text, c.app_id::text, c.function_id::text, c.event_id::text, c.status::text, c.attempt,
                c.output, c.error, c.created_at, c.started_at, c.ended_at, c.available_at, c.rerun_of::text, c.event_count,
                c.lease_token, c.claimed_from::text,
                (SELECT json_agg(json_build_array(e.id, e.environment, e.name, e.data, e."user", e.dedupe_id, e.ts, e.v, e.received_at)
                                 ORDER BY l.position)
                 FROM (SELECT c.event_id AS event_id, 0 AS position WHERE c.event_count = 1
                       UNION ALL
                       SELECT re.event_id, re.position FROM {schema}.run_events re WHERE re.run_id = c.id AND c.event_count > 1) l
                 JOIN {schema}.events e ON e.id = l.event_id)::text,
                (SELECT json_agg(json_build_array(s.key, s.step_id, s.kind, s.status, s.output, s.error, s.failed_attempts,
                                                  s.started_at, s.ended_at) ORDER BY s.seq)
                 FROM {schema}.steps s WHERE s.run_id = c.id)::text
            FROM claimed c
            ORDER BY c.seq;
        END
        $body$;
        CREATE FUNCTION {schema}.next_due_time(p_environment text, p_app text, p_functions text[]) RETURNS bigint
        LANGUAGE plpgsql AS $body$
        BEGIN
            RETURN least(
                (SELECT min(available_at) FROM {schema}.runs
                 WHERE environment = p_environment AND app_id = p_app AND function_id = ANY(p_functions)
                   AND status IN ('queued', 'running', 'sleeping', 'waiting')),
                (SELECT min(next_at) FROM {schema}.cron_schedules
                 WHERE environment = p_environment AND app_id = p_app AND function_id = ANY(p_functions)));
        END
        $body$;
        """,
        // 5: a checkpoint that appends events (every run's ending appends its
        // `function.finished`) in one call too: the events, the runs they start fanned out
        // with the triggers the caller read at `p_version`, then `commit_checkpoint`. Written
        // only if the registry is still at that version and no run of the environment waits
        // for an event (whose resolution needs the engine between statements): 2, and
        // nothing written, sends the caller to its general path.
        """
        CREATE FUNCTION {schema}.commit_checkpoint_with_events(
            p_run text, p_token bigint, p_environment text, p_version bigint, p_received_at bigint,
            e_id text[], e_name text[], e_data text[], e_user text[], e_ts bigint[], e_v text[],
            r_id text[], r_app text[], r_function text[], r_event text[], r_available bigint[], r_created bigint[],
            rw_run text[], rw_kind text[], rw_step_key text[], rw_event text[], rw_path text[], rw_value text[], rw_condition text[],
            rw_expires bigint[],
            s_key text[], s_step_id text[], s_kind text[], s_status text[], s_output text[], s_error text[], s_failed integer[],
            s_started bigint[], s_ended bigint[],
            a_key text[], a_number integer[], a_status text[], a_error text[], a_started bigint[], a_ended bigint[],
            p_ends_run boolean, p_ending_waits text[],
            w_kind text[], w_step_key text[], w_event text[], w_path text[], w_value text[], w_condition text[], w_expires bigint[],
            p_status text, p_available_at bigint, p_attempt integer, p_set_error boolean, p_error text, p_set_output boolean,
            p_output text, p_ended_at bigint
        ) RETURNS integer LANGUAGE plpgsql AS $body$
        BEGIN
            -- The fence first, as commit_checkpoint takes it; it takes it again below, at once,
            -- since this transaction holds the lock.
            PERFORM 1 FROM {schema}.runs WHERE id = p_run AND lease_token = p_token AND status = 'running' FOR UPDATE;
            IF NOT FOUND THEN
                RETURN 0;
            END IF;
            IF coalesce((SELECT version FROM {schema}.registry_versions WHERE environment = p_environment), 0) <> p_version
               OR EXISTS (SELECT 1 FROM {schema}.run_waits WHERE environment = p_environment) THEN
                RETURN 2;
            END IF;
            INSERT INTO {schema}.events (id, environment, name, data, "user", dedupe_id, ts, v, received_at)
            SELECT id, p_environment, name, data, usr, NULL, ts, v, p_received_at
            FROM unnest(e_id, e_name, e_data, e_user, e_ts, e_v) WITH ORDINALITY AS e (id, name, data, usr, ts, v, position)
            ORDER BY position;
            INSERT INTO {schema}.runs (id, environment, app_id, function_id, event_id, status, available_at, created_at)
            SELECT id, p_environment, app, fn, event, 'queued', available, created
            FROM unnest(r_id, r_app, r_function, r_event, r_available, r_created)
                WITH ORDINALITY AS r (id, app, fn, event, available, created, position)
            ORDER BY position;
            INSERT INTO {schema}.run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
            SELECT p_environment, run, kind, step_key, event, path, value, condition, expires
            FROM unnest(rw_run, rw_kind, rw_step_key, rw_event, rw_path, rw_value, rw_condition, rw_expires)
                AS w (run, kind, step_key, event, path, value, condition, expires)
            ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at;
            PERFORM {schema}.commit_checkpoint(
                p_run, p_token, s_key, s_step_id, s_kind, s_status, s_output, s_error, s_failed, s_started, s_ended,
                a_key, a_number, a_status, a_error, a_started, a_ended, p_ends_run, p_ending_waits,
                w_kind, w_step_key, w_event, w_path, w_value, w_condition, w_expires,
                p_status, p_available_at, p_attempt, p_set_error, p_error, p_set_output, p_output, p_ended_at);
            RETURN 1;
        END
        $body$;
        """,
        // 6: flow control. A run keeps its keys (`flow`, the JSON of RunFlow, and the columns
        // claims count by); a run that a full concurrency key holds back is parked: its
        // `available_at` is NULL, so it leaves the due index and costs claims nothing, and
        // `parked_rank` keeps its place. Slots are given back by a trigger on the status, so
        // that every path that moves a run out of `running` (the checkpoint functions, the
        // general path, a cancel) frees them, and runs without keys never fire it. Keys are
        // serialised by transaction-level advisory locks on their hash: a claim only tries
        // them (a key another transaction works on is skipped, never waited for), the trigger
        // waits, in sorted order, so no two transactions deadlock on keys.
        """
        ALTER TABLE {schema}.runs ADD COLUMN flow text, ADD COLUMN concurrency_key_1 text COLLATE "C",
            ADD COLUMN concurrency_key_2 text COLLATE "C", ADD COLUMN rate_key text COLLATE "C", ADD COLUMN parked_on text COLLATE "C",
            ADD COLUMN parked_rank bigint, ADD COLUMN batch_key text COLLATE "C", ADD COLUMN debounce_key text COLLATE "C",
            ADD COLUMN singleton_key text COLLATE "C";
        CREATE INDEX runs_open_batches ON {schema}.runs (environment, app_id, function_id, batch_key, seq)
            WHERE batch_key IS NOT NULL AND status = 'queued' AND started_at IS NULL;
        CREATE INDEX runs_pending_debounces ON {schema}.runs (environment, app_id, function_id, debounce_key)
            WHERE debounce_key IS NOT NULL AND status = 'queued' AND started_at IS NULL;
        CREATE INDEX runs_active_singletons ON {schema}.runs (environment, app_id, function_id, singleton_key)
            WHERE singleton_key IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting');
        CREATE INDEX runs_running_by_key_1 ON {schema}.runs (concurrency_key_1)
            WHERE status = 'running' AND concurrency_key_1 IS NOT NULL;
        CREATE INDEX runs_running_by_key_2 ON {schema}.runs (concurrency_key_2)
            WHERE status = 'running' AND concurrency_key_2 IS NOT NULL;
        CREATE INDEX runs_parked ON {schema}.runs (parked_on, parked_rank, seq) WHERE parked_on IS NOT NULL;
        CREATE INDEX runs_by_rate_key ON {schema}.runs (environment, app_id, function_id, rate_key, created_at)
            WHERE rate_key IS NOT NULL;
        -- The runs of one status newest first (filters of the dashboard and the REST API)
        -- without reading every run of the environment.
        CREATE INDEX runs_by_status ON {schema}.runs (environment, status, id);
        CREATE TABLE {schema}.throttles (
            key text COLLATE "C" PRIMARY KEY,
            tat bigint NOT NULL
        );
        CREATE TABLE {schema}.admissions (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            environment text COLLATE "C" NOT NULL,
            event_id text COLLATE "C" NOT NULL,
            app_id text COLLATE "C" NOT NULL,
            function_id text COLLATE "C" NOT NULL,
            reason text NOT NULL,
            detail text NOT NULL,
            run_id text COLLATE "C",
            decided_at bigint NOT NULL
        );
        CREATE INDEX admissions_by_event ON {schema}.admissions (environment, event_id, seq);
        CREATE FUNCTION {schema}.running_under(p_key text) RETURNS integer LANGUAGE sql STABLE AS $body$
            SELECT ((SELECT count(*) FROM {schema}.runs WHERE concurrency_key_1 = p_key AND status = 'running')
                  + (SELECT count(*) FROM {schema}.runs WHERE concurrency_key_2 = p_key AND status = 'running'))::integer
        $body$;
        CREATE FUNCTION {schema}.release_concurrency_slots() RETURNS trigger LANGUAGE plpgsql AS $body$
        DECLARE
            k record;
            room integer;
        BEGIN
            FOR k IN
                SELECT key, (NEW.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                FROM (VALUES (NEW.concurrency_key_1, 0), (NEW.concurrency_key_2, 1)) AS keys (key, position)
                WHERE key IS NOT NULL ORDER BY key
            LOOP
                PERFORM pg_advisory_xact_lock(hashtextextended(k.key, 0));
                room := coalesce(k.lim, 0) - {schema}.running_under(k.key);
                IF room > 0 THEN
                    UPDATE {schema}.runs r
                    SET available_at = r.parked_rank + coalesce((r.flow::jsonb ->> 'priority_s')::bigint, 0) * 1000,
                        parked_on = NULL, parked_rank = NULL
                    WHERE r.id IN (SELECT p.id FROM {schema}.runs p
                                   WHERE p.parked_on = k.key AND p.available_at IS NULL AND p.status IN ('queued', 'sleeping', 'waiting')
                                   ORDER BY p.parked_rank, p.seq LIMIT room FOR UPDATE SKIP LOCKED);
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $body$;
        CREATE TRIGGER runs_release_concurrency_slots AFTER UPDATE OF status ON {schema}.runs
            FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND OLD.concurrency_key_1 IS NOT NULL)
            EXECUTE FUNCTION {schema}.release_concurrency_slots();
        DROP FUNCTION {schema}.claim_runs(text, text, text[], text, bigint, bigint, integer);
        CREATE FUNCTION {schema}.claim_runs(
            p_environment text, p_app text, p_functions text[], p_owner text, p_now bigint, p_lease bigint, p_limit integer
        ) RETURNS TABLE (
            id text, environment text, app_id text, function_id text, event_id text, status text, attempt bigint, output text,
            error text, created_at bigint, started_at bigint, ended_at bigint, available_at bigint, rerun_of text, event_count bigint,
            lease_token bigint, flow text, parked_on text, claimed_from text, events text, steps text
        ) LANGUAGE plpgsql AS $body$
        #variable_conflict use_column
        DECLARE
            r record;
            k record;
            chosen text[] := '{}';
            passed text[] := '{}';
            taken jsonb := '{}';
            full_key text;
            busy boolean;
            parked integer;
            round integer := 0;
        BEGIN
            -- Runs with concurrency keys that are not executing must fit each key: counted
            -- under the key's lock, with the runs this claim already chose. One with no room
            -- is parked; one whose key another transaction holds is passed over for now.
            LOOP
                parked := 0;
                round := round + 1;
                FOR r IN
                    SELECT d.id, d.status, d.flow, d.concurrency_key_1, d.concurrency_key_2 FROM {schema}.runs d
                    WHERE d.environment = p_environment AND d.app_id = p_app
                      AND d.status IN ('queued', 'running', 'sleeping', 'waiting') AND d.available_at <= p_now
                      AND d.function_id = ANY(p_functions) AND NOT (d.id = ANY(chosen)) AND NOT (d.id = ANY(passed))
                    ORDER BY d.available_at, d.seq
                    LIMIT p_limit - cardinality(chosen)
                    FOR UPDATE SKIP LOCKED
                LOOP
                    IF r.concurrency_key_1 IS NULL OR r.status = 'running' THEN
                        chosen := chosen || r.id;
                        CONTINUE;
                    END IF;
                    full_key := NULL;
                    busy := false;
                    FOR k IN
                        SELECT key, (r.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                        FROM (VALUES (r.concurrency_key_1, 0), (r.concurrency_key_2, 1)) AS keys (key, position)
                        WHERE key IS NOT NULL ORDER BY position
                    LOOP
                        IF NOT pg_try_advisory_xact_lock(hashtextextended(k.key, 0)) THEN
                            busy := true;
                            EXIT;
                        END IF;
                        IF {schema}.running_under(k.key) + coalesce((taken ->> k.key)::integer, 0) >= coalesce(k.lim, 0) THEN
                            full_key := k.key;
                            EXIT;
                        END IF;
                    END LOOP;
                    IF busy THEN
                        passed := passed || r.id;
                    ELSIF full_key IS NOT NULL THEN
                        UPDATE {schema}.runs SET parked_on = full_key,
                            parked_rank = available_at - coalesce((flow::jsonb ->> 'priority_s')::bigint, 0) * 1000, available_at = NULL
                        WHERE id = r.id;
                        parked := parked + 1;
                    ELSE
                        chosen := chosen || r.id;
                        taken := taken || jsonb_build_object(r.concurrency_key_1, coalesce((taken ->> r.concurrency_key_1)::integer, 0) + 1);
                        IF r.concurrency_key_2 IS NOT NULL THEN
                            taken := taken || jsonb_build_object(r.concurrency_key_2, coalesce((taken ->> r.concurrency_key_2)::integer, 0) + 1);
                        END IF;
                    END IF;
                END LOOP;
                EXIT WHEN parked = 0 OR cardinality(chosen) >= p_limit OR round >= 64;
            END LOOP;
            RETURN QUERY
            WITH due AS (
                SELECT d.id, d.status FROM {schema}.runs d WHERE d.id = ANY(chosen)
            ), claimed AS (
                UPDATE {schema}.runs r SET status = 'running', lease_token = r.lease_token + 1, lease_owner = p_owner,
                    available_at = p_now + p_lease, started_at = coalesce(r.started_at, p_now), parked_on = NULL, parked_rank = NULL
                FROM due WHERE r.id = due.id
                RETURNING r.id, r.environment, r.app_id, r.function_id, r.event_id, r.status, r.attempt::bigint, r.output, r.error,
                    r.created_at, r.started_at, r.ended_at, r.available_at, r.rerun_of, r.event_count::bigint, r.lease_token,
                    r.flow, r.parked_on, due.status AS claimed_from, r.seq
            )
            SELECT c.id::text, c.environment::text, c.app_id::text, c.function_id::text, c.event_id::text, c.status::text, c.attempt,
                c.output, c.error, c.created_at, c.started_at, c.ended_at, c.available_at, c.rerun_of::text, c.event_count,
                c.lease_token, c.flow, c.parked_on::text, c.claimed_from::text,
                (SELECT json_agg(json_build_array(e.id, e.environment, e.name, e.data, e."user", e.dedupe_id, e.ts, e.v, e.received_at)
                                 ORDER BY l.position)
                 FROM (SELECT c.event_id AS event_id, 0 AS position WHERE c.event_count = 1
                       UNION ALL
                       SELECT re.event_id, re.position FROM {schema}.run_events re WHERE re.run_id = c.id AND c.event_count > 1) l
                 JOIN {schema}.events e ON e.id = l.event_id)::text,
                (SELECT json_agg(json_build_array(s.key, s.step_id, s.kind, s.status, s.output, s.error, s.failed_attempts,
                                                  s.started_at, s.ended_at) ORDER BY s.seq)
                 FROM {schema}.steps s WHERE s.run_id = c.id)::text
            FROM claimed c
            ORDER BY c.seq;
        END
        $body$;
        """,
        // 7: retention (StoreRetention): ended runs by the time they ended, so a prune finds the
        // oldest without a scan (a partial index: the runs in flight, which claims touch, are
        // not in it), and the runs that list an event, so a prune can tell the events a run
        // still needs.
        """
        CREATE INDEX runs_ended ON {schema}.runs (environment, ended_at) WHERE status IN ('completed', 'failed', 'cancelled');
        CREATE INDEX run_events_by_event ON {schema}.run_events (event_id);
        """,
        // 8: turns across concurrency keys (RunFlow.Concurrency.turn, at most 10): a key has no
        // more queued runs due than its turn; the rest wait parked, in order, and are let go
        // due at their own time or the caller's, whichever is later (behind the runs already
        // due), when a claim takes one of the due or a run with the key leaves running or the
        // due set. The caller's time reaches the trigger through the transaction-local
        // setting stepwise.now, which the checkpoint paths set; an ending without it uses the
        // run's ended_at, and otherwise a run is due at its own time, as before. Throttle states
        // by time, so that a prune finds those run out without reading every key.
        """
        CREATE INDEX throttles_by_tat ON {schema}.throttles (tat);
        CREATE INDEX runs_due_by_key_1 ON {schema}.runs (concurrency_key_1)
            WHERE status = 'queued' AND available_at IS NOT NULL AND concurrency_key_1 IS NOT NULL;
        CREATE INDEX runs_due_by_key_2 ON {schema}.runs (concurrency_key_2)
            WHERE status = 'queued' AND available_at IS NOT NULL AND concurrency_key_2 IS NOT NULL;
        CREATE FUNCTION {schema}.due_under(p_key text) RETURNS integer LANGUAGE sql STABLE AS $body$
            SELECT ((SELECT count(*) FROM {schema}.runs WHERE concurrency_key_1 = p_key AND status = 'queued' AND available_at IS NOT NULL)
                  + (SELECT count(*) FROM {schema}.runs WHERE concurrency_key_2 = p_key AND status = 'queued' AND available_at IS NOT NULL))::integer
        $body$;
        CREATE FUNCTION {schema}.let_go(p_key text, p_room integer, p_now bigint) RETURNS integer LANGUAGE plpgsql AS $body$
        DECLARE
            n integer;
        BEGIN
            UPDATE {schema}.runs r
            SET available_at = greatest(r.parked_rank + coalesce((r.flow::jsonb ->> 'priority_s')::bigint, 0) * 1000, p_now),
                parked_on = NULL, parked_rank = NULL
            WHERE r.id IN (SELECT p.id FROM {schema}.runs p
                           WHERE p.parked_on = p_key AND p.available_at IS NULL AND p.status IN ('queued', 'sleeping', 'waiting')
                           ORDER BY p.parked_rank, p.seq LIMIT p_room FOR UPDATE SKIP LOCKED);
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END
        $body$;
        CREATE OR REPLACE FUNCTION {schema}.release_concurrency_slots() RETURNS trigger LANGUAGE plpgsql AS $body$
        DECLARE
            k record;
            room integer;
            now_ms bigint := coalesce(nullif(current_setting('stepwise.now', true), '')::bigint, NEW.ended_at);
        BEGIN
            FOR k IN
                SELECT key, (NEW.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                FROM (VALUES (NEW.concurrency_key_1, 0), (NEW.concurrency_key_2, 1)) AS keys (key, position)
                WHERE key IS NOT NULL ORDER BY key
            LOOP
                PERFORM pg_advisory_xact_lock(hashtextextended(k.key, 0));
                IF EXISTS (SELECT 1 FROM {schema}.runs WHERE parked_on = k.key) THEN
                    room := least(coalesce(k.lim, 0) - {schema}.running_under(k.key), least(coalesce(k.lim, 0), 10) - {schema}.due_under(k.key));
                    IF room > 0 THEN
                        PERFORM {schema}.let_go(k.key, room, now_ms);
                    END IF;
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $body$;
        DROP TRIGGER runs_release_concurrency_slots ON {schema}.runs;
        CREATE TRIGGER runs_release_concurrency_slots AFTER UPDATE OF status ON {schema}.runs
            FOR EACH ROW WHEN (OLD.concurrency_key_1 IS NOT NULL AND OLD.status <> NEW.status
                               AND (OLD.status = 'running' OR (OLD.status = 'queued' AND OLD.available_at IS NOT NULL AND NEW.status <> 'running')))
            EXECUTE FUNCTION {schema}.release_concurrency_slots();
        CREATE FUNCTION {schema}.key_without_turn(p_keys text[], p_turns integer[]) RETURNS text LANGUAGE plpgsql STABLE AS $body$
        BEGIN
            FOR i IN 1 .. coalesce(cardinality(p_keys), 0) LOOP
                IF EXISTS (SELECT 1 FROM {schema}.runs WHERE parked_on = p_keys[i]) OR {schema}.due_under(p_keys[i]) >= p_turns[i] THEN
                    RETURN p_keys[i];
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $body$;
        CREATE OR REPLACE FUNCTION {schema}.claim_runs(
            p_environment text, p_app text, p_functions text[], p_owner text, p_now bigint, p_lease bigint, p_limit integer
        ) RETURNS TABLE (
            id text, environment text, app_id text, function_id text, event_id text, status text, attempt bigint, output text,
            error text, created_at bigint, started_at bigint, ended_at bigint, available_at bigint, rerun_of text, event_count bigint,
            lease_token bigint, flow text, parked_on text, claimed_from text, events text, steps text
        ) LANGUAGE plpgsql AS $body$
        #variable_conflict use_column
        DECLARE
            r record;
            k record;
            chosen text[] := '{}';
            passed text[] := '{}';
            taken jsonb := '{}';
            taken_due jsonb := '{}';
            turns_used jsonb;
            full_key text;
            busy boolean;
            parked integer;
            released integer;
            room integer;
            round integer := 0;
        BEGIN
            -- Runs with concurrency keys that are not executing must fit each key: counted
            -- under the key's lock, with the runs this claim already chose. One with no room
            -- is parked; one whose key another transaction holds is passed over for now.
            LOOP
                parked := 0;
                released := 0;
                turns_used := '{}';
                round := round + 1;
                FOR r IN
                    SELECT d.id, d.status, d.flow, d.concurrency_key_1, d.concurrency_key_2 FROM {schema}.runs d
                    WHERE d.environment = p_environment AND d.app_id = p_app
                      AND d.status IN ('queued', 'running', 'sleeping', 'waiting') AND d.available_at <= p_now
                      AND d.function_id = ANY(p_functions) AND NOT (d.id = ANY(chosen)) AND NOT (d.id = ANY(passed))
                    ORDER BY d.available_at, d.seq
                    LIMIT p_limit - cardinality(chosen)
                    FOR UPDATE SKIP LOCKED
                LOOP
                    IF r.concurrency_key_1 IS NULL OR r.status = 'running' THEN
                        chosen := chosen || r.id;
                        CONTINUE;
                    END IF;
                    full_key := NULL;
                    busy := false;
                    FOR k IN
                        SELECT key, (r.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                        FROM (VALUES (r.concurrency_key_1, 0), (r.concurrency_key_2, 1)) AS keys (key, position)
                        WHERE key IS NOT NULL ORDER BY position
                    LOOP
                        IF NOT pg_try_advisory_xact_lock(hashtextextended(k.key, 0)) THEN
                            busy := true;
                            EXIT;
                        END IF;
                        IF {schema}.running_under(k.key) + coalesce((taken ->> k.key)::integer, 0) >= coalesce(k.lim, 0) THEN
                            full_key := k.key;
                            EXIT;
                        END IF;
                    END LOOP;
                    IF busy THEN
                        passed := passed || r.id;
                    ELSIF full_key IS NOT NULL THEN
                        UPDATE {schema}.runs SET parked_on = full_key,
                            parked_rank = available_at - coalesce((flow::jsonb ->> 'priority_s')::bigint, 0) * 1000, available_at = NULL
                        WHERE id = r.id;
                        parked := parked + 1;
                    ELSE
                        chosen := chosen || r.id;
                        FOR k IN
                            SELECT key, (r.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                            FROM (VALUES (r.concurrency_key_1, 0), (r.concurrency_key_2, 1)) AS keys (key, position)
                            WHERE key IS NOT NULL
                        LOOP
                            taken := taken || jsonb_build_object(k.key, coalesce((taken ->> k.key)::integer, 0) + 1);
                            IF r.status = 'queued' THEN
                                taken_due := taken_due || jsonb_build_object(k.key, coalesce((taken_due ->> k.key)::integer, 0) + 1);
                                turns_used := turns_used || jsonb_build_object(k.key, coalesce(k.lim, 0));
                            END IF;
                        END LOOP;
                    END IF;
                END LOOP;
                -- A key whose turn a queued run used lets the next in line go, due behind the
                -- runs already due; the chosen count as running and no longer due.
                FOR k IN SELECT t.key, t.value::integer AS lim FROM jsonb_each_text(turns_used) AS t ORDER BY t.key LOOP
                    room := least(
                        k.lim - {schema}.running_under(k.key) - coalesce((taken ->> k.key)::integer, 0),
                        least(k.lim, 10) - ({schema}.due_under(k.key) - coalesce((taken_due ->> k.key)::integer, 0)));
                    IF room > 0 THEN
                        released := released + {schema}.let_go(k.key, room, p_now);
                    END IF;
                END LOOP;
                EXIT WHEN (parked = 0 AND released = 0) OR cardinality(chosen) >= p_limit OR round >= 64;
            END LOOP;
            RETURN QUERY
            WITH due AS (
                SELECT d.id, d.status FROM {schema}.runs d WHERE d.id = ANY(chosen)
            ), claimed AS (
                UPDATE {schema}.runs r SET status = 'running', lease_token = r.lease_token + 1, lease_owner = p_owner,
                    available_at = p_now + p_lease, started_at = coalesce(r.started_at, p_now), parked_on = NULL, parked_rank = NULL
                FROM due WHERE r.id = due.id
                RETURNING r.id, r.environment, r.app_id, r.function_id, r.event_id, r.status, r.attempt::bigint, r.output, r.error,
                    r.created_at, r.started_at, r.ended_at, r.available_at, r.rerun_of, r.event_count::bigint, r.lease_token,
                    r.flow, r.parked_on, due.status AS claimed_from, r.seq
            )
            SELECT c.id::text, c.environment::text, c.app_id::text, c.function_id::text, c.event_id::text, c.status::text, c.attempt,
                c.output, c.error, c.created_at, c.started_at, c.ended_at, c.available_at, c.rerun_of::text, c.event_count,
                c.lease_token, c.flow, c.parked_on::text, c.claimed_from::text,
                (SELECT json_agg(json_build_array(e.id, e.environment, e.name, e.data, e."user", e.dedupe_id, e.ts, e.v, e.received_at)
                                 ORDER BY l.position)
                 FROM (SELECT c.event_id AS event_id, 0 AS position WHERE c.event_count = 1
                       UNION ALL
                       SELECT re.event_id, re.position FROM {schema}.run_events re WHERE re.run_id = c.id AND c.event_count > 1) l
                 JOIN {schema}.events e ON e.id = l.event_id)::text,
                (SELECT json_agg(json_build_array(s.key, s.step_id, s.kind, s.status, s.output, s.error, s.failed_attempts,
                                                  s.started_at, s.ended_at) ORDER BY s.seq)
                 FROM {schema}.steps s WHERE s.run_id = c.id)::text
            FROM claimed c
            ORDER BY c.seq;
        END
        $body$;
        """,
        // 9: the trace each event was sent in (TraceContext, as JSON text; NULL when no tracer
        // was recording), and a claim that returns it with each event, so that a run continues
        // the trace of the code that sent its event, and that returns the time each run was due,
        // for the claim delay metric. The claim is migration 8's with those two changes (a
        // function's result type cannot be replaced in place, hence DROP and CREATE).
        """
        ALTER TABLE {schema}.events ADD COLUMN trace_context text;
        DROP FUNCTION {schema}.claim_runs(text, text, text[], text, bigint, bigint, integer);
        CREATE FUNCTION {schema}.claim_runs(
            p_environment text, p_app text, p_functions text[], p_owner text, p_now bigint, p_lease bigint, p_limit integer
        ) RETURNS TABLE (
            id text, environment text, app_id text, function_id text, event_id text, status text, attempt bigint, output text,
            error text, created_at bigint, started_at bigint, ended_at bigint, available_at bigint, rerun_of text, event_count bigint,
            lease_token bigint, flow text, parked_on text, claimed_from text, events text, steps text, due_at bigint
        ) LANGUAGE plpgsql AS $body$
        #variable_conflict use_column
        DECLARE
            r record;
            k record;
            chosen text[] := '{}';
            passed text[] := '{}';
            taken jsonb := '{}';
            taken_due jsonb := '{}';
            turns_used jsonb;
            full_key text;
            busy boolean;
            parked integer;
            released integer;
            room integer;
            round integer := 0;
        BEGIN
            -- Runs with concurrency keys that are not executing must fit each key: counted
            -- under the key's lock, with the runs this claim already chose. One with no room
            -- is parked; one whose key another transaction holds is passed over for now.
            LOOP
                parked := 0;
                released := 0;
                turns_used := '{}';
                round := round + 1;
                FOR r IN
                    SELECT d.id, d.status, d.flow, d.concurrency_key_1, d.concurrency_key_2 FROM {schema}.runs d
                    WHERE d.environment = p_environment AND d.app_id = p_app
                      AND d.status IN ('queued', 'running', 'sleeping', 'waiting') AND d.available_at <= p_now
                      AND d.function_id = ANY(p_functions) AND NOT (d.id = ANY(chosen)) AND NOT (d.id = ANY(passed))
                    ORDER BY d.available_at, d.seq
                    LIMIT p_limit - cardinality(chosen)
                    FOR UPDATE SKIP LOCKED
                LOOP
                    IF r.concurrency_key_1 IS NULL OR r.status = 'running' THEN
                        chosen := chosen || r.id;
                        CONTINUE;
                    END IF;
                    full_key := NULL;
                    busy := false;
                    FOR k IN
                        SELECT key, (r.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                        FROM (VALUES (r.concurrency_key_1, 0), (r.concurrency_key_2, 1)) AS keys (key, position)
                        WHERE key IS NOT NULL ORDER BY position
                    LOOP
                        IF NOT pg_try_advisory_xact_lock(hashtextextended(k.key, 0)) THEN
                            busy := true;
                            EXIT;
                        END IF;
                        IF {schema}.running_under(k.key) + coalesce((taken ->> k.key)::integer, 0) >= coalesce(k.lim, 0) THEN
                            full_key := k.key;
                            EXIT;
                        END IF;
                    END LOOP;
                    IF busy THEN
                        passed := passed || r.id;
                    ELSIF full_key IS NOT NULL THEN
                        UPDATE {schema}.runs SET parked_on = full_key,
                            parked_rank = available_at - coalesce((flow::jsonb ->> 'priority_s')::bigint, 0) * 1000, available_at = NULL
                        WHERE id = r.id;
                        parked := parked + 1;
                    ELSE
                        chosen := chosen || r.id;
                        FOR k IN
                            SELECT key, (r.flow::jsonb -> 'concurrency' -> position ->> 'limit')::integer AS lim
                            FROM (VALUES (r.concurrency_key_1, 0), (r.concurrency_key_2, 1)) AS keys (key, position)
                            WHERE key IS NOT NULL
                        LOOP
                            taken := taken || jsonb_build_object(k.key, coalesce((taken ->> k.key)::integer, 0) + 1);
                            IF r.status = 'queued' THEN
                                taken_due := taken_due || jsonb_build_object(k.key, coalesce((taken_due ->> k.key)::integer, 0) + 1);
                                turns_used := turns_used || jsonb_build_object(k.key, coalesce(k.lim, 0));
                            END IF;
                        END LOOP;
                    END IF;
                END LOOP;
                -- A key whose turn a queued run used lets the next in line go, due behind the
                -- runs already due; the chosen count as running and no longer due.
                FOR k IN SELECT t.key, t.value::integer AS lim FROM jsonb_each_text(turns_used) AS t ORDER BY t.key LOOP
                    room := least(
                        k.lim - {schema}.running_under(k.key) - coalesce((taken ->> k.key)::integer, 0),
                        least(k.lim, 10) - ({schema}.due_under(k.key) - coalesce((taken_due ->> k.key)::integer, 0)));
                    IF room > 0 THEN
                        released := released + {schema}.let_go(k.key, room, p_now);
                    END IF;
                END LOOP;
                EXIT WHEN (parked = 0 AND released = 0) OR cardinality(chosen) >= p_limit OR round >= 64;
            END LOOP;
            RETURN QUERY
            WITH due AS (
                SELECT d.id, d.status, d.available_at FROM {schema}.runs d WHERE d.id = ANY(chosen)
            ), claimed AS (
                UPDATE {schema}.runs r SET status = 'running', lease_token = r.lease_token + 1, lease_owner = p_owner,
                    available_at = p_now + p_lease, started_at = coalesce(r.started_at, p_now), parked_on = NULL, parked_rank = NULL
                FROM due WHERE r.id = due.id
                RETURNING r.id, r.environment, r.app_id, r.function_id, r.event_id, r.status, r.attempt::bigint, r.output, r.error,
                    r.created_at, r.started_at, r.ended_at, r.available_at, r.rerun_of, r.event_count::bigint, r.lease_token,
                    r.flow, r.parked_on, due.status AS claimed_from, due.available_at AS due_at, r.seq
            )
            SELECT c.id::text, c.environment::text, c.app_id::text, c.function_id::text, c.event_id::text, c.status::text, c.attempt,
                c.output, c.error, c.created_at, c.started_at, c.ended_at, c.available_at, c.rerun_of::text, c.event_count,
                c.lease_token, c.flow, c.parked_on::text, c.claimed_from::text,
                (SELECT json_agg(json_build_array(e.id, e.environment, e.name, e.data, e."user", e.dedupe_id, e.ts, e.v, e.received_at, e.trace_context)
                                 ORDER BY l.position)
                 FROM (SELECT c.event_id AS event_id, 0 AS position WHERE c.event_count = 1
                       UNION ALL
                       SELECT re.event_id, re.position FROM {schema}.run_events re WHERE re.run_id = c.id AND c.event_count > 1) l
                 JOIN {schema}.events e ON e.id = l.event_id)::text,
                (SELECT json_agg(json_build_array(s.key, s.step_id, s.kind, s.status, s.output, s.error, s.failed_attempts,
                                                  s.started_at, s.ended_at) ORDER BY s.seq)
                 FROM {schema}.steps s WHERE s.run_id = c.id)::text,
                c.due_at
            FROM claimed c
            ORDER BY c.seq;
        END
        $body$;
        """,
        // 10: the hot functions plan their statements once per connection for all arguments.
        // "By default (that is, when plan_cache_mode is set to auto), the server will
        // automatically choose whether to use a generic or custom plan for a prepared
        // statement that has parameters" (PREPARE), and PL/pgSQL's statements are prepared
        // statements with the function's arguments as parameters: under `auto` a claim or a
        // checkpoint planned its statements afresh on each of the first five calls on each
        // connection, and on every call where the custom plan looked cheaper, which the
        // server's statement log showed as claim_runs taking 0.8 ms where its statements ran in
        // 0.1. Generic plans suit these statements: each looks runs up by id or by the due
        // index, whatever the arguments. The setting holds for the call, the functions it
        // calls and the triggers it fires.
        """
        ALTER FUNCTION {schema}.claim_runs(text, text, text[], text, bigint, bigint, integer) SET plan_cache_mode = force_generic_plan;
        ALTER FUNCTION {schema}.commit_checkpoint SET plan_cache_mode = force_generic_plan;
        ALTER FUNCTION {schema}.commit_checkpoint_with_events SET plan_cache_mode = force_generic_plan;
        ALTER FUNCTION {schema}.next_due_time SET plan_cache_mode = force_generic_plan;
        """,
        // 11: the hot path of an append as a function, as the checkpoints are (schema 3 and
        // 5): the events, the runs they start fanned out with the triggers the caller read at
        // `p_version`, and those runs' waits, written only if the registry is still at that
        // version and no run of the environment waits for an event. Inline, the statement was
        // parsed, planned and bound on every append (0.6 to 1.2 ms in the server's log, against
        // 0.2 to run it); and a claim in the same statement after this call sees its runs,
        // which a claim beside a data-modifying WITH, sharing its snapshot, did not.
        """
        CREATE FUNCTION {schema}.append_events(
            p_environment text, p_version bigint, p_received_at bigint,
            e_id text[], e_name text[], e_data text[], e_user text[], e_ts bigint[], e_v text[], e_trace text[],
            r_id text[], r_app text[], r_function text[], r_event text[], r_available bigint[], r_created bigint[],
            rw_run text[], rw_kind text[], rw_step_key text[], rw_event text[], rw_path text[], rw_value text[], rw_condition text[],
            rw_expires bigint[]
        ) RETURNS TABLE (written boolean, found_version bigint) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $body$
        DECLARE
            current_version bigint := coalesce(
                (SELECT rv.version FROM {schema}.registry_versions rv WHERE rv.environment = p_environment), 0);
        BEGIN
            IF current_version <> p_version OR EXISTS (SELECT 1 FROM {schema}.run_waits w WHERE w.environment = p_environment) THEN
                RETURN QUERY SELECT false, current_version;
                RETURN;
            END IF;
            INSERT INTO {schema}.events (id, environment, name, data, "user", dedupe_id, ts, v, received_at, trace_context)
            SELECT e.id, p_environment, e.name, e.data, e.usr, NULL, e.ts, e.v, p_received_at, e.trace
            FROM unnest(e_id, e_name, e_data, e_user, e_ts, e_v, e_trace) WITH ORDINALITY AS e (id, name, data, usr, ts, v, trace, position)
            ORDER BY e.position;
            INSERT INTO {schema}.runs (id, environment, app_id, function_id, event_id, status, available_at, created_at)
            SELECT r.id, p_environment, r.app, r.fn, r.event, 'queued', r.available, r.created
            FROM unnest(r_id, r_app, r_function, r_event, r_available, r_created)
                WITH ORDINALITY AS r (id, app, fn, event, available, created, position)
            ORDER BY r.position;
            INSERT INTO {schema}.run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
            SELECT p_environment, w.run, w.kind, w.step_key, w.event, w.path, w.value, w.condition, w.expires
            FROM unnest(rw_run, rw_kind, rw_step_key, rw_event, rw_path, rw_value, rw_condition, rw_expires)
                AS w (run, kind, step_key, event, path, value, condition, expires)
            ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at;
            RETURN QUERY SELECT true, current_version;
        END
        $body$;
        """,
        // 12: several runs' step checkpoints (steps and attempts recorded, the run left
        // running) in one call and one commit: `commit_checkpoint` for each, in the order
        // given (the caller sorts by run, so that two such calls lock their runs in one
        // order). A run's steps are `s_from[i]` to `s_to[i]` of the step arrays, its attempts
        // `a_from[i]` to `a_to[i]`, the waits its steps end `w_from[i]` to `w_to[i]` (an empty
        // slice where `from` is past `to`). Returns each run's environment, NULL where its
        // fence refused the checkpoint, which then wrote nothing.
        """
        CREATE FUNCTION {schema}.commit_step_checkpoints(
            p_runs text[], p_tokens bigint[],
            s_from integer[], s_to integer[],
            s_key text[], s_step_id text[], s_kind text[], s_status text[], s_output text[], s_error text[], s_failed integer[],
            s_started bigint[], s_ended bigint[],
            a_from integer[], a_to integer[],
            a_key text[], a_number integer[], a_status text[], a_error text[], a_started bigint[], a_ended bigint[],
            w_from integer[], w_to integer[], w_key text[]
        ) RETURNS TABLE (run_position integer, run_environment text) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $body$
        BEGIN
            FOR i IN 1 .. coalesce(cardinality(p_runs), 0) LOOP
                run_position := i;
                run_environment := {schema}.commit_checkpoint(
                    p_runs[i], p_tokens[i],
                    s_key[s_from[i]:s_to[i]], s_step_id[s_from[i]:s_to[i]], s_kind[s_from[i]:s_to[i]], s_status[s_from[i]:s_to[i]],
                    s_output[s_from[i]:s_to[i]], s_error[s_from[i]:s_to[i]], s_failed[s_from[i]:s_to[i]],
                    s_started[s_from[i]:s_to[i]], s_ended[s_from[i]:s_to[i]],
                    a_key[a_from[i]:a_to[i]], a_number[a_from[i]:a_to[i]], a_status[a_from[i]:a_to[i]], a_error[a_from[i]:a_to[i]],
                    a_started[a_from[i]:a_to[i]], a_ended[a_from[i]:a_to[i]],
                    false, w_key[w_from[i]:w_to[i]],
                    '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::bigint[],
                    NULL::text, NULL::bigint, NULL::integer, false, NULL::text, false, NULL::text, NULL::bigint);
                RETURN NEXT;
            END LOOP;
        END
        $body$;
        """,
    ]

    /// The version this build writes.
    public static var latestVersion: Int { all.count }

    /// The SQL that brings a schema at version `from` to ``latestVersion``, creating the
    /// schema and its version table first: what `run()` executes, for teams that apply
    /// migrations with a tool of their own.
    public static func sql(schema: String, from version: Int = 0) -> String {
        sql(schema: schema, from: version, through: latestVersion)
    }

    /// The SQL from `version` up to `last`: a schema as an older build left it, for tests.
    static func sql(schema: String, from version: Int, through last: Int) -> String {
        let quoted = PostgresIdentifier.quoted(schema)
        var statements = [
            "CREATE SCHEMA IF NOT EXISTS \(quoted);",
            "CREATE TABLE IF NOT EXISTS \(quoted).schema_version (version integer NOT NULL);",
        ]
        let end = min(max(last, 0), all.count)
        for migration in all[min(max(version, 0), end)..<end] {
            statements.append(migration.replacingOccurrences(of: "{schema}", with: quoted))
        }
        statements.append("DELETE FROM \(quoted).schema_version;")
        statements.append("INSERT INTO \(quoted).schema_version (version) VALUES (\(end));")
        return statements.joined(separator: "\n")
    }
}

/// PostgreSQL identifiers, quoted so that any schema name is one identifier and no SQL.
enum PostgresIdentifier {
    /// `"name"`, with each `"` doubled, as https://www.postgresql.org/docs/15/sql-syntax-lexical.html
    /// says: "to include a double quote, write two double quotes".
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
