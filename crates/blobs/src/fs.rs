//! The local filesystem backend of [`BlobStore`].
//!
//! Layout under the root directory given to [`FsBlobStore::open`]:
//!
//! ```text
//! <root>/
//! ├── blobs/                       committed blobs, immutable, read-only permissions
//! │   ├── sha256/
//! │   │   └── ab/                  fan-out: first two hex digits of the digest
//! │   │       └── abcdef0123…      the blob's bytes, named by the full hex digest
//! │   └── sha512/
//! │       └── …
//! └── uploads/
//!     └── <id>                     bytes of an upload session, appended in order
//! ```
//!
//! Guarantees:
//! - A path under `blobs/` either does not exist or holds the complete bytes that hash to its
//!   name, even after a crash at any instant: commit hashes the upload, syncs it, renames it
//!   into place and syncs the destination directory. Nothing is ever written in place there.
//!   The upload file itself is what gets renamed, so commit leaves no temporary files behind;
//!   an upload orphaned by a crash stays under `uploads/` and shows up in `list_uploads`.
//! - Upload ids are validated before a path is built from them.
//! - Memory per transfer is bounded whatever the blob size: appends pass through a small
//!   channel into a blocking writer thread that hashes while it writes, and reads come from a
//!   blocking reader thread through a channel of two 256 KiB chunks.
//! - Appends to one upload are serialized; different uploads proceed in parallel.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_oci::{Algorithm, Digest, DigestHasher};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{mpsc, OwnedMutexGuard};

use crate::{valid_upload_id, BlobError, BlobStore, ByteStream};

/// Size of each chunk a download sends.
const READ_CHUNK: usize = 256 * 1024;
/// Chunks a download may have queued ahead of the client. The reader fills a chunk only
/// once a slot is free, so a download holds at most this many chunks plus the one the
/// connection is writing: about 512 KiB.
const READ_QUEUE: usize = 1;
/// Body pieces an append may have queued ahead of the writer thread.
const WRITE_QUEUE: usize = 4;
/// Size the body is gathered into before it is handed to the writer thread.
const WRITE_PIECE: usize = 256 * 1024;
/// Write buffer of an append: coalesces small network chunks into fewer system calls, while
/// chunks at least this large go straight to the file without an extra copy.
const WRITE_BUFFER: usize = 64 * 1024;
/// Buffer used when a whole file has to be hashed.
const HASH_BUFFER: usize = 1024 * 1024;

