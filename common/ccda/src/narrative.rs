//! One section under construction: its narrative `<text>` and its entries are
//! written into two fragments, then joined in CDA order (`templateId`, `code`,
//! `title`, `text`, `entry`*).
//!
//! Narrative rows carry `ID`s; entries point back to them with
//! `text/reference/@value="#ID"`. GP Connect List warnings and empty reasons
//! become a `flagData` paragraph at the top of the section, which the live
//! Epic integration shows to clinicians.

use crate::fhir::{Extensions, List};
use crate::xml::Xml;
use crate::{Report, SectionReport};

/// Static description of a section.
pub struct Spec {
    pub title: &'static str,
    pub code: &'static str,
    pub code_system: &'static str,
    pub code_system_name: &'static str,
    pub display: &'static str,
    /// `(root, extension)`.
    pub template: Option<(&'static str, &'static str)>,
    /// `section/@nullFlavor="NI"` when there are no entries (entry-based sections).
    pub null_when_empty: bool,
    /// Prefix of narrative `ID`s (unique per section).
    pub prefix: &'static str,
}

/// A table cell: text (newlines become `<br/>`) and an optional `ID`.
pub struct Cell {
    pub id: Option<String>,
    pub text: String,
}

pub fn cell(text: impl Into<String>) -> Cell {
    Cell {
        id: None,
        text: text.into(),
    }
}

pub fn cell_id(id: String, text: impl Into<String>) -> Cell {
    Cell {
        id: Some(id),
        text: text.into(),
    }
}

pub const UNREADABLE_TEXT: &str = "This item could not be shown \u{2014} see GP record.";

pub struct Section {
    spec: &'static Spec,
    pub nar: Xml,
    pub ent: Xml,
    seq: usize,
    rows: usize,
    cols: usize,
    pub entries: usize,
    pub unreadable: usize,
    pub warnings: Vec<String>,
}

// === impl Section ===

impl Section {
    pub fn new(spec: &'static Spec, depth: usize) -> Section {
        Section {
            spec,
            nar: Xml::fragment(depth + 3, 4096),
            ent: Xml::fragment(depth + 2, 8192),
            seq: 0,
            rows: 0,
            cols: 0,
            entries: 0,
            unreadable: 0,
            warnings: Vec::new(),
        }
    }

