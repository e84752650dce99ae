//! `--synthetic N`: extra patients for load tests, each a fixture record with a new identity
//! (valid, distinct NHS number from stem 973000000 up; generated name and birth date).
//! They share the fixture's templates, so N costs a PDS record each, not a bundle each.

use std::collections::HashSet;
use std::sync::Arc;

use xhuma_common::NhsNumber;

use super::pds_record::Person;
use super::{BundleSource, GpcEntry, PatientEntry, PdsEntry, identity_of};

const FAMILIES: [&str; 16] = [
    "ASHWORTH",
    "BRENNAN",
    "CALDWELL",
    "DUNMORE",
    "ELLERBY",
    "FAIRLIE",
    "GARSIDE",
    "HOLROYD",
    "INGLEBY",
    "JOWETT",
    "KERSHAW",
    "LOFTHOUSE",
    "MIDGLEY",
    "NORCLIFFE",
    "OLDROYD",
    "PRIESTLEY",
];
const GIVENS: [&str; 16] = [
    "Ada", "Bram", "Cora", "Dev", "Edie", "Finn", "Gwen", "Hal", "Ines", "Jude", "Kit", "Lena",
    "Milo", "Nell", "Otto", "Pia",
];

pub fn generate(
    n: usize,
    sources: &[(Arc<BundleSource>, Person)],
    taken: &mut HashSet<NhsNumber>,
) -> Vec<PatientEntry> {
    if n == 0 || sources.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(n);
    let mut stem = 973_000_000u32;
    for i in 0..n {
        let nhs = loop {
            stem += 1;
            if let Some(x) = NhsNumber::from_stem(stem).filter(|x| !taken.contains(x)) {
                break x;
            }
        };
        taken.insert(nhs);
        let (source, template) = &sources[i % sources.len()];
        let mut person = template.clone();
        person.family = Some(format!("{}{}", FAMILIES[i % 16], i / 256));
        person.given = vec![GIVENS[(i / 16) % 16].to_string()];
        person.birth_date = Some(format!(
            "{}-{:02}-{:02}",
            1930 + i % 80,
            1 + i % 12,
            1 + i % 28
        ));
        out.push(PatientEntry {
            nhs,
            pds: PdsEntry::Record {
                body: person.render(nhs, 1),
                version: 1,
            },
            gpc: GpcEntry::Record {
                source: source.clone(),
                identity: identity_of(nhs, &person),
            },
            ods: person.ods.clone(),
            fixture: format!("synthetic:{}", source.label),
            scenario: "synthetic".into(),
            person,
        });
    }
    out
}
