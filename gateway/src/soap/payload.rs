//! A response body written in pieces: small text pieces built by `Markup`, and the large
//! ones (an ITI-39 document's base64, an MTOM attachment) as the buffers they were made in.
//!
//! The ITI renderers produce a [`Payload`]; `soap::reply_envelope` and `mtom::package` put
//! pieces before and after it; `app` hands the pieces to hyper as one body ([`Payload::into_body`])
//! with the exact Content-Length, so a 600 KB document is never copied on its way to the
//! socket (before, the payload, the envelope and the MTOM package each copied it once more).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// Well-formed XML (or MIME) in order, as pieces.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    parts: VecDeque<Bytes>,
    len: usize,
}

// === impl Payload ===

impl Payload {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a piece (empty ones are dropped: hyper would send nothing for them anyway).
    pub fn push(&mut self, piece: impl Into<Bytes>) -> &mut Self {
        let piece = piece.into();
        if !piece.is_empty() {
            self.len += piece.len();
            self.parts.push_back(piece);
        }
        self
    }

    /// Puts a piece before the others.
    pub fn prepend(&mut self, piece: impl Into<Bytes>) -> &mut Self {
        let piece = piece.into();
        if !piece.is_empty() {
            self.len += piece.len();
            self.parts.push_front(piece);
        }
        self
    }

    /// Appends every piece of `other`.
    pub fn append(&mut self, other: Payload) -> &mut Self {
        self.len += other.len;
        self.parts.extend(other.parts);
        self
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces joined (one copy: for tests and callers that need one buffer).
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.len() {
            0 => Bytes::new(),
            1 => self.parts[0].clone(),
            _ => {
                let mut out = Vec::with_capacity(self.len);
                for p in &self.parts {
                    out.extend_from_slice(p);
                }
                Bytes::from(out)
            }
        }
    }

    /// The pieces as an HTTP body of known length (hyper writes them with one vectored write
    /// where it can, and sends `Content-Length`, as for a single buffer).
    pub fn into_body(self) -> axum::body::Body {
        if self.parts.len() == 1 {
            return axum::body::Body::from(self.to_bytes());
        }
        axum::body::Body::new(Pieces(self))
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        let mut p = Self::new();
        p.push(s);
        p
    }
}

/// [`Payload`] as an `http_body::Body`: one data frame per piece.
struct Pieces(Payload);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let payload = &mut self.get_mut().0;
        Poll::Ready(payload.parts.pop_front().map(|piece| {
            payload.len -= piece.len();
            Ok(Frame::data(piece))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.0.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.len as u64)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_the_pieces_in_order_with_their_exact_length() {
        let mut p = Payload::from("<b>".to_string());
        p.push(Bytes::from_static(b"data")).push(String::new());
        p.prepend("<a>".to_string());
        let mut tail = Payload::new();
        tail.push("</b></a>".to_string());
        p.append(tail);
        assert_eq!(p.len(), 18);
        assert_eq!(&p.to_bytes()[..], b"<a><b>data</b></a>");
        let body = p.into_body();
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(18));
        let collected = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&collected[..], b"<a><b>data</b></a>");
    }
}
