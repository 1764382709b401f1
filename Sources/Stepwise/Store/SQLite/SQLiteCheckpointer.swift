import CSQLite
import Synchronization

/// Moves the WAL's content into the database file on a connection and thread of its own,
/// so that the writer never stalls on it.
///
/// By default SQLite checkpoints inside the `COMMIT` that takes the WAL past 1000 pages, on
/// the committing connection: the writer then copies pages and fsyncs the database file
/// while every caller waiting for a commit waits too (seen as wake-up lateness spikes of
/// sleeping runs). Setting a WAL hook turns that off: "the sqlite3_wal_autocheckpoint()
/// interface and the wal_autocheckpoint pragma both invoke sqlite3_wal_hook() and will
/// overwrite any prior sqlite3_wal_hook() settings" (sqlite.org/c3ref/wal_hook.html). The
/// hook records the WAL's size after each commit; past the threshold a PASSIVE checkpoint
/// runs here, which "checkpoint[s] as many frames as possible without waiting for any
/// database readers or writers to finish" (sqlite.org/c3ref/wal_checkpoint_v2.html).
///
/// The trigger is the WAL's size, which counts the frames since the WAL last restarted; it
/// restarts only when a writer begins after a checkpoint that copied everything while no
/// reader was using it, so under load the size stays past the threshold and a checkpoint
/// follows nearly every commit, copying the few frames since the last one for two fsyncs
/// (about 1.5 checkpoint fsyncs per three-step run). Triggering on the growth since the last
/// checkpoint instead cut that to 0.06 but made runs slower in every A/B pair: one large
/// checkpoint's burst of writes delays the writer's own fsyncs more than many small ones on
/// another thread do (Docs/Benchmarks.md, issue 15).
final class SQLiteCheckpointer: Sendable {
    /// The WAL size, in pages, that starts a checkpoint: SQLite's own default threshold.
    static let thresholdPages = 1000

    /// What the WAL hook writes and the writer reads. A class, so that the C callback can
    /// reach it through an unmanaged pointer held by the writer connection.
    final class WALSize: Sendable {
        let pages = Atomic<Int>(0)
    }

    let walSize = WALSize()
    private let queue: SQLiteQueue
    private let running = Atomic<Bool>(false)
    /// Checkpoints that copied frames, each of which fsyncs the WAL and then the database
    /// file: for the benchmarks, which report checkpoint fsyncs per run.
    let checkpointsCopyingFrames = Atomic<Int>(0)
    /// The last checkpoint's answer, frames in the WAL and frames checkpointed, to tell
    /// whether the next one copied any.
    private let lastAnswer = Mutex<(log: Int, checkpointed: Int)>((0, 0))

    init(queue: SQLiteQueue) {
        self.queue = queue
    }

    /// Installs the hook on the writer connection (which disables its auto-checkpoint).
    func install(on connection: SQLiteConnection) {
        connection.setWALHook(walSize)
    }

    /// Called by the writer after each commit: starts a checkpoint if the WAL is large and
    /// none is running.
    func walDidGrow() {
        guard walSize.pages.load(ordering: .relaxed) >= Self.thresholdPages else { return }
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        queue.async { connection in
            // The pragma answers busy, the WAL's frames and how many of them are in the
            // database file now (sqlite.org/pragma.html#pragma_wal_checkpoint). SQLite syncs
            // only when it has frames to copy: when that count grew, or the WAL restarted
            // since the last answer.
            var log = 0
            var checkpointed = 0
            try? connection.query("PRAGMA wal_checkpoint(PASSIVE)", []) { row in
                log = Int(row.integer(1))
                checkpointed = Int(row.integer(2))
            }
            let copied = self.lastAnswer.withLock { last in
                defer { last = (log, checkpointed) }
                return checkpointed > 0 && (log < last.log || checkpointed > last.checkpointed)
            }
            if copied { self.checkpointsCopyingFrames.add(1, ordering: .relaxed) }
            self.running.store(false, ordering: .releasing)
        }
    }
}

extension SQLiteConnection {
    /// Sets the WAL hook to record the WAL's page count into `size` after each commit. The
    /// connection keeps `size` alive for as long as the hook can be called.
    func setWALHook(_ size: SQLiteCheckpointer.WALSize) {
        walHookContext = size
        let pointer = Unmanaged.passUnretained(size).toOpaque()
        sqlite3_wal_hook(handle, { context, _, _, pages in
            guard let context else { return SQLITE_OK }
            Unmanaged<SQLiteCheckpointer.WALSize>.fromOpaque(context).takeUnretainedValue().pages.store(Int(pages), ordering: .relaxed)
            return SQLITE_OK
        }, pointer)
    }
}
