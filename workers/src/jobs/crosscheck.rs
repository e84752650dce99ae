//! The GP Connect demographic cross-check (GP Connect GEN-07): the record's Patient must be the
//! person PDS knows by that NHS number.
//!
//! PDS demographics (read by the GP Connect stage beside its GP Connect call) and the converted
//! record's [`RecordDemographics`] → agree, or a [`Mismatch`] naming the field (never the
//! values: both sides are PHI). A mismatch is never cached or served; the job is dead-lettered
//! for a person to look at, as GP Connect asks consumers to alert on a difference rather than
//! show the record.
//!
//! Rules, each applied only when both sides carry the field:
//! - **birth date**: equal, or one a prefix of the other (PDS and GP systems both send partial
//!   dates for some patients); a record without a birth date when PDS has one disagrees;
//! - **gender**: equal when both are `male`/`female`/`other` (`unknown` agrees with anything);
//! - **family name**: PDS's family equals one of the record's current family names, compared
//!   by letters only and case-blind (so `O'Neil`, `ONEIL` and `O Neil` agree); a record whose
//!   names are text only must contain it as a word.

use xhuma_ccda::RecordDemographics;
use xhuma_common::patient::{Demographics, Gender};

/// Which demographic disagreed. Safe to log and to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    BirthDate,
    Gender,
    FamilyName,
}

impl Mismatch {
    pub const ALL: [Mismatch; 3] = [Mismatch::BirthDate, Mismatch::Gender, Mismatch::FamilyName];

    pub fn as_str(self) -> &'static str {
        match self {
            Mismatch::BirthDate => "birth_date",
            Mismatch::Gender => "gender",
            Mismatch::FamilyName => "family_name",
        }
    }
}

/// Checks the record against PDS; the first field that disagrees is the answer.
pub fn check(pds: &Demographics, record: &RecordDemographics) -> Result<(), Mismatch> {
    if let Some(want) = pds
        .birth_date
        .as_deref()
        .map(digits)
        .filter(|d| !d.is_empty())
    {
        let got = record.birth_date.as_deref().map(digits).unwrap_or_default();
        if got.is_empty() || !(got.starts_with(&want) || want.starts_with(&got)) {
            return Err(Mismatch::BirthDate);
        }
    }
    let record_gender = match record.gender.as_deref() {
        Some("male") => Gender::Male,
        Some("female") => Gender::Female,
        Some("other") => Gender::Other,
        _ => Gender::Unknown,
    };
    if pds.gender != Gender::Unknown
        && record_gender != Gender::Unknown
        && pds.gender != record_gender
    {
        return Err(Mismatch::Gender);
    }
    if let Some(want) = pds.family.as_deref().map(letters).filter(|f| !f.is_empty()) {
        let structured = record.families.iter().any(|f| letters(f) == want);
        let in_text = record
            .text_names
            .iter()
            .any(|t| t.split([' ', ',']).any(|word| letters(word) == want));
        if !structured && !in_text {
            return Err(Mismatch::FamilyName);
        }
    }
    Ok(())
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn letters(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xhuma_common::NhsNumber;

    fn pds(family: &str, birth: &str, gender: Gender) -> Demographics {
        Demographics {
            nhs_number: NhsNumber::parse("9690937286").expect("valid"),
            given: vec!["Horace".into()],
            family: Some(family.into()),
            prefix: vec![],
            gender,
            birth_date: Some(birth.into()),
            address: None,
            gp_ods: None,
            version_id: None,
        }
    }

    fn record(families: &[&str], birth: Option<&str>, gender: &str) -> RecordDemographics {
        RecordDemographics {
            families: families.iter().map(|f| f.to_string()).collect(),
            text_names: vec![],
            birth_date: birth.map(str::to_string),
            gender: Some(gender.into()),
        }
    }

    #[test]
    fn the_same_person_agrees() {
        let p = pds("SKELLY", "1962-07-13", Gender::Male);
        assert_eq!(
            check(&p, &record(&["Skelly"], Some("1962-07-13"), "male")),
            Ok(())
        );
        // Partial dates, punctuation and an unknown gender are not disagreements.
        let p = pds("O'Neil", "1962", Gender::Unknown);
        assert_eq!(
            check(&p, &record(&["ONEIL"], Some("1962-07-13"), "female")),
            Ok(())
        );
    }

    #[test]
    fn each_field_can_disagree() {
        let p = pds("SKELLY", "1962-07-13", Gender::Male);
        assert_eq!(
            check(&p, &record(&["SKELLY"], Some("1962-07-14"), "male")),
            Err(Mismatch::BirthDate)
        );
        assert_eq!(
            check(&p, &record(&["SKELLY"], None, "male")),
            Err(Mismatch::BirthDate)
        );
        assert_eq!(
            check(&p, &record(&["SKELLY"], Some("1962-07-13"), "female")),
            Err(Mismatch::Gender)
        );
        assert_eq!(
            check(&p, &record(&["SKELTON"], Some("1962-07-13"), "male")),
            Err(Mismatch::FamilyName)
        );
    }

    #[test]
    fn a_text_only_name_is_searched_word_by_word() {
        let p = pds("SKELLY", "1962-07-13", Gender::Male);
        let mut r = record(&[], Some("1962-07-13"), "male");
        r.text_names = vec!["Mr Horace SKELLY".into()];
        assert_eq!(check(&p, &r), Ok(()));
        r.text_names = vec!["Mr Horace SKELLYMAN".into()];
        assert_eq!(check(&p, &r), Err(Mismatch::FamilyName));
    }
}
