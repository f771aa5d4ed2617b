//! envv's dotenv reader against python-dotenv, dotenv and dotenvx, case by
//! case (`cases.rs`): where the three agree envv reads the same; wherever
//! envv reads a value, at least one of them gives that value too; and every
//! case reads, or is refused, as the table says (`why` says why, where the
//! three disagree; `docs/dotenv.md` has the rules).

mod cases;

use std::collections::BTreeMap;

use envv_core::envfile::EnvFileError;
use envv_core::envfile::dotenv::{ImportOptions, Problem, read};
use envv_core::secret::SecretValue;

/// What a reference loader gave.
pub enum Got {
    /// Names and values in the order given (a name given twice keeps its
    /// last value).
    Gave(&'static [(&'static str, &'static str)]),
    /// It failed (python-dotenv on invalid UTF-8).
    Refused,
}

/// What envv does with a case.
pub enum Envv {
    Reads(&'static [(&'static str, &'static str)]),
    Refuses(Refusal),
}

/// Why envv refuses, by [`Problem`] variant.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unterminated,
    TextAfterQuote,
    InvalidUtf8,
}

pub struct Case {
    pub name: &'static str,
    pub input: &'static [u8],
    pub python_dotenv: Got,
    pub dotenv: Got,
    pub dotenvx: Got,
    pub envv: Envv,
    /// Empty where the three references agree.
    pub why: &'static str,
}

type Map = BTreeMap<String, String>;

impl Got {
    fn map(&self) -> Option<Map> {
        match self {
            Got::Gave(pairs) => Some(to_map(pairs)),
            Got::Refused => None,
        }
    }
}

fn to_map(pairs: &[(&str, &str)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn references(case: &Case) -> [Option<Map>; 3] {
    [
        case.python_dotenv.map(),
        case.dotenv.map(),
        case.dotenvx.map(),
    ]
}

fn agreed(case: &Case) -> Option<Option<Map>> {
    let [a, b, c] = references(case);
    (a == b && b == c).then_some(a)
}

fn envv(case: &Case) -> Result<Map, EnvFileError> {
    let env: BTreeMap<String, SecretValue> = cases::ENVIRONMENT
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretValue::from(*v)))
        .collect();
    let imported = read(case.input, ImportOptions::default(), &env)?;
    Ok(imported
        .secrets
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.expose().to_owned()))
        .collect())
}

fn refusal(err: &EnvFileError) -> Option<Refusal> {
    let EnvFileError::Dotenv(e) = err else {
        return None;
    };
    match e.problem {
        Problem::Unterminated { .. } => Some(Refusal::Unterminated),
        Problem::TextAfterQuote { .. } => Some(Refusal::TextAfterQuote),
        Problem::InvalidUtf8 => Some(Refusal::InvalidUtf8),
        _ => None,
    }
}

#[test]
fn the_table_covers_at_least_eighty_cases_with_unique_names() {
    let count = cases::all().count();
    assert!(count >= 80, "{count}");
    let mut names: Vec<&str> = cases::all().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count);
    for case in cases::all() {
        assert_eq!(
            agreed(case).is_some(),
            case.why.is_empty(),
            "{}: a `why` is written exactly where the references disagree",
            case.name
        );
    }
}

#[test]
fn every_case_reads_or_is_refused_as_the_table_says() {
    for case in cases::all() {
        match (&case.envv, envv(case)) {
            (Envv::Reads(want), Ok(got)) => assert_eq!(got, to_map(want), "{}", case.name),
            (Envv::Refuses(want), Err(err)) => {
                assert_eq!(refusal(&err).as_ref(), Some(want), "{}: {err}", case.name);
            }
            (_, got) => panic!("{}: got {got:?}", case.name),
        }
    }
}

#[test]
fn where_the_three_references_agree_envv_reads_the_same() {
    for case in cases::all() {
        if let Some(agreed) = agreed(case) {
            let got = envv(case).ok();
            assert_eq!(got, agreed, "{}", case.name);
        }
    }
}

#[test]
fn envv_never_reads_a_value_that_no_reference_gives() {
    for case in cases::all() {
        let Ok(got) = envv(case) else { continue };
        let refs = references(case);
        for (name, value) in &got {
            assert!(
                refs.iter().flatten().any(|r| r.get(name) == Some(value)),
                "{}: {name} = {value:?} is no reference's reading",
                case.name
            );
        }
    }
}