/// Blob storage in a local directory. See the module documentation for the layout.
pub struct FsBlobStore {
    blobs: PathBuf,
    uploads: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Per-upload lock guarding the incremental hash of the bytes written so far.
///
/// `None` means unknown (after a restart or a failed write); it is rebuilt from the file.
type Session = Arc<tokio::sync::Mutex<Option<HashState>>>;

/// Running sha256 of an upload's first `len` bytes.
#[derive(Clone)]
struct HashState {
    hasher: DigestHasher,
    len: u64,
}

/// What the body pump hands to the writer thread.
enum Piece {
    Chunk(Bytes),
    /// The body stream finished cleanly; without it a closed channel means interrupted.
    End,
}

/// How the writer thread's receive loop finished.
enum Received {
    Complete,
    Interrupted,
    WrongSize { expected: u64, actual: u64 },
}

/// Successful outcome of the writer thread.
enum Appended {
    Complete(u64),
    Interrupted,
}

/// What the writer thread needs to know about one append.
struct AppendJob {
    id: String,
    path: PathBuf,
    offset: u64,
    limit: Option<u64>,
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    ///
    /// Directories that did not exist are created and their parents synced, so the layout
    /// survives a crash. Fails with [`BlobError::Io`] if the root cannot be created or read.
    pub async fn open(root: &Path) -> Result<Self, BlobError> {
        let root = root.to_path_buf();
        let (blobs, uploads) =
            blocking("creating storage directories", move || create_layout(&root)).await?;
        Ok(Self {
            blobs,
            uploads,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        let fan_out = hex.get(..2).unwrap_or(hex);
        self.blobs
            .join(digest.algorithm().as_str())
            .join(fan_out)
            .join(hex)
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf, BlobError> {
        if valid_upload_id(id) {
            Ok(self.uploads.join(id))
        } else {
            Err(BlobError::UploadUnknown(id.to_owned()))
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The map holds no invariant a panicking holder could break, so poison is ignored.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session(&self, id: &str) -> Session {
        self.sessions().entry(id.to_owned()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        self.sessions().remove(id);
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_err("reading blob metadata")(err)),
        }
    }

    async fn read(&self, digest: &Digest, start: u64, len: u64) -> Result<ByteStream, BlobError> {
        let path = self.blob_path(digest);
        let file = blocking("opening blob", move || open_at(&path, start)).await?;

        let (tx, rx) = mpsc::channel(READ_QUEUE);
        let runtime = tokio::runtime::Handle::current();
        // Detached on purpose: the thread stops by itself when the stream is dropped.
        drop(tokio::task::spawn_blocking(move || {
            send_range(&runtime, file, len, &tx)
        }));

        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(stream))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool, BlobError> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => {
                tracing::debug!(digest = %digest, "blob deleted");
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(io_err("deleting blob")(err)),
        }
    }

    async fn start_upload(&self, id: &str) -> Result<(), BlobError> {
        let path = self.upload_path(id)?;
        tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io_err("creating upload file"))?;

        let empty = HashState {
            hasher: DigestHasher::new(Algorithm::Sha256),
            len: 0,
        };
        let session = Arc::new(tokio::sync::Mutex::new(Some(empty)));
        self.sessions().insert(id.to_owned(), session);
        Ok(())
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        limit: Option<u64>,
        body: ByteStream,
    ) -> Result<u64, BlobError> {
        let path = self.upload_path(id)?;
        // The owned guard moves into the writer thread, so the upload stays locked until the
        // thread is done even if this future is dropped midway.
        let guard = self.session(id).lock_owned().await;
        let job = AppendJob {
            id: id.to_owned(),
            path,
            offset,
            limit,
        };

        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_upload(&job, guard, rx));
        let pumped = pump(body, tx).await;
        let written = writer.await.map_err(join_err("writing upload"))?;

        match written {
            Ok(Appended::Complete(size)) => Ok(size),
            Ok(Appended::Interrupted) => {
                Err(BlobError::BodyInterrupted(pumped.err().unwrap_or_else(
                    || io::Error::new(io::ErrorKind::UnexpectedEof, "request body ended early"),
                )))
            }
            Err(err @ BlobError::UploadUnknown(_)) => {
                self.forget(id);
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    async fn upload_size(&self, id: &str) -> Result<u64, BlobError> {
        let path = self.upload_path(id)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.len()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Err(BlobError::UploadUnknown(id.to_owned()))
            }
            Err(err) => Err(io_err("reading upload metadata")(err)),
        }
    }

    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64, BlobError> {
        let upload = self.upload_path(id)?;
        let dest = self.blob_path(expected);
        // Holding the upload's lock keeps a concurrent append from growing the file mid-commit.
        let guard = self.session(id).lock_owned().await;
        let (owned_id, want) = (id.to_owned(), expected.clone());

        let committed = blocking("committing upload", move || {
            commit(&owned_id, &upload, &dest, &want, guard)
        })
        .await;
        self.forget(id);

        if let Ok(size) = committed {
            tracing::debug!(upload = id, digest = %expected, size, "upload committed");
        }
        committed
    }

    async fn cancel_upload(&self, id: &str) -> Result<(), BlobError> {
        let path = self.upload_path(id)?;
        self.forget(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_err("removing upload file")(err)),
        }
    }

    async fn cancel_idle_upload(&self, id: &str) -> Result<bool, BlobError> {
        let path = self.upload_path(id)?;
        let session = self.sessions().get(id).cloned();
        // Holding the session's lock while the file goes keeps an append or commit from
        // starting on it; a lock already held means a request is using the upload now.
        let _guard = match session.map(|s| s.try_lock_owned()) {
            Some(Err(_)) => return Ok(false),
            Some(Ok(guard)) => Some(guard),
            None => None,
        };
        self.forget(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(io_err("removing upload file")(err)),
        }
    }

    async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>, BlobError> {
        let dir = self.uploads.clone();
        blocking("listing uploads", move || list_uploads(&dir)).await
    }

    async fn list_blobs(&self) -> Result<Vec<Digest>, BlobError> {
        let dir = self.blobs.clone();
        blocking("listing blobs", move || list_blobs(&dir)).await
    }
}

/// Runs blocking filesystem work off the async runtime.
async fn blocking<T, F>(context: &'static str, work: F) -> Result<T, BlobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(join_err(context))?
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> BlobError {
    move |source| BlobError::Io { context, source }
}

fn join_err(context: &'static str) -> impl FnOnce(tokio::task::JoinError) -> BlobError {
    move |err| BlobError::Io {
        context,
        source: io::Error::other(err),
    }
}

fn create_layout(root: &Path) -> Result<(PathBuf, PathBuf), BlobError> {
    std::fs::create_dir_all(root).map_err(io_err("creating storage root"))?;
    let blobs = root.join("blobs");
    ensure_dir(&blobs)?;
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        ensure_dir(&blobs.join(algorithm.as_str()))?;
    }
    let uploads = root.join("uploads");
    ensure_dir(&uploads)?;
    Ok((blobs, uploads))
}

/// Creates `dir` if missing; a new directory's entry is synced so it survives a crash.
fn ensure_dir(dir: &Path) -> Result<(), BlobError> {
    match std::fs::create_dir(dir) {
        Ok(()) => dir.parent().map_or(Ok(()), sync_dir),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(io_err("creating storage directory")(err)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_err("syncing directory"))
}

fn open_at(path: &Path, start: u64) -> Result<File, BlobError> {
    let mut file = File::open(path).map_err(io_err("opening blob"))?;
    file.seek(SeekFrom::Start(start))
        .map_err(io_err("seeking in blob"))?;
    Ok(file)
}

/// Reader thread of a download: sends `len` bytes from the file's position, chunk by chunk.
fn send_range(
    runtime: &tokio::runtime::Handle,
    mut file: File,
    len: u64,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) {
    let mut remaining = len;
    while remaining > 0 {
        let want = usize::try_from(remaining).map_or(READ_CHUNK, |r| r.min(READ_CHUNK));
        // Waiting for a free slot before reading, rather than reading and then waiting,
        // keeps one chunk fewer per download in memory: with many clients at once that
        // is most of the server's footprint. A closed channel means the client left.
        let Ok(permit) = runtime.block_on(tx.reserve()) else {
            return;
        };
        let item = read_chunk(&mut file, want);
        let failed = item.is_err();
        permit.send(item);
        if failed {
            return;
        }
        remaining -= want as u64;
    }
}

/// Reads exactly `want` bytes into a fresh buffer. `read_to_end` fills spare capacity
/// without zeroing it first, which a resize-then-read would spend a tenth of a pull on.
fn read_chunk(file: &mut File, want: usize) -> io::Result<Bytes> {
    let mut chunk = Vec::with_capacity(want);
    file.take(want as u64).read_to_end(&mut chunk)?;
    if chunk.len() < want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob file is shorter than its recorded size",
        ));
    }
    Ok(Bytes::from(chunk))
}

