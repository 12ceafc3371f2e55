//! The `isn` field: a host's ISN policy, written at the top level, per variant or per host.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::IsnSpec;
use super::super::values::Seq;
use twsim_model::IsnPolicy;

/// The ISN policies written as words, with their spellings.
const ISN_WORDS: [(&str, IsnPolicy); 3] = [
    ("random", IsnPolicy::Random),
    ("rfc793-clock", IsnPolicy::Rfc793Clock),
    ("rfc6528", IsnPolicy::Rfc6528),
];

/// The ISN policy written at `path` (`None` when absent): `"random"`, `"rfc793-clock"`,
/// `"rfc6528"`, `{"constant": N}` or a non-empty `{"scripted": [N, …]}`.
pub(in crate::scenario) fn isn_policy(
    ctx: &Ctx,
    path: &str,
    spec: &Option<IsnSpec>,
) -> Result<Option<IsnPolicy>, ScenarioError> {
    match spec {
        None => Ok(None),
        Some(IsnSpec::Word(w)) => ISN_WORDS
            .iter()
            .find(|(n, _)| n == w)
            .map(|(_, p)| Some(p.clone()))
            .ok_or_else(|| {
                let words: Vec<String> = ISN_WORDS.iter().map(|(w, _)| format!("{w:?}")).collect();
                let known = words.join(", ");
                ctx.err(
                    path,
                    format!(
                        "unknown ISN policy {w:?} (known: {known}, {{\"constant\": N}}, \
                         {{\"scripted\": [N, …]}})"
                    ),
                )
            }),
        Some(IsnSpec::Object(o)) => match (o.constant, &o.scripted) {
            (Some(Seq(n)), None) => Ok(Some(IsnPolicy::Constant(n))),
            (None, Some(list)) if list.is_empty() => Err(ctx.err(
                &format!("{path}.scripted"),
                "a scripted ISN list needs at least one sequence number",
            )),
            (None, Some(list)) => Ok(Some(IsnPolicy::Scripted(
                list.iter().map(|s| s.0).collect(),
            ))),
            _ => Err(ctx.err(
                path,
                "an ISN object needs exactly one key: {\"constant\": N} or {\"scripted\": [N, …]}",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::test_support::{v, CTX};
    use twsim_model::SeqNum;

    #[test]
    fn isn_policies_are_words_or_one_key_objects() {
        let isn = |text: &str| {
            let spec = serde_json::from_value::<IsnSpec>(v(text)).expect("an ISN spec");
            isn_policy(&CTX, "isn", &Some(spec)).map_err(|e| format!("{}: {}", e.path, e.message))
        };
        assert_eq!(isn_policy(&CTX, "isn", &None), Ok(None));
        assert_eq!(isn(r#""random""#), Ok(Some(IsnPolicy::Random)));
        assert_eq!(isn(r#""rfc793-clock""#), Ok(Some(IsnPolicy::Rfc793Clock)));
        assert_eq!(isn(r#""rfc6528""#), Ok(Some(IsnPolicy::Rfc6528)));
        assert_eq!(
            isn(r#"{"constant": 4294967295}"#),
            Ok(Some(IsnPolicy::Constant(SeqNum(u32::MAX))))
        );
        assert_eq!(
            isn(r#"{"scripted": [5, 0, 5]}"#),
            Ok(Some(IsnPolicy::Scripted(vec![
                SeqNum(5),
                SeqNum(0),
                SeqNum(5)
            ])))
        );
        assert_eq!(
            isn(r#""RFC6528""#),
            Err(
                "isn: unknown ISN policy \"RFC6528\" (known: \"random\", \"rfc793-clock\", \
                 \"rfc6528\", {\"constant\": N}, {\"scripted\": [N, …]})"
                    .into()
            )
        );
        let one_key = "isn: an ISN object needs exactly one key: {\"constant\": N} or \
                       {\"scripted\": [N, …]}";
        assert_eq!(isn("{}"), Err(one_key.into()));
        assert_eq!(
            isn(r#"{"constant": 1, "scripted": [1]}"#),
            Err(one_key.into())
        );
        assert_eq!(
            isn(r#"{"scripted": []}"#),
            Err("isn.scripted: a scripted ISN list needs at least one sequence number".into())
        );
        let spec = |text: &str| serde_json::from_value::<IsnSpec>(v(text)).map(|_| ());
        assert!(spec("5").unwrap_err().to_string().starts_with(
            "invalid type: integer `5`, expected an ISN policy: \"random\", \"rfc793-clock\""
        ));
        assert!(spec(r#"{"constnat": 5}"#)
            .unwrap_err()
            .to_string()
            .starts_with("unknown field `constnat`, expected `constant` or `scripted`"));
        assert!(spec(r#"{"scripted": [1, -2]}"#).is_err());
    }
}
