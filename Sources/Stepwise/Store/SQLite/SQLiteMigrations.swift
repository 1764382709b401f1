/// The schema of a Stepwise SQLite database, as numbered migrations.
///
/// The database's `user_version` holds how many have been applied. Opening a database
/// applies the missing ones in one `BEGIN IMMEDIATE` transaction, re-reading the version
/// inside it, so two processes opening a new file at once migrate it once.
enum SQLiteMigrations {
    static let all: [String] = [
        // 1: events, and the dedupe keys of the events accepted with one.
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            environment TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            user TEXT,
            dedupe_id TEXT,
            ts INTEGER NOT NULL,
            v TEXT,
            received_at INTEGER NOT NULL
        );
        CREATE INDEX events_by_received ON events (environment, received_at, id);
        CREATE INDEX events_by_name ON events (environment, name, received_at, id);
        CREATE TABLE event_dedupe (
            environment TEXT NOT NULL,
            dedupe_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            accepted_at INTEGER NOT NULL,
            PRIMARY KEY (environment, dedupe_id)
        ) WITHOUT ROWID;
        """,
        // 2: functions and their triggers, runs, and the steps of runs.
        """
        CREATE TABLE functions (
            environment TEXT NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            registered_at INTEGER NOT NULL,
            PRIMARY KEY (environment, app_id, function_id)
        ) WITHOUT ROWID;
        CREATE TABLE function_triggers (
            environment TEXT NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            pattern TEXT NOT NULL,
            is_prefix INTEGER NOT NULL,
            conditions TEXT,
            FOREIGN KEY (environment, app_id, function_id) REFERENCES functions ON DELETE CASCADE
        );
        CREATE INDEX function_triggers_by_pattern ON function_triggers (environment, is_prefix, pattern);
        CREATE INDEX function_triggers_by_function ON function_triggers (environment, app_id, function_id);
        CREATE TABLE runs (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            environment TEXT NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            available_at INTEGER,
            lease_token INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            output TEXT,
            error TEXT,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            ended_at INTEGER,
            UNIQUE (environment, app_id, function_id, event_id)
        );
        CREATE INDEX runs_due ON runs (environment, app_id, available_at) WHERE status IN ('queued', 'running');
        CREATE INDEX runs_by_event ON runs (event_id);
        CREATE INDEX runs_by_function ON runs (environment, function_id, id);
        CREATE TABLE steps (
            seq INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            step_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            output TEXT,
            error TEXT,
            failed_attempts INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            ended_at INTEGER NOT NULL,
            UNIQUE (run_id, key)
        );
        """,
        // 3: sleeping and waiting runs are due at their time too; the waits for events (a
        // step's, or a function's cancelOn); the cancelOn settings of functions.
        """
        ALTER TABLE functions ADD COLUMN cancel_on TEXT;
        DROP INDEX runs_due;
        CREATE INDEX runs_due ON runs (environment, app_id, available_at)
            WHERE status IN ('queued', 'running', 'sleeping', 'waiting');
        CREATE TABLE run_waits (
            seq INTEGER PRIMARY KEY,
            environment TEXT NOT NULL,
            run_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            step_key TEXT NOT NULL,
            event_name TEXT NOT NULL,
            match_path TEXT,
            match_value TEXT,
            condition TEXT,
            expires_at INTEGER NOT NULL,
            UNIQUE (run_id, step_key, event_name)
        );
        CREATE INDEX run_waits_by_match ON run_waits (environment, event_name, match_path, match_value);
        CREATE TABLE cron_schedules (
            environment TEXT NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            expression TEXT NOT NULL,
            time_zone TEXT NOT NULL,
            next_at INTEGER NOT NULL,
            PRIMARY KEY (environment, app_id, function_id, expression, time_zone),
            FOREIGN KEY (environment, app_id, function_id) REFERENCES functions ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX cron_schedules_due ON cron_schedules (environment, app_id, next_at);
        """,
        // 4: a rerun is a second run of a function on the same event, so "one run per function
        // per event" holds for triggered runs only. SQLite cannot drop a table constraint, so
        // the table is rebuilt, as https://www.sqlite.org/lang_altertable.html#otheralter
        // describes ("create new table, copy data, drop old table, rename new into old"); no
        // foreign key, view or trigger names runs.
        """
        CREATE TABLE runs_v4 (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            environment TEXT NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 0,
            available_at INTEGER,
            lease_token INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            output TEXT,
            error TEXT,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            ended_at INTEGER,
            rerun_of TEXT
        );
        INSERT INTO runs_v4 (seq, id, environment, app_id, function_id, event_id, status, attempt, available_at, lease_token,
                             lease_owner, output, error, created_at, started_at, ended_at)
            SELECT seq, id, environment, app_id, function_id, event_id, status, attempt, available_at, lease_token,
                   lease_owner, output, error, created_at, started_at, ended_at FROM runs;
        DROP TABLE runs;
        ALTER TABLE runs_v4 RENAME TO runs;
        CREATE UNIQUE INDEX runs_once_per_event ON runs (environment, app_id, function_id, event_id) WHERE rerun_of IS NULL;
        CREATE INDEX runs_due ON runs (environment, app_id, available_at)
            WHERE status IN ('queued', 'running', 'sleeping', 'waiting');
        CREATE INDEX runs_by_event ON runs (event_id);
        CREATE INDEX runs_by_function ON runs (environment, function_id, id);
        """,
        // 5: a function's options are kept as one settings object (FunctionSettings), so a
        // setting added later needs no column; its cancelOn moves in. DROP COLUMN needs
        // SQLite 3.35 (https://www.sqlite.org/lang_altertable.html#altertabdropcol), and the
        // column is in no index, key or constraint, which DROP COLUMN requires.
        """
        ALTER TABLE functions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        UPDATE functions SET settings = json_object('cancel_on', json(cancel_on)) WHERE cancel_on IS NOT NULL;
        ALTER TABLE functions DROP COLUMN cancel_on;
        """,
        // 6: every attempt of a step, not only the last, for a run's timeline; and runs started
        // by several events (a batch): `runs.event_id` stays the first, and a run of more than
        // one lists them all in `run_events`, so a run of one event costs no extra row.
        """
        CREATE TABLE step_attempts (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            started_at INTEGER NOT NULL,
            ended_at INTEGER NOT NULL,
            PRIMARY KEY (run_id, key, attempt)
        ) WITHOUT ROWID;
        ALTER TABLE runs ADD COLUMN event_count INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE run_events (
            run_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            PRIMARY KEY (run_id, position)
        ) WITHOUT ROWID;
        """,
        // 7: flow control. A run keeps its keys (`flow`, the JSON of RunFlow, and the columns
        // claims count by); a run that a full concurrency key holds back is parked: its
        // `available_at` is NULL, so it leaves the due index and costs claims nothing, and
        // `parked_rank` keeps its place for when a slot frees. The partial indexes hold only
        // the rows flow control uses, so runs without it pay nothing for them.
        """
        ALTER TABLE runs ADD COLUMN flow TEXT;
        ALTER TABLE runs ADD COLUMN concurrency_key_1 TEXT;
        ALTER TABLE runs ADD COLUMN concurrency_key_2 TEXT;
        ALTER TABLE runs ADD COLUMN rate_key TEXT;
        ALTER TABLE runs ADD COLUMN parked_on TEXT;
        ALTER TABLE runs ADD COLUMN parked_rank INTEGER;
        ALTER TABLE runs ADD COLUMN batch_key TEXT;
        ALTER TABLE runs ADD COLUMN debounce_key TEXT;
        ALTER TABLE runs ADD COLUMN singleton_key TEXT;
        CREATE INDEX runs_open_batches ON runs (environment, app_id, function_id, batch_key, seq)
            WHERE batch_key IS NOT NULL AND status = 'queued' AND started_at IS NULL;
        CREATE INDEX runs_pending_debounces ON runs (environment, app_id, function_id, debounce_key)
            WHERE debounce_key IS NOT NULL AND status = 'queued' AND started_at IS NULL;
        CREATE INDEX runs_active_singletons ON runs (environment, app_id, function_id, singleton_key)
            WHERE singleton_key IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting');
        CREATE INDEX runs_running_by_key_1 ON runs (concurrency_key_1) WHERE status = 'running' AND concurrency_key_1 IS NOT NULL;
        CREATE INDEX runs_running_by_key_2 ON runs (concurrency_key_2) WHERE status = 'running' AND concurrency_key_2 IS NOT NULL;
        CREATE INDEX runs_parked ON runs (parked_on, parked_rank, seq) WHERE parked_on IS NOT NULL;
        CREATE INDEX runs_by_rate_key ON runs (environment, app_id, function_id, rate_key, created_at) WHERE rate_key IS NOT NULL;
        -- Listings of the runs of an environment, newest first, with or without a status:
        -- without these, a page of runs sorted every run of the environment (measured by the
        -- dashboard bench: 4.8 s a page with a million runs).
        CREATE INDEX runs_by_environment ON runs (environment, id);
        CREATE INDEX runs_by_status ON runs (environment, status, id);
        CREATE TABLE throttles (
            key TEXT PRIMARY KEY,
            tat INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE admissions (
            environment TEXT NOT NULL,
            event_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            app_id TEXT NOT NULL,
            function_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            run_id TEXT,
            decided_at INTEGER NOT NULL,
            PRIMARY KEY (environment, event_id, position)
        ) WITHOUT ROWID;
        """,
        // 8: retention (StoreRetention): ended runs by the time they ended, so a prune finds the
        // oldest without a scan (a partial index: runs in flight, the claims' rows, are not in
        // it), and the runs that name an event in their event list, so a prune can tell which
        // events a run still needs.
        """
        CREATE INDEX runs_ended ON runs (environment, ended_at) WHERE status IN ('completed', 'failed', 'cancelled');
        CREATE INDEX run_events_by_event ON run_events (event_id);
        """,
        // 9: turns across concurrency keys (RunFlow.Concurrency.turn): how many queued runs of a
        // key are due, counted in a partial index that holds only those, so the count costs
        // the key's turn (at most ten entries) however long its parked backlog. And throttle
        // states by time, so that a prune finds those run out without reading every key.
        """
        CREATE INDEX throttles_by_tat ON throttles (tat);
        CREATE INDEX runs_due_by_key_1 ON runs (concurrency_key_1)
            WHERE status = 'queued' AND available_at IS NOT NULL AND concurrency_key_1 IS NOT NULL;
        CREATE INDEX runs_due_by_key_2 ON runs (concurrency_key_2)
            WHERE status = 'queued' AND available_at IS NOT NULL AND concurrency_key_2 IS NOT NULL;
        """,
        // 10: the trace each event was sent in (TraceContext, as JSON text), read back with the
        // event by the runs it triggers, so that their spans continue that trace. NULL when no
        // tracer was recording: an app without tracing stores nothing more.
        """
        ALTER TABLE events ADD COLUMN trace_context TEXT;
        """,
    ]

    static var latestVersion: Int { all.count }

    static func migrate(_ connection: SQLiteConnection) throws {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let version = Int(try connection.scalarInteger("PRAGMA user_version") ?? 0)
            guard version <= latestVersion else {
                throw SQLiteStoreError.schemaTooNew(found: version, known: latestVersion)
            }
            for migration in all[version...] {
                try connection.execute(migration)
            }
            if version < latestVersion {
                try connection.execute("PRAGMA user_version = \(latestVersion)")
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
