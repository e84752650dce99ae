//! ITI-39 Cross Gateway Retrieve.
//!
//! soap::envelope → `parse` (1..n DocumentRequests; Epic sends up to 10) → `handle`: each
//! request's HomeCommunityId and RepositoryUniqueId checked, then one backend call for all
//! valid uniqueIds (waiting, bounded, on in-flight prefetches) → `render` →
//! RetrieveDocumentSetResponse with the documents as MTOM attachments (`xop:Include`) when the
//! request was MTOM, inline base64 otherwise.

use base64::Engine as _;
use bytes::Bytes;

use super::registry::{self, RS_NS, RegistryCode, RegistryError, XDSB_NS};
use super::{Ctx, Iti, Reply};
use crate::backend::Retrieved;
use crate::error::{GatewayError, registry_error_for_backend, registry_error_for_failure};
use crate::soap::element::Element;
use crate::soap::envelope::Envelope;
use crate::soap::markup::Markup;
use crate::soap::mtom::Attachment;
use crate::soap::payload::Payload;

const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";

/// One DocumentRequest as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRequest {
    pub home: Option<String>,
    pub repository: String,
    pub unique_id: String,
}

/// The result for one DocumentRequest.
#[derive(Debug, Clone)]
pub enum Item {
    Document { mime: &'static str, data: Bytes },
    Error(RegistryError),
}

/// Reads the DocumentRequests.
pub fn parse(payload: &Element, max: usize) -> Result<Vec<DocumentRequest>, GatewayError> {
    if !payload.is(XDSB_NS, "RetrieveDocumentSetRequest") {
        return Err(GatewayError::Payload(
            "The SOAP Body must hold a RetrieveDocumentSetRequest.",
        ));
    }
    let text = |e: &Element, l: &str| {
        e.child(XDSB_NS, l)
            .map(|c| c.text_trimmed().to_string())
            .filter(|s| !s.is_empty())
    };
    let reqs: Vec<DocumentRequest> = payload
        .children_named(XDSB_NS, "DocumentRequest")
        .map(|d| DocumentRequest {
            home: text(d, "HomeCommunityId"),
            repository: text(d, "RepositoryUniqueId").unwrap_or_default(),
            unique_id: text(d, "DocumentUniqueId").unwrap_or_default(),
        })
        .collect();
    if reqs.is_empty() {
        return Err(GatewayError::Payload(
            "The RetrieveDocumentSetRequest has no DocumentRequest.",
        ));
    }
    if reqs.len() > max {
        return Err(GatewayError::Payload(
            "The RetrieveDocumentSetRequest has more DocumentRequests than this service accepts.",
        ));
    }
    Ok(reqs)
}

/// Checks each request and fetches the valid ones in one backend call.
pub async fn handle(reqs: &[DocumentRequest], cx: &Ctx<'_>) -> Result<Vec<Item>, GatewayError> {
    let home = cx.config.home_community_urn();
    let mut items: Vec<Option<Item>> = reqs
        .iter()
        .map(|r| {
            let err = |code, context| Some(Item::Error(RegistryError::error(code, context)));
            match r.home.as_deref() {
                None => err(
                    RegistryCode::MissingHomeCommunityId,
                    "The DocumentRequest has no HomeCommunityId.",
                ),
                Some(h) if h != home => err(
                    RegistryCode::UnknownCommunity,
                    "The HomeCommunityId is not this community.",
                ),
                _ if r.repository != cx.config.repository_unique_id => err(
                    RegistryCode::UnknownRepositoryId,
                    "The RepositoryUniqueId is not this community's repository.",
                ),
                _ if r.unique_id.is_empty() => err(
                    RegistryCode::DocumentUniqueIdError,
                    "The DocumentRequest has no DocumentUniqueId.",
                ),
                _ => None,
            }
        })
        .collect();
    let wanted: Vec<String> = reqs
        .iter()
        .zip(&items)
        .filter(|(_, i)| i.is_none())
        .map(|(r, _)| r.unique_id.clone())
        .collect();
    if !wanted.is_empty() {
        let mut results = match cx.backend.retrieve(&wanted, cx.caller).await {
            Ok(r) => r.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => {
                let err = registry_error_for_backend(&e, true)?;
                vec![Err(err); wanted.len()]
            }
        }
        .into_iter();
        let denied = || {
            Item::Error(RegistryError::error(
                RegistryCode::RegistryError,
                "The SAML assertion does not authorise access to this document's patient.",
            ))
        };
        for slot in items.iter_mut().filter(|i| i.is_none()) {
            *slot = Some(match results.next() {
                // The backend checks the document's patient; so does this layer, whatever the
                // backend.
                Some(Ok(Retrieved::Found { meta, .. }))
                    if cx.caller.patient.is_some_and(|p| p != meta.nhs_number) =>
                {
                    crate::caller::deny_document(
                        cx.caller,
                        cx.backend,
                        meta.nhs_number,
                        &meta.unique_id,
                    );
                    denied()
                }
                Some(Ok(Retrieved::Found { document, .. })) => Item::Document {
                    mime: "text/xml",
                    data: document,
                },
                Some(Ok(Retrieved::Failed(f))) => Item::Error(registry_error_for_failure(&f, true)),
                Some(Ok(Retrieved::Denied)) => denied(),
                Some(Err(e)) => Item::Error(e),
                Some(Ok(Retrieved::Unknown)) | None => Item::Error(RegistryError::error(
                    RegistryCode::DocumentUniqueIdError,
                    "The document is not available.",
                )),
            });
        }
    }
    Ok(items.into_iter().flatten().collect())
}

/// Writes the response for community `home` and repository `repository`; with `mtom`,
/// documents become attachments. A document's base64 is its own piece of the payload, encoded
/// once into a buffer of its exact size and never copied after that.
pub fn render(
    reqs: &[DocumentRequest],
    items: &[Item],
    home: &str,
    repository: &str,
    mtom: bool,
) -> (Payload, Vec<Attachment>) {
    let errors: Vec<RegistryError> = items
        .iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some(e.clone()),
            Item::Document { .. } => None,
        })
        .collect();
    let docs = items.len() - errors.len();
    // Warnings do not make an answer partial (ITI TF-3 4.2.4.2), only documents not returned.
    let failed = errors.iter().filter(|e| !e.warning).count();
    let status = match (docs, failed) {
        (_, 0) => registry::STATUS_SUCCESS,
        (0, _) => registry::STATUS_FAILURE,
        _ => registry::STATUS_PARTIAL,
    };
    let mut attachments = Vec::new();
    let mut payload = Payload::new();
    let mut m = Markup::new();
    m.open(
        "xdsb:RetrieveDocumentSetResponse",
        &[("xmlns:xdsb", XDSB_NS), ("xmlns:rs", RS_NS)],
    );
    m.open("rs:RegistryResponse", &[("status", status)]);
    registry::write_error_list(&mut m, &errors, home);
    m.close("rs:RegistryResponse");
    for (r, item) in reqs.iter().zip(items) {
        let Item::Document { mime, data } = item else {
            continue;
        };
        m.open("xdsb:DocumentResponse", &[]);
        m.leaf("xdsb:HomeCommunityId", &[], home);
        m.leaf("xdsb:RepositoryUniqueId", &[], repository);
        m.leaf("xdsb:DocumentUniqueId", &[], &r.unique_id);
        m.leaf("xdsb:mimeType", &[], mime);
        m.open("xdsb:Document", &[]);
        if mtom {
            let cid = format!(
                "doc{}.{}@xhuma",
                attachments.len(),
                uuid::Uuid::new_v4().simple()
            );
            m.empty(
                "xop:Include",
                &[("xmlns:xop", XOP_NS), ("href", &format!("cid:{cid}"))],
            );
            attachments.push(Attachment {
                content_id: cid,
                content_type: (*mime).to_string(),
                data: data.clone(),
            });
        } else {
            payload.push(m.take());
            payload.push(base64::engine::general_purpose::STANDARD.encode(data));
        }
        m.close("xdsb:Document");
        m.close("xdsb:DocumentResponse");
    }
    m.close("xdsb:RetrieveDocumentSetResponse");
    payload.push(m.finish());
    (payload, attachments)
}

pub async fn respond(env: &Envelope, cx: &Ctx<'_>) -> Result<Reply, GatewayError> {
    let reqs = parse(&env.payload, cx.config.max_document_requests)?;
    let items = handle(&reqs, cx).await?;
    let home = cx.config.home_community_urn();
    let (payload, attachments) = render(
        &reqs,
        &items,
        &home,
        &cx.config.repository_unique_id,
        cx.mtom,
    );
    let found = items
        .iter()
        .filter(|i| matches!(i, Item::Document { .. }))
        .count();
    let outcome = match (found, items.len() - found) {
        (_, 0) => "ok",
        (0, _) => "registry_error",
        _ => "partial",
    };
    Ok(Reply {
        action: Iti::Iti39.response_action(),
        payload,
        attachments,
        outcome,
    })
}