    /// A fresh narrative `ID` (`alg-3`).
    pub fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.spec.prefix, self.seq)
    }

    /// GP Connect warnings, notes and empty reasons of `lists`; a note when
    /// the area was not in the response at all.
    pub fn list_notes<'a>(&mut self, lists: impl IntoIterator<Item = &'a List>, area: &str) {
        let mut lines: Vec<String> = Vec::new();
        let mut any = false;
        for l in lists {
            any = true;
            for w in l
                .exts("ListWarningCode-1")
                .filter_map(|e| e.value_code.as_deref())
            {
                self.warnings.push(format!(
                    "List '{}': warning {w}",
                    l.title.as_deref().unwrap_or(area)
                ));
                let has_note = !l.note.is_empty();
                if !has_note {
                    lines.push(warning_text(w).to_string());
                }
            }
            for n in l.note.iter().filter_map(|n| n.text.as_deref()) {
                if !lines.iter().any(|x| x == n) {
                    lines.push(n.to_string());
                }
            }
            if let Some(er) = &l.empty_reason {
                let why = er.label().unwrap_or("no content recorded");
                let line = format!("No items recorded ({why}).");
                if !lines.contains(&line) && l.entry.is_empty() {
                    lines.push(line);
                }
            }
        }
        if !any {
            lines.push(format!(
                "{area} were not included in the GP Connect response."
            ));
        }
        if lines.is_empty() {
            return;
        }
        self.nar
            .open_inline("paragraph", &[("styleCode", "flagData")]);
        self.nar.text(&lines.join("\n"), true);
        self.nar.close();
    }

    /// Plain paragraph in the narrative.
    pub fn paragraph(&mut self, text: &str) {
        self.nar.open_inline("paragraph", &[]);
        self.nar.text(text, true);
        self.nar.close();
    }

    pub fn table(&mut self, caption: Option<&str>, headers: &[&str]) {
        self.nar
            .open("table", &[("border", "1"), ("width", "100%")]);
        if let Some(c) = caption {
            self.nar.leaf("caption", &[], c);
        }
        self.nar.open("thead", &[]);
        self.nar.open("tr", &[]);
        for h in headers {
            self.nar.leaf("th", &[], h);
        }
        self.nar.close();
        self.nar.close();
        self.nar.open("tbody", &[]);
        self.rows = 0;
        self.cols = headers.len();
    }

    pub fn row(&mut self, id: &str, cells: &[Cell]) {
        self.nar.open("tr", &[("ID", id)]);
        for c in cells {
            match &c.id {
                Some(cid) => self.nar.open_inline("td", &[("ID", cid)]),
                None => self.nar.open_inline("td", &[]),
            }
            self.nar.text(&c.text, true);
            self.nar.close();
        }
        self.nar.close();
        self.rows += 1;
    }

    /// A visible placeholder for an item that could not be read or resolved.
    pub fn unreadable_row(&mut self, warning: String) {
        let cols = self.cols.max(1).to_string();
        self.nar.open("tr", &[]);
        self.nar.leaf(
            "td",
            &[("colspan", &cols), ("styleCode", "Bold")],
            UNREADABLE_TEXT,
        );
        self.nar.close();
        self.rows += 1;
        self.unreadable += 1;
        self.warnings.push(warning);
    }

    pub fn end_table(&mut self) {
        if self.rows == 0 {
            let cols = self.cols.max(1).to_string();
            self.nar.open("tr", &[]);
            self.nar
                .leaf("td", &[("colspan", &cols)], "No Information Available");
            self.nar.close();
        }
        self.nar.close(); // tbody
        self.nar.close(); // table
    }

    /// Opens `<entry>`; the caller writes the clinical statement and calls `end_entry`.
    pub fn entry(&mut self) -> &mut Xml {
        self.ent.open("entry", &[("typeCode", "DRIV")]);
        self.entries += 1;
        &mut self.ent
    }

    pub fn end_entry(&mut self) {
        self.ent.close();
    }

    /// Writes the whole `<component><section>` into `x` and records the report line.
    pub fn finish(self, x: &mut Xml, report: &mut Report) {
        let spec = self.spec;
        x.open("component", &[]);
        if self.entries == 0 && spec.null_when_empty {
            x.open("section", &[("nullFlavor", "NI")]);
        } else {
            x.open("section", &[]);
        }
        if let Some((root, ext)) = spec.template {
            crate::cda::template(x, root, ext);
        }
        crate::codes::fixed(
            x,
            "code",
            spec.code,
            spec.code_system,
            spec.code_system_name,
            spec.display,
        );
        x.leaf("title", &[], spec.title);
        x.open("text", &[]);
        x.append(self.nar);
        x.close();
        x.append(self.ent);
        x.close();
        x.close();
        report.sections.push(SectionReport {
            title: spec.title.to_string(),
            code: spec.code.to_string(),
            entries: self.entries,
            unreadable: self.unreadable,
            warnings: self.warnings.len(),
        });
        report.warnings.extend(self.warnings);
    }
}

/// Standard GP Connect text for a List warning code.
pub fn warning_text(code: &str) -> &'static str {
    match code {
        "confidential-items" => "Items excluded due to confidentiality and/or patient preferences.",
        "data-in-transit" => {
            "Patient record transfer from previous GP practice not yet complete; some information may be missing."
        }
        "data-awaiting-filing" => {
            "Patient data may be incomplete as there is data supplied by a third party awaiting review before becoming available."
        }
        _ => "The GP system reported a warning for this list; some information may be missing.",
    }
}
