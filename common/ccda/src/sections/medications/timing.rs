//! Dose timing: a GP Connect `Dosage.timing.repeat` ("`frequency` times per
//! `period` `periodUnit`") → the Medication Activity's second `effectiveTime`,
//! a `PIVL_TS` with `institutionSpecified="true"` (C-CDA R2.1: the frequency
//! is known, the clock times are left to whoever gives the dose).
//!
//! The period is `period / frequency`, kept in the GP's unit when that is a
//! whole number (`1 d`, `8 h`), otherwise in hours (`twice a day` → `12 h`,
//! `5 times a day` → `4.8 h`). Anything that has no one exact period is left
//! to the Free Text Sig alone: a frequency or period range (`frequencyMax`,
//! `periodMax`), named week days, several dosages (two dosage lines each
//! "once a day" mean twice a day in all), or a period that is not a short
//! decimal in hours (`7 times a day`).

use super::Med;
use crate::fhir::{Dosage, TimingRepeat};
use crate::xml::Xml;
use serde_json::Number;

/// Writes the `PIVL_TS` when the dosage has one exact period; nothing otherwise.
pub(super) fn pivl(x: &mut Xml, m: &Med<'_>) {
    let Some((value, unit)) = dosage_with_timing(m).and_then(period) else {
        return;
    };
    x.open(
        "effectiveTime",
        &[
            ("xsi:type", "PIVL_TS"),
            ("institutionSpecified", "true"),
            ("operator", "A"),
        ],
    );
    x.empty("period", &[("value", &value), ("unit", unit)]);
    x.close();
}

/// The statement's dosage when it carries a timing, else the authorising
/// plan's, as for the dose; `None` unless that list is one dosage.
fn dosage_with_timing<'a>(m: &Med<'a>) -> Option<&'a TimingRepeat> {
    let timed = |ds: &'a [Dosage]| ds.iter().any(|d| repeat(d).is_some()).then_some(ds);
    let ds = timed(&m.ms.dosage).or_else(|| m.plan.and_then(|p| timed(&p.dosage_instruction)))?;
    match ds {
        [one] => repeat(one),
        _ => None,
    }
}

fn repeat(d: &Dosage) -> Option<&TimingRepeat> {
    d.timing.as_ref()?.repeat.as_ref()
}

/// `(value, UCUM unit)` of the period between doses, if there is exactly one.
fn period(r: &TimingRepeat) -> Option<(String, &'static str)> {
    if r.frequency_max.is_some() || r.period_max.is_some() || !r.day_of_week.is_empty() {
        return None;
    }
    // FHIR: frequency defaults to 1 ("once per period")
    let f = match &r.frequency {
        Some(n) => n.as_u64().filter(|f| *f > 0)?,
        None => 1,
    };
    let (unit, seconds) = unit(r.period_unit.as_deref()?)?;
    let (num, den) = decimal(r.period.as_ref()?)?;
    let den = den.checked_mul(u128::from(f))?;
    if num % den == 0 {
        return Some(((num / den).to_string(), unit));
    }
    // not whole in the GP's unit: in hours, to at most three decimals
    let seconds = seconds?;
    let millihours = num.checked_mul(seconds)?.checked_mul(1000)?;
    let den = den.checked_mul(3600)?;
    (millihours % den == 0).then(|| (thousandths(millihours / den), "h"))
}

/// FHIR UnitsOfTime (the same spelling as UCUM) and the unit in seconds;
/// months and years have no fixed length, so they never convert to hours.
fn unit(u: &str) -> Option<(&'static str, Option<u128>)> {
    Some(match u {
        "s" => ("s", Some(1)),
        "min" => ("min", Some(60)),
        "h" => ("h", Some(3600)),
        "d" => ("d", Some(86_400)),
        "wk" => ("wk", Some(604_800)),
        "mo" => ("mo", None),
        "a" => ("a", None),
        _ => return None,
    })
}

/// A positive decimal as `numerator / 10^k`; exponent forms and anything
/// longer than 18 digits are refused rather than rounded.
fn decimal(n: &Number) -> Option<(u128, u128)> {
    let s = n.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let digits = format!("{int}{frac}");
    if int.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num: u128 = digits.parse().ok()?;
    let den = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    (num > 0).then_some((num, den))
}

/// `4800` thousandths → `4.8`.
fn thousandths(v: u128) -> String {
    let (whole, part) = (v / 1000, v % 1000);
    if part == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{part:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(frequency: Option<u64>, period: &str, unit: &str) -> TimingRepeat {
        TimingRepeat {
            frequency: frequency.map(Number::from),
            period: Some(period.parse().expect("number")),
            period_unit: Some(unit.to_string()),
            ..TimingRepeat::default()
        }
    }

    fn p(frequency: Option<u64>, period: &str, unit: &str) -> Option<(String, &'static str)> {
        super::period(&rep(frequency, period, unit))
    }

    #[test]
    fn a_whole_period_keeps_the_gp_unit() {
        assert_eq!(p(None, "1", "d"), Some(("1".into(), "d")));
        assert_eq!(p(Some(1), "8", "h"), Some(("8".into(), "h")));
        assert_eq!(p(Some(1), "1", "wk"), Some(("1".into(), "wk")));
        assert_eq!(p(Some(2), "4", "wk"), Some(("2".into(), "wk")));
        assert_eq!(p(Some(1), "3", "mo"), Some(("3".into(), "mo")));
        assert_eq!(p(Some(2), "30", "min"), Some(("15".into(), "min")));
    }

    #[test]
    fn a_fraction_of_the_unit_is_given_in_hours() {
        assert_eq!(p(Some(2), "1", "d"), Some(("12".into(), "h")));
        assert_eq!(p(Some(3), "1", "d"), Some(("8".into(), "h")));
        assert_eq!(p(Some(4), "1", "d"), Some(("6".into(), "h")));
        assert_eq!(p(Some(5), "1", "d"), Some(("4.8".into(), "h")));
        assert_eq!(p(Some(3), "1", "wk"), Some(("56".into(), "h")));
        assert_eq!(p(Some(1), "0.5", "d"), Some(("12".into(), "h")));
        assert_eq!(p(Some(1), "1.5", "h"), Some(("1.5".into(), "h")));
    }

    #[test]
    fn no_single_exact_period_means_no_pivl() {
        // 24/7 h has no short decimal; months have no length in hours
        assert_eq!(p(Some(7), "1", "d"), None);
        assert_eq!(p(Some(2), "1", "mo"), None);
        assert_eq!(p(Some(0), "1", "d"), None);
        assert_eq!(p(Some(1), "0", "d"), None);
        assert_eq!(p(Some(1), "1", "day"), None);
        let mut r = rep(Some(1), "1", "d");
        r.frequency_max = Some(Number::from(2));
        assert_eq!(period(&r), None);
        let mut r = rep(Some(1), "1", "wk");
        r.day_of_week = vec!["mon".into()];
        assert_eq!(period(&r), None);
        let mut r = rep(Some(1), "1", "d");
        r.period = None;
        assert_eq!(period(&r), None);
    }

    #[test]
    fn decimals_are_exact() {
        let n = |s: &str| s.parse::<Number>().expect("number");
        assert_eq!(decimal(&n("1.25")), Some((125, 100)));
        assert_eq!(decimal(&n("-1")), None);
        assert_eq!(decimal(&n("1e-9")), None);
        assert_eq!(thousandths(4800), "4.8");
        assert_eq!(thousandths(1250), "1.25");
        assert_eq!(thousandths(12000), "12");
    }
}
