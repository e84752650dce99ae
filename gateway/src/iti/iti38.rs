//! ITI-38 Cross Gateway Query (FindDocuments, GetDocuments).
//!
//! soap::envelope → `parse` → [`Query`] → `handle`: the backend's cached document (waiting,
//! bounded, on an in-flight prefetch) or an On-Demand placeholder → status, entry-type,
//! creation-time and code filters → `render` → AdhocQueryResponse with ObjectRefs or full
//! DocumentEntries. Errors are `rs:RegistryError`s chosen in `crate::error`.

mod entry;
mod slots;

use time::OffsetDateTime;
use xhuma_common::NhsNumber;

use super::discovery::hl7_ts;
use super::registry::{self, QUERY_NS, RIM_NS, RS_NS, RegistryCode, RegistryError};
use super::{Ctx, Iti, Reply};
use crate::backend::{Documents, Retrieved};
use crate::error::{GatewayError, registry_error_for_backend, registry_error_for_failure};
use crate::soap::element::Element;
use crate::soap::envelope::Envelope;
use crate::soap::markup::Markup;
pub use entry::{Entry, EntryKind};

pub const FIND_DOCUMENTS: &str = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";
pub const GET_DOCUMENTS: &str = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4";
const APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";

/// What an AdhocQueryRequest asks.
#[derive(Debug, Clone)]
pub struct Query {
    pub kind: Kind,
    /// `ResponseOption/@returnType` is `LeafClass` (full entries) rather than `ObjectRef`.
    pub leaf_class: bool,
    /// `AdhocQuery/@home`.
    pub home: Option<String>,
    /// The whole `rim:AdhocQuery` (its slots are read by `handle`).
    pub adhoc: Element,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    FindDocuments,
    GetDocuments,
}

/// Reads the query from the Body payload.
pub fn parse(payload: &Element) -> Result<Result<Query, RegistryError>, GatewayError> {
    if !payload.is(QUERY_NS, "AdhocQueryRequest") {
        return Err(GatewayError::Payload(
            "The SOAP Body must hold an AdhocQueryRequest.",
        ));
    }
    let adhoc = payload
        .child(RIM_NS, "AdhocQuery")
        .ok_or(GatewayError::Payload(
            "The AdhocQueryRequest has no AdhocQuery.",
        ))?;
    let leaf_class = payload
        .child(QUERY_NS, "ResponseOption")
        .and_then(|r| r.attr("returnType"))
        .map(|t| t.trim() == "LeafClass")
        .unwrap_or(false);
    let kind = match adhoc.attr("id").map(str::trim) {
        Some(FIND_DOCUMENTS) => Kind::FindDocuments,
        Some(GET_DOCUMENTS) => Kind::GetDocuments,
        _ => {
            return Ok(Err(RegistryError::error(
                RegistryCode::UnknownStoredQuery,
                "Only FindDocuments and GetDocuments are supported.",
            )));
        }
    };
    Ok(Ok(Query {
        kind,
        leaf_class,
        home: adhoc.attr("home").map(|h| h.trim().to_string()),
        adhoc: adhoc.clone(),
    }))
}

/// The answer before rendering.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub entries: Vec<Entry>,
    pub errors: Vec<RegistryError>,
}

impl Answer {
    fn error(e: RegistryError) -> Self {
        Self {
            entries: Vec::new(),
            errors: vec![e],
        }
    }
}

pub async fn respond(env: &Envelope, cx: &Ctx<'_>) -> Result<Reply, GatewayError> {
    let (answer, leaf) = match parse(&env.payload)? {
        Ok(query) => (handle(&query, cx).await?, query.leaf_class),
        Err(e) => (Answer::error(e), false),
    };
    let outcome = if answer.errors.iter().any(|e| !e.warning) {
        "registry_error"
    } else if answer.entries.is_empty() {
        "no_match"
    } else {
        "ok"
    };
    Ok(Reply {
        action: Iti::Iti38.response_action(),
        payload: render(&answer, leaf, cx).into(),
        attachments: Vec::new(),
        outcome,
    })
}

/// Runs the stored query.
pub async fn handle(q: &Query, cx: &Ctx<'_>) -> Result<Answer, GatewayError> {
    let home = cx.config.home_community_urn();
    match q.home.as_deref() {
        Some(h) if !h.is_empty() && h != home => {
            return Ok(Answer::error(RegistryError::error(
                RegistryCode::UnknownCommunity,
                "The homeCommunityId is not this community.",
            )));
        }
        None | Some("") if q.kind == Kind::GetDocuments => {
            return Ok(Answer::error(RegistryError::error(
                RegistryCode::MissingHomeCommunityId,
                "GetDocuments requires the homeCommunityId.",
            )));
        }
        _ => {}
    }
    match q.kind {
        Kind::FindDocuments => find_documents(q, cx).await,
        Kind::GetDocuments => get_documents(q, cx).await,
    }
}

