//! MTOM/XOP: `multipart/related` requests in, `multipart/related` responses out.
//!
//! In: `app` hands over the Content-Type and body; [`unpack`] takes the boundary and the
//! `start` parameter from the Content-Type (by hand: Epic's parameters are not always quoted
//! the way MIME libraries expect), splits the parts (CRLF or bare LF), and returns the root
//! part plus the others by Content-ID so `envelope` can resolve `xop:Include`.
//!
//! Out: [`package`] puts the SOAP envelope first (some clients, zeep among them, take the first
//! part as the root whatever `start` says) and each [`Attachment`] after it; ITI-39 refers to
//! its documents with `xop:Include href="cid:…"`.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;

use super::payload::Payload;

/// Most MIME parts accepted in one request.
pub const MAX_PARTS: usize = 64;

/// Why a multipart body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MtomError {
    #[error("multipart/related without a boundary parameter")]
    NoBoundary,
    #[error("the multipart body is malformed")]
    Malformed,
    #[error("the multipart body has too many parts")]
    TooManyParts,
    #[error("the root part is not application/xop+xml or application/soap+xml")]
    RootType,
    #[error("a part uses an unsupported Content-Transfer-Encoding")]
    Encoding,
}

/// An unpacked MTOM request.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    /// The SOAP envelope (root part).
    pub root: Bytes,
    /// The other parts by Content-ID (without angle brackets).
    pub parts: HashMap<String, Bytes>,
}

/// A binary part of an MTOM response.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Without angle brackets; referenced as `cid:<content_id>`.
    pub content_id: String,
    pub content_type: String,
    pub data: Bytes,
}

/// True for a `multipart/related` Content-Type.
pub fn is_multipart(content_type: &str) -> bool {
    media_type(content_type).eq_ignore_ascii_case("multipart/related")
}

/// The media type of a Content-Type value, without parameters.
pub fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// A Content-Type parameter (case-insensitive name; quotes removed).
pub fn param(content_type: &str, name: &str) -> Option<String> {
    let mut rest = content_type.split_once(';')?.1;
    loop {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].split_once(';').map(|(_, n)| n))
        } else {
            match after.split_once(';') {
                Some((v, n)) => (v, Some(n)),
                None => (after, None),
            }
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(value.trim().to_string());
        }
        rest = next?;
    }
}

impl Multipart {
    /// `xop:Include/@href` → the base64 of the referenced part.
    pub fn resolve(&self, href: &str) -> Option<String> {
        let cid = href.strip_prefix("cid:")?;
        let cid = percent_decode(cid);
        self.parts
            .get(&cid)
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
    }
}

/// Splits an MTOM request body.
pub fn unpack(content_type: &str, body: &Bytes) -> Result<Multipart, MtomError> {
    let boundary = param(content_type, "boundary").ok_or(MtomError::NoBoundary)?;
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(MtomError::NoBoundary);
    }
    let start = param(content_type, "start").map(|s| strip_angle(&s).to_string());
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let data = body.as_ref();
    // The first delimiter may follow a preamble; later ones follow a line break.
    let mut pos = find(data, delim, 0).ok_or(MtomError::Malformed)?;
    let mut parts: Vec<(HashMap<String, String>, Bytes)> = Vec::new();
    loop {
        let after = pos + delim.len();
        if data.get(after..after + 2) == Some(b"--") {
            break;
        }
        let line_end = find(data, b"\n", after).ok_or(MtomError::Malformed)?;
        let headers_start = line_end + 1;
        let (headers, content_start) = read_headers(data, headers_start)?;
        let next = find_delimiter(data, delim, content_start).ok_or(MtomError::Malformed)?;
        let mut content_end = next;
        if content_end > content_start && data[content_end - 1] == b'\n' {
            content_end -= 1;
            if content_end > content_start && data[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        if parts.len() >= MAX_PARTS {
            return Err(MtomError::TooManyParts);
        }
        let content = decode(&headers, body.slice(content_start..content_end))?;
        parts.push((headers, content));
        pos = next;
    }
    if parts.is_empty() {
        return Err(MtomError::Malformed);
    }
    let cid = |h: &HashMap<String, String>| {
        h.get("content-id")
            .map(|c| strip_angle(c).to_string())
            .unwrap_or_default()
    };
    let root_index = start
        .as_deref()
        .and_then(|s| parts.iter().position(|(h, _)| cid(h) == s))
        .unwrap_or(0);
    let root_type = parts[root_index]
        .0
        .get("content-type")
        .map(|t| media_type(t).to_ascii_lowercase())
        .unwrap_or_default();
    if root_type != "application/xop+xml" && root_type != "application/soap+xml" {
        return Err(MtomError::RootType);
    }
    let mut out = Multipart::default();
    for (i, (h, content)) in parts.into_iter().enumerate() {
        if i == root_index {
            out.root = content;
        } else {
            out.parts.insert(cid(&h), content);
        }
    }
    Ok(out)
}

/// Builds an MTOM/XOP response: returns (HTTP Content-Type, body). The envelope's pieces and
/// each attachment's bytes become pieces of the body as they are (no copy); only the MIME
/// headers between them are written here.
pub fn package(envelope: Payload, attachments: &[Attachment]) -> (String, Payload) {
    let boundary = format!("MIMEBoundary_{}", uuid::Uuid::new_v4().simple());
    let root_id = format!("root.message.{}@xhuma", uuid::Uuid::new_v4().simple());
    let mut out = Payload::new();
    out.push(format!(
        "--{boundary}\r\n\
         Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n\
         Content-Transfer-Encoding: binary\r\n\
         Content-ID: <{root_id}>\r\n\r\n"
    ));
    out.append(envelope);
    for a in attachments {
        out.push(format!(
            "\r\n--{boundary}\r\n\
             Content-Type: {}\r\n\
             Content-Transfer-Encoding: binary\r\n\
             Content-ID: <{}>\r\n\r\n",
            a.content_type, a.content_id
        ));
        out.push(a.data.clone());
    }
    out.push(format!("\r\n--{boundary}--\r\n"));
    let content_type = format!(
        "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; \
         start=\"<{root_id}>\"; start-info=\"application/soap+xml\""
    );
    (content_type, out)
}

fn strip_angle(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The next delimiter that starts a line.
fn find_delimiter(hay: &[u8], delim: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let p = find(hay, delim, at)?;
        if p == 0 || hay[p - 1] == b'\n' {
            return Some(p);
        }
        at = p + 1;
    }
}

/// Reads part headers up to the blank line; returns them (lower-case names) and where the
/// content starts.
fn read_headers(data: &[u8], mut at: usize) -> Result<(HashMap<String, String>, usize), MtomError> {
    let mut headers = HashMap::new();
    loop {
        let end = find(data, b"\n", at).ok_or(MtomError::Malformed)?;
        let line = &data[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = end + 1;
        if line.is_empty() {
            return Ok((headers, at));
        }
        if headers.len() > 32 {
            return Err(MtomError::Malformed);
        }
        let line = std::str::from_utf8(line).map_err(|_| MtomError::Malformed)?;
        let (k, v) = line.split_once(':').ok_or(MtomError::Malformed)?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
}

fn decode(headers: &HashMap<String, String>, content: Bytes) -> Result<Bytes, MtomError> {
    let cte = headers
        .get("content-transfer-encoding")
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "binary".into());
    match cte.as_str() {
        "binary" | "8bit" | "7bit" => Ok(content),
        "base64" => {
            let cleaned: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map(Bytes::from)
                .map_err(|_| MtomError::Encoding)
        }
        _ => Err(MtomError::Encoding),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