/// Feeds the body into the writer thread; returns the body's error if it failed.
///
/// Network reads arrive in pieces of a few KiB; they are gathered into
/// [`WRITE_PIECE`]-sized pieces so the writer thread wakes once per piece rather than
/// once per network read. Bytes received before a failure are still handed over, so an
/// interrupted upload keeps everything the client sent.
async fn pump(mut body: ByteStream, tx: mpsc::Sender<Piece>) -> io::Result<()> {
    let mut pending = BytesMut::new();
    let outcome = loop {
        let item = tokio::select! {
            item = body.next() => item,
            // The writer gave up (bad offset, oversized body, disk error): stop reading.
            () = tx.closed() => return Ok(()),
        };
        let chunk = match item {
            None => break Ok(()),
            Some(Err(err)) => break Err(err),
            Some(Ok(chunk)) => chunk,
        };
        let piece = if pending.is_empty() && chunk.len() >= WRITE_PIECE {
            chunk
        } else {
            pending.extend_from_slice(&chunk);
            if pending.len() < WRITE_PIECE {
                continue;
            }
            pending.split().freeze()
        };
        if tx.send(Piece::Chunk(piece)).await.is_err() {
            return Ok(());
        }
    };
    // A failed send here means the writer already stopped, which it reports itself.
    if !pending.is_empty() && tx.send(Piece::Chunk(pending.freeze())).await.is_err() {
        return Ok(());
    }
    if outcome.is_ok() {
        tx.send(Piece::End).await.ok();
    }
    outcome
}

