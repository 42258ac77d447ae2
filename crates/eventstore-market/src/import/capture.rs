//! The lines of a recording as collectors write them: `<receive ns>
//! <json>` (hftbacktest), cryptofeed's `<receive seconds>: <json>` with
//! `<url> -> <ts>: <json>` for REST answers, `<url> <- <ts>: <json>` for
//! what the client sent and `<url> <-> <ts>` for a connection, or plain
//! JSON lines.

use crate::records::decimal;

/// One line of a recording, split.
pub(crate) struct CaptureLine<'a> {
    /// The receive time, if the line has one (ns).
    pub local: Option<i64>,
    /// The url of a REST answer.
    pub url: Option<&'a str>,
    pub json: &'a str,
}

/// Split `line`; `Ok(None)` for an empty line, a connection line, what
/// the client sent, or the collector's configuration.
pub(crate) fn split(line: &str) -> Result<Option<CaptureLine<'_>>, String> {
    let mut line = line.trim();
    // cryptofeed also writes its configuration as the first line.
    if line.is_empty()
        || line.contains(" <-> ")
        || line.contains(" <- ")
        || line.starts_with("configuration: ")
    {
        return Ok(None);
    }
    let mut url = None;
    if !line.starts_with('{') {
        if let Some((u, rest)) = line.split_once(" -> ") {
            url = Some(u);
            line = rest;
        }
    }
    let (local, json) = match line.split_once(' ') {
        Some((ns, rest)) if !ns.is_empty() && ns.bytes().all(|b| b.is_ascii_digit()) => (
            Some(
                ns.parse::<i64>()
                    .map_err(|_| format!("receive time {ns:?} is not a number of ns"))?,
            ),
            rest,
        ),
        Some((secs, rest)) if secs.ends_with(':') && !line.starts_with('{') => (
            Some(
                decimal::parse(&secs[..secs.len() - 1], 9)
                    .map_err(|_| format!("receive time {secs:?} is not seconds"))?,
            ),
            rest,
        ),
        _ => (None, line),
    };
    Ok(Some(CaptureLine { local, url, json }))
}
