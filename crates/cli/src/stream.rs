//! Streamed bodies: a file sent as it is read (never held whole), its bytes and rows counted on
//! the way for the progress bar; an answer streamed into a file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use reqwest::{RequestBuilder, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::Api;
use crate::error::CliError;
use crate::progress::{Bar, RecordCounter};

/// Bytes read from a file per piece of the body.
const PIECE: usize = 256 * 1024;
/// How often the bar is redrawn while a request is under way.
const TICK: Duration = Duration::from_millis(100);

/// What a streamed body has sent so far, shared with the bar.
#[derive(Debug, Default)]
pub struct Counts {
    bytes: AtomicU64,
    records: AtomicU64,
    /// Why reading the input stopped, when it did not reach its end.
    failure: Mutex<Option<CliError>>,
}

impl Counts {
    pub fn set(&self, bytes: u64, records: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
        self.records.store(records, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Keeps the first reason the input could not be read.
    pub fn fail(&self, error: CliError) {
        let mut slot = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    fn take_failure(&self) -> Option<CliError> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// A length in bytes as a count: a `usize` is at most 64 bits on every target this builds for, so
/// the conversion loses nothing (it would saturate, never wrap, on a wider one).
pub fn byte_count(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Opens `path` for streaming: the file and its size.
pub async fn open(path: &Path) -> Result<(tokio::fs::File, u64), CliError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CliError::input(path, None, format!("cannot open: {e}")))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| CliError::input(path, None, format!("cannot read its size: {e}")))?
        .len();
    Ok((file, size))
}

/// The file as a request body read piece by piece, counting its records.
pub fn file_body(
    path: &Path,
    file: tokio::fs::File,
    counter: RecordCounter,
) -> (reqwest::Body, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let state = (file, counter, 0u64, Arc::clone(&counts), path.to_owned());
    let stream = futures_util::stream::try_unfold(
        state,
        |(mut file, mut counter, sent, counts, path)| async move {
            let mut piece = vec![0; PIECE];
            let read = match file.read(&mut piece).await {
                Ok(read) => read,
                Err(e) => {
                    let message = format!("reading stopped: {e}");
                    counts.fail(CliError::input(&path, None, message));
                    return Err(e);
                }
            };
            if read == 0 {
                return Ok(None);
            }
            piece.truncate(read);
            counter.feed(&piece);
            let sent = sent + byte_count(read);
            counts.set(sent, counter.records());
            Ok(Some((
                Bytes::from(piece),
                (file, counter, sent, counts, path),
            )))
        },
    );
    (reqwest::Body::wrap_stream(stream), counts)
}

/// Sends a request whose body streams, redrawing `bar` from `counts` until the answer comes;
/// `header_records` are records that are not rows (a CSV's header line). A failure to read the
/// input is reported as such, not as the connection it broke.
pub async fn send_counted(
    api: &Api,
    request: RequestBuilder,
    counts: &Counts,
    total: u64,
    header_records: u64,
    bar: &mut Bar<'_, '_>,
) -> Result<Response, CliError> {
    let send = api.send(request);
    tokio::pin!(send);
    let mut ticker = tokio::time::interval(TICK);
    let result = loop {
        tokio::select! {
            result = &mut send => break result,
            _ = ticker.tick() => {
                let rows = counts.records().saturating_sub(header_records);
                // Once everything is sent the API is storing it (one transaction) and answers
                // when it committed.
                let note = (counts.bytes() >= total).then_some("sent; storing");
                bar.transferred(counts.bytes(), rows, note);
            }
        }
    };
    match (result, counts.take_failure()) {
        (_, Some(input)) => Err(input),
        (result, None) => result,
    }
}

/// Streams a successful answer into `path` (through `path.part`, renamed once complete, so that
/// a failed export leaves no half file behind); the bytes and CSV records written.
pub async fn download(
    response: Response,
    path: &Path,
    bar: &mut Bar<'_, '_>,
) -> Result<(u64, u64), CliError> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let local =
        |context: String| move |source: std::io::Error| CliError::LocalIo { context, source };
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(local(format!("creating {}", part.display())))?;
    bar.set_total(response.content_length());
    let url = response.url().clone();
    let mut response = response;
    let mut counter = RecordCounter::csv();
    let mut written = 0u64;
    let outcome = async {
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| crate::api::unreachable(&url, &e))?
        {
            file.write_all(&chunk)
                .await
                .map_err(local(format!("writing {}", part.display())))?;
            counter.feed(&chunk);
            written += byte_count(chunk.len());
            bar.transferred(written, counter.records().saturating_sub(1), None);
        }
        file.flush()
            .await
            .map_err(local(format!("writing {}", part.display())))?;
        file.sync_all()
            .await
            .map_err(local(format!("writing {}", part.display())))?;
        Ok::<(), CliError>(())
    }
    .await;
    if let Err(error) = outcome {
        // The half-written file goes; the error that stopped it is what the user sees.
        let _ = tokio::fs::remove_file(&part).await;
        return Err(error);
    }
    tokio::fs::rename(&part, path).await.map_err(local(format!(
        "renaming {} to {}",
        part.display(),
        path.display()
    )))?;
    Ok((written, counter.records().saturating_sub(1)))
}