async fn find_documents(q: &Query, cx: &Ctx<'_>) -> Result<Answer, GatewayError> {
    let ids = slots::values(&q.adhoc, "$XDSDocumentEntryPatientId");
    let [ids] = ids.as_slice() else {
        return Ok(Answer::error(param_number()));
    };
    let [id] = ids.as_slice() else {
        return Ok(Answer::error(param_number()));
    };
    let Some((nhs, authority)) = slots::patient_id(id) else {
        return Ok(Answer::error(RegistryError::error(
            RegistryCode::UnknownPatientId,
            "The patient id is not an NHS number known to this community.",
        )));
    };
    crate::caller::authorise_patient(cx.caller, cx.backend, nhs)?;
    let filter = Filter::read(&q.adhoc);
    if !filter.may_match() {
        return Ok(Answer::default());
    }
    let docs = match cx.backend.documents(nhs, cx.caller).await {
        Ok(d) => d,
        Err(e) => return Ok(Answer::error(registry_error_for_backend(&e, false)?)),
    };
    let candidate = match docs {
        Documents::Ready(meta) => Entry::stable(meta, authority, nhs),
        Documents::Pending {
            unique_id,
            entry_uuid,
        } => Entry::on_demand(unique_id, entry_uuid, nhs, authority),
        Documents::Failed(f) => return Ok(Answer::error(registry_error_for_failure(&f, false))),
    };
    Ok(filter.apply(candidate))
}

async fn get_documents(q: &Query, cx: &Ctx<'_>) -> Result<Answer, GatewayError> {
    let by_unique: Vec<String> = slots::values(&q.adhoc, "$XDSDocumentEntryUniqueId")
        .into_iter()
        .flatten()
        .collect();
    let by_uuid: Vec<String> = slots::values(&q.adhoc, "$XDSDocumentEntryEntryUUID")
        .into_iter()
        .flatten()
        .collect();
    let (unique_ids, wanted_uuids) = match (by_unique.is_empty(), by_uuid.is_empty()) {
        (false, true) => (by_unique, None),
        (true, false) => {
            // Our entryUUIDs and uniqueIds name the same UUID (`2.25.<uuid as integer>`).
            let ids = by_uuid
                .iter()
                .filter_map(|u| {
                    uuid::Uuid::parse_str(u.trim().trim_start_matches("urn:uuid:")).ok()
                })
                .map(xhuma_common::job::unique_id_for)
                .collect();
            (ids, Some(by_uuid))
        }
        _ => return Ok(Answer::error(param_number())),
    };
    if unique_ids.is_empty() || unique_ids.len() > cx.config.max_document_requests {
        return Ok(Answer::default());
    }
    let found = match cx.backend.retrieve(&unique_ids, cx.caller).await {
        Ok(f) => f,
        Err(e) => return Ok(Answer::error(registry_error_for_backend(&e, false)?)),
    };
    let mut answer = Answer::default();
    for r in found {
        if let Retrieved::Found { meta, .. } = r {
            if cx.caller.patient.is_some_and(|p| p != meta.nhs_number) {
                crate::caller::deny_document(
                    cx.caller,
                    cx.backend,
                    meta.nhs_number,
                    &meta.unique_id,
                );
                continue;
            }
            if let Some(w) = &wanted_uuids
                && !w.iter().any(|u| same_uuid(u, &meta.entry_uuid))
            {
                continue;
            }
            let nhs = meta.nhs_number;
            let entry = Entry::stable(meta, super::discovery::NHS_OID, nhs);
            answer.errors.extend(entry.warnings());
            answer.entries.push(entry);
        }
    }
    Ok(answer)
}