/// Writer thread of an append: checks the offset, then hashes and writes what arrives.
fn write_upload(
    job: &AppendJob,
    mut guard: OwnedMutexGuard<Option<HashState>>,
    mut rx: mpsc::Receiver<Piece>,
) -> Result<Appended, BlobError> {
    let file = open_upload(
        &job.id,
        &job.path,
        OpenOptions::new().read(true).append(true),
    )?;
    let size = file
        .metadata()
        .map_err(io_err("reading upload metadata"))?
        .len();
    if size != job.offset {
        return Err(BlobError::OffsetMismatch {
            expected: size,
            got: job.offset,
        });
    }

    let mut state = match guard.take() {
        Some(state) if state.len == size => state,
        _ => rebuild_state(&file)?,
    };
    let checkpoint = job.limit.map(|_| state.clone());

    let mut out = BufWriter::with_capacity(WRITE_BUFFER, &file);
    let received = receive(&mut out, &mut state, job, &mut rx)
        .and_then(|received| out.flush().map(|()| received))
        .map_err(io_err("writing upload data"))?;

    match received {
        Received::Complete => {
            let size = state.len;
            *guard = Some(state);
            Ok(Appended::Complete(size))
        }
        Received::Interrupted => {
            *guard = Some(state);
            Ok(Appended::Interrupted)
        }
        Received::WrongSize { expected, actual } => {
            file.set_len(job.offset)
                .map_err(io_err("rolling back upload"))?;
            *guard = checkpoint;
            tracing::debug!(upload = %job.id, expected, actual, "upload chunk size mismatch");
            Err(BlobError::SizeMismatch { expected, actual })
        }
    }
}

fn receive(
    out: &mut impl Write,
    state: &mut HashState,
    job: &AppendJob,
    rx: &mut mpsc::Receiver<Piece>,
) -> io::Result<Received> {
    while let Some(piece) = rx.blocking_recv() {
        let written = state.len - job.offset;
        let chunk = match (piece, job.limit) {
            (Piece::End, Some(expected)) if written != expected => {
                let actual = written;
                return Ok(Received::WrongSize { expected, actual });
            }
            (Piece::End, _) => return Ok(Received::Complete),
            (Piece::Chunk(chunk), _) => chunk,
        };

        let after = written + chunk.len() as u64;
        if let Some(expected) = job.limit.filter(|&expected| after > expected) {
            return Ok(Received::WrongSize {
                expected,
                actual: after,
            });
        }
        out.write_all(&chunk)?;
        state.hasher.update(&chunk);
        state.len += chunk.len() as u64;
    }
    Ok(Received::Interrupted)
}

fn open_upload(id: &str, path: &Path, options: &OpenOptions) -> Result<File, BlobError> {
    options.open(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => BlobError::UploadUnknown(id.to_owned()),
        _ => io_err("opening upload file")(err),
    })
}

/// Rehashes an upload whose running hash was lost (restart, failed write, outside change).
fn rebuild_state(file: &File) -> Result<HashState, BlobError> {
    let (hasher, len) = hash_file(file, Algorithm::Sha256)?;
    Ok(HashState { hasher, len })
}

fn hash_file(mut file: &File, algorithm: Algorithm) -> Result<(DigestHasher, u64), BlobError> {
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("rewinding upload file"))?;
    let mut hasher = DigestHasher::new(algorithm);
    let mut buf = vec![0u8; HASH_BUFFER];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((hasher, len)),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(io_err("hashing upload file")(err)),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

