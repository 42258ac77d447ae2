//! Text written by several commands: JSON strings and CSV fields.

use std::io::Write;

/// `s` as a JSON string, quotes included.
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `s` as one CSV field: as it is, or quoted (with quotes doubled) when it
/// holds a comma, a quote or a line break.
pub fn csv_field(out: &mut Vec<u8>, s: &str) {
    if !s.contains([',', '"', '\n', '\r']) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
    out.push(b'"');
}

/// A trade id as a JSON value: a number, or a string for a text id.
pub fn json_trade_id(out: &mut Vec<u8>, id: &eventstore_market::TradeId) {
    match id.as_text() {
        Some(t) => json_string(out, t),
        None => {
            let _ = write!(out, "{id}");
        }
    }
}

/// A trade id as a CSV field.
pub fn csv_trade_id(out: &mut Vec<u8>, id: &eventstore_market::TradeId) {
    match id.as_text() {
        Some(t) => csv_field(out, t),
        None => {
            let _ = write!(out, "{id}");
        }
    }
}