fn same_uuid(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("urn:uuid:")
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

fn param_number() -> RegistryError {
    RegistryError::error(
        RegistryCode::StoredQueryParamNumber,
        "A required query parameter is missing or repeated.",
    )
}

/// The FindDocuments filters that apply to our single document.
struct Filter {
    statuses: Option<Vec<String>>,
    /// `None`: not given → both kinds (a deliberate leniency: Epic does not send the slot).
    entry_types: Option<Vec<String>>,
    from: Option<slots::TimeBound>,
    to: Option<slots::TimeBound>,
    /// Every code slot given, each a list of acceptable codes (AND across slots).
    codes: Vec<(&'static str, Vec<String>)>,
}

impl Filter {
    fn read(adhoc: &Element) -> Self {
        let flat = |name: &str| {
            slots::present(adhoc, name).then(|| {
                slots::values(adhoc, name)
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
            })
        };
        let first = |name: &str| {
            flat(name).and_then(|v| v.first().and_then(|s| slots::TimeBound::parse(s)))
        };
        let mut codes = Vec::new();
        for (slot, ours) in entry::CODE_SLOTS {
            for list in slots::values(adhoc, slot) {
                codes.push((*ours, slots::codes(&list)));
            }
        }
        Self {
            statuses: flat("$XDSDocumentEntryStatus"),
            entry_types: flat("$XDSDocumentEntryType"),
            from: first("$XDSDocumentEntryCreationTimeFrom"),
            to: first("$XDSDocumentEntryCreationTimeTo"),
            codes,
        }
    }

    /// False when the filters exclude our document whatever it is (no backend call then).
    fn may_match(&self) -> bool {
        let approved = self
            .statuses
            .as_ref()
            .is_none_or(|s| s.iter().any(|v| v == APPROVED || v.ends_with(":Approved")));
        let types = self.entry_types.as_ref().is_none_or(|t| {
            t.iter()
                .any(|v| v == entry::STABLE_TYPE || v == entry::ON_DEMAND_TYPE)
        });
        let codes = self
            .codes
            .iter()
            .all(|(ours, wanted)| wanted.iter().any(|w| w == ours));
        approved && types && codes
    }

    fn allows(&self, kind_uuid: &str) -> bool {
        self.entry_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|v| v == kind_uuid))
    }

    fn apply(&self, candidate: Entry) -> Answer {
        // A cached document is offered as Stable (it has hash and size) unless only
        // On-Demand entries are asked for; an in-flight one only as On-Demand.
        let entry = match candidate.kind {
            EntryKind::Stable if self.allows(entry::STABLE_TYPE) => candidate,
            EntryKind::Stable if self.allows(entry::ON_DEMAND_TYPE) => candidate.into_on_demand(),
            EntryKind::OnDemand if self.allows(entry::ON_DEMAND_TYPE) => candidate,
            _ => return Answer::default(),
        };
        let created = entry
            .meta
            .as_ref()
            .map(|m| m.created)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let ts = hl7_ts(created);
        if self.from.as_ref().is_some_and(|f| !f.at_or_before(&ts))
            || self.to.as_ref().is_some_and(|t| !t.after(&ts))
        {
            return Answer::default();
        }
        Answer {
            errors: entry.warnings(),
            entries: vec![entry],
        }
    }
}

/// Writes the AdhocQueryResponse. The status follows ITI TF-3 4.2.4.2: `Failure` when errors
/// left nothing to return, `PartialSuccess` only when errors left part of the answer out, and
/// `Success` when the query was answered in full, warnings or not (a GP record returned with
/// GP Connect warnings is complete as far as the query goes: its warnings travel as a
/// RegistryErrorList of severity Warning, which EHRs show as a note, not as a failure).
pub fn render(a: &Answer, leaf_class: bool, cx: &Ctx<'_>) -> String {
    let has_error = a.errors.iter().any(|e| !e.warning);
    let status = match (has_error, a.entries.is_empty()) {
        (true, true) => registry::STATUS_FAILURE,
        (true, false) => registry::STATUS_PARTIAL,
        (false, _) => registry::STATUS_SUCCESS,
    };
    let mut m = Markup::new();
    m.open(
        "query:AdhocQueryResponse",
        &[
            ("xmlns:query", QUERY_NS),
            ("xmlns:rim", RIM_NS),
            ("xmlns:rs", RS_NS),
            ("status", status),
        ],
    );
    let home = cx.config.home_community_urn();
    registry::write_error_list(&mut m, &a.errors, &home);
    m.open("rim:RegistryObjectList", &[]);
    for e in &a.entries {
        if leaf_class {
            e.write_extrinsic(&mut m, cx.config);
        } else {
            m.empty("rim:ObjectRef", &[("id", &e.entry_uuid), ("home", &home)]);
        }
    }
    m.close("rim:RegistryObjectList");
    m.close("query:AdhocQueryResponse");
    m.finish()
}

/// The NHS number of an entry, for the patient id slots.
fn cx_id(nhs: NhsNumber, authority: &str) -> String {
    format!("{nhs}^^^&{authority}&ISO")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
