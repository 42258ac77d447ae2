//! Retries of a remote operation: transient failures again with the
//! shared backoff, permanent ones at once.

use crate::error::Result;

/// Run `op` up to `attempts` times with exponential backoff, unless the
/// error is permanent (no bucket, access denied, a damaged local file).
pub(crate) async fn retrying<T, F, Fut>(attempts: u32, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut backoff = eventstore_backoff::Backoff::remote();
    let mut n = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if n < attempts.max(1) && e.is_transient() => {
                tokio::time::sleep(backoff.next_delay()).await;
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