/// Verifies an upload against `expected` and publishes it at `dest`; returns its size.
fn commit(
    id: &str,
    upload: &Path,
    dest: &Path,
    expected: &Digest,
    mut guard: OwnedMutexGuard<Option<HashState>>,
) -> Result<u64, BlobError> {
    let file = open_upload(id, upload, OpenOptions::new().read(true).write(true))?;
    let size = file
        .metadata()
        .map_err(io_err("reading upload metadata"))?
        .len();

    let actual = match guard.take() {
        Some(state) if state.len == size && state.hasher.algorithm() == expected.algorithm() => {
            state.hasher.finalize()
        }
        _ => hash_file(&file, expected.algorithm())?.0.finalize(),
    };
    if actual != *expected {
        tracing::debug!(upload = id, expected = %expected, actual = %actual, "digest mismatch");
        remove_upload(upload);
        return Err(BlobError::DigestMismatch {
            expected: expected.clone(),
            actual,
        });
    }

    let exists = dest.try_exists().map_err(io_err("checking for blob"))?;
    if exists {
        // Another commit may have renamed the blob into place and not yet synced its
        // directory; syncing here makes this acknowledgement durable on its own.
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        tracing::debug!(upload = id, digest = %expected, "blob already stored, upload dropped");
        remove_upload(upload);
        return Ok(size);
    }
    publish(&file, upload, dest)?;
    Ok(size)
}

/// Makes a verified upload durable, then atomically gives it its blob name.
fn publish(file: &File, upload: &Path, dest: &Path) -> Result<(), BlobError> {
    // Read-only permissions make an accidental in-place write to a blob fail loudly.
    let mut perms = file
        .metadata()
        .map_err(io_err("reading upload metadata"))?
        .permissions();
    perms.set_readonly(true);
    file.set_permissions(perms)
        .map_err(io_err("protecting blob"))?;

    // The bytes must be on disk before the name points at them, or a crash could leave a
    // blob path with missing data.
    file.sync_all().map_err(io_err("syncing upload data"))?;

    let dir = dest.parent().ok_or_else(|| BlobError::Io {
        context: "locating blob directory",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    ensure_dir(dir)?;
    std::fs::rename(upload, dest).map_err(io_err("publishing blob"))?;

    // The rename is durable only once the directory holding the new name is synced.
    sync_dir(dir)
}

/// Best-effort removal: a leftover upload is harmless and is purged later as an orphan.
fn remove_upload(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove upload file");
        }
    }
}

fn list_uploads(dir: &Path) -> Result<Vec<(String, SystemTime)>, BlobError> {
    let mut uploads = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing uploads"))? {
        let entry = entry.map_err(io_err("listing uploads"))?;
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !valid_upload_id(&id) {
            continue;
        }
        match entry.metadata().and_then(|meta| meta.modified()) {
            Ok(modified) => uploads.push((id, modified)),
            // Removed between listing and stat: no longer an upload.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_err("reading upload metadata")(err)),
        }
    }
    Ok(uploads)
}

fn list_blobs(dir: &Path) -> Result<Vec<Digest>, BlobError> {
    let mut digests = Vec::new();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        for fan_out in read_names(&dir.join(algorithm.as_str()), true)? {
            let fan_dir = dir.join(algorithm.as_str()).join(&fan_out);
            for hex in read_names(&fan_dir, false)? {
                match Digest::parse(&format!("{}:{hex}", algorithm.as_str())) {
                    Ok(digest) if digest.hex().starts_with(&fan_out) => digests.push(digest),
                    _ => tracing::debug!(dir = %fan_dir.display(), name = %hex, "stray blob"),
                }
            }
        }
    }
    digests.sort();
    Ok(digests)
}

/// Names of the subdirectories (`dirs`) or files (`!dirs`) in a directory; an absent
/// directory has none. Anything else that lies there is skipped.
fn read_names(dir: &Path, dirs: bool) -> Result<Vec<String>, BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_err("listing blobs")(err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("listing blobs"))?;
        let kind = entry.file_type().map_err(io_err("listing blobs"))?;
        let wanted = if dirs { kind.is_dir() } else { kind.is_file() };
        match entry.file_name().to_str() {
            Some(name) if wanted => names.push(name.to_owned()),
            _ => tracing::debug!(path = %entry.path().display(), "stray entry in blob store"),
        }
    }
    Ok(names)
}
