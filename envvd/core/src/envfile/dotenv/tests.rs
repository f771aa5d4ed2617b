//! The reader's own promises: messages without values, options, warnings
//! and bounds. How it reads each construct is the reference table in
//! `tests/dotenv/`.

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretValue> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretValue::from(*v)))
        .collect()
}

fn read_with(input: &str, options: ImportOptions) -> Result<Imported, EnvFileError> {
    read(input.as_bytes(), options, &BTreeMap::new())
}

fn get(imported: &Imported, name: &str) -> String {
    imported
        .secrets
        .get(name)
        .map(|v| v.expose().to_owned())
        .unwrap_or_else(|| panic!("missing {name}"))
}

fn dotenv_error(err: EnvFileError) -> DotenvError {
    match err {
        EnvFileError::Dotenv(e) => e,
        other => panic!("not a dotenv error: {other}"),
    }
}

const STRICT: ImportOptions = ImportOptions {
    expand: true,
    strict: true,
};

#[test]
fn refusals_name_line_and_column_and_never_show_a_value() {
    // Each input holds `s3cr3t` in a value; no message may contain it.
    for (input, line, column, masked) in [
        ("A=1\nAPI_KEY=\"s3cr3t\n", 2, 9, "API_KEY=\"••••••"),
        ("A='s3cr3t\n\n", 1, 3, "A='••••••"),
        ("K=`s3cr3t", 1, 3, "K=`••••••"),
        ("A=\"s3cr3t\"s3cr3t\n", 1, 11, "A=\"••••••\"••••••"),
        ("A=\"multi\ns3cr3t\" s3cr3t\n", 2, 9, "••••••\"•••••••"),
        ("A=1\r\nB=\"s3cr3t\"x\r\n", 2, 11, "B=\"••••••\"•"),
        (".K=s3cr3t\n", 1, 1, ".K=••••••"),
    ] {
        let err = dotenv_error(read_with(input, ImportOptions::default()).expect_err(input));
        assert_eq!((err.line, err.column), (line, column), "{input:?}");
        assert_eq!(err.masked.text(), masked, "{input:?}");
        let message = EnvFileError::Dotenv(err).to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}

#[test]
fn strict_refuses_undefined_references_and_lines_without_equals() {
    let err = dotenv_error(
        read_with("A=1\nURL=\"x$S3CR3T_NAME s3cr3t\"\n", STRICT).expect_err("undefined"),
    );
    assert_eq!((err.line, err.column), (2, 5));
    assert_eq!(err.masked.text(), format!("URL=\"{}", "•".repeat(21)));
    assert_eq!(err.problem, Problem::Undefined);
    // The "name" may be part of a value (`pa$$w0rd`): never shown.
    assert!(!err.to_string().contains("S3CR3T"), "{err}");

    let err = dotenv_error(read_with("A=1\nPASSWORD s3cr3t\n", STRICT).expect_err("no ="));
    assert_eq!(
        (err.line, err.column, err.problem.clone()),
        (2, 1, Problem::NoAssignment)
    );
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert!(
        !err.to_string().contains("PASSWORD"),
        "the whole line is masked: {err}"
    );
}

#[test]
fn without_strict_the_same_inputs_warn_and_keep_every_byte() {
    let imported = read_with(
        "A=1\nPASSWORD s3cr3t\nURL=x$MISSING\nA=2\n",
        ImportOptions::default(),
    )
    .expect("read");
    assert_eq!(get(&imported, "URL"), "x$MISSING");
    assert_eq!(get(&imported, "A"), "2");
    assert_eq!(
        imported.warnings,
        [
            DotenvWarning::Skipped { line: 2 },
            DotenvWarning::Undefined {
                line: 3,
                key: "URL".into(),
                count: 1
            },
            DotenvWarning::Duplicate {
                line: 4,
                first: 1,
                name: "A".into()
            },
        ]
    );
    for warning in &imported.warnings {
        assert!(!warning.to_string().contains("s3cr3t"));
    }
}

#[test]
fn references_resolve_from_earlier_names_then_the_given_environment() {
    let given = env(&[("FROM_ENV", "e"), ("A", "env-a")]);
    let input = b"A=file-a\nB=${A}-$FROM_ENV-${NOPE:-d}\nC='$A'\nD=\\$A\n";
    let imported = read(input, ImportOptions::default(), &given).expect("read");
    assert_eq!(get(&imported, "B"), "file-a-e-d");
    assert_eq!(get(&imported, "C"), "$A");
    assert_eq!(get(&imported, "D"), "$A");
}

#[test]
fn no_expand_stores_every_value_as_written() {
    let options = ImportOptions {
        expand: false,
        strict: true,
    };
    let imported = read(
        b"A=1\nB=$A ${A} \\$A\nC=\"$A \\$A\"\n",
        options,
        &env(&[("A", "x")]),
    )
    .expect("read");
    assert_eq!(get(&imported, "B"), "$A ${A} \\$A");
    // `\$` in double quotes is an escape of the quoting, not of expansion.
    assert_eq!(get(&imported, "C"), "$A $A");
    assert!(imported.warnings.is_empty());
}

#[test]
fn invalid_utf8_names_the_line_and_shows_nothing() {
    let err = dotenv_error(
        read(
            b"A=1\r\nB=\"x\xffs3cr3t\"\n",
            ImportOptions::default(),
            &BTreeMap::new(),
        )
        .expect_err("not utf-8"),
    );
    assert_eq!((err.line, err.column), (2, 5));
    assert_eq!(err.masked.text(), "••••••••••••");
}

#[test]
fn json_objects_of_strings_are_read_as_written() {
    let imported = read_with("\n {\"A\": \"$HOME\\n\", \"b.c\": \"\"}", STRICT).expect("json");
    assert_eq!(get(&imported, "A"), "$HOME\n");
    assert_eq!(get(&imported, "b.c"), "");
    for (input, line) in [
        ("{\"A\": 5}", 1),
        ("{\n\"A\": \"s3cr3t\",\n", 3),
        ("{\"-A\": \"s3cr3t\"}", 1),
    ] {
        let err = dotenv_error(read_with(input, STRICT).expect_err(input));
        assert_eq!(err.line, line, "{input}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}

#[test]
fn expansion_cannot_grow_past_the_bounds() {
    let big = "x".repeat(600 * 1024);
    let err = read_with(&format!("A={big}\nB=$A$A\n"), ImportOptions::default())
        .expect_err("one value over 1 MiB");
    assert!(matches!(err, EnvFileError::InvalidValue { ref name, .. } if name == "B"));
    // Each value fits; together they pass what one file can hold.
    let mut input = format!("A={}\n", "x".repeat(1000 * 1024));
    for i in 0..70 {
        input.push_str(&format!("B{i}=$A\n"));
    }
    assert!(matches!(
        read_with(&input, ImportOptions::default()),
        Err(EnvFileError::TooLarge { .. })
    ));
}

#[test]
fn an_unquoted_pem_block_is_reported() {
    let input = "KEY=-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----\nOK=\"-----BEGIN X-----\nx\n-----END X-----\"\n";
    let imported = read_with(input, ImportOptions::default()).expect("read");
    assert_eq!(
        imported.warnings[0],
        DotenvWarning::UnquotedBlock {
            line: 1,
            name: "KEY".into()
        }
    );
    assert!(
        imported.warnings[1..]
            .iter()
            .all(|w| matches!(w, DotenvWarning::Skipped { .. })),
        "{:?}",
        imported.warnings
    );
}

#[test]
fn no_warning_or_error_shows_any_part_of_a_value() {
    // `w0rdXYZ` reads like a reference's name but is most of a password.
    let text = "DB_PASSWORD=pa$$w0rdXYZ\nTOKEN=\"x${s3cr3tQQ}y\"\n";
    let imported = read_with(text, ImportOptions::default()).expect("read");
    assert_eq!(get(&imported, "DB_PASSWORD"), "pa$$w0rdXYZ");
    assert_eq!(imported.warnings.len(), 2);
    for warning in &imported.warnings {
        let shown = warning.to_string();
        for part in ["w0rdXYZ", "s3cr3tQQ", "pa$"] {
            assert!(!shown.contains(part), "{shown}");
        }
        assert!(!format!("{warning:?}").contains("w0rd"), "{warning:?}");
    }
    let err = read_with(text, STRICT).expect_err("strict");
    assert!(!err.to_string().contains("w0rd"), "{err}");
    assert!(!format!("{err:?}").contains("w0rd"), "{err:?}");
}

#[test]
fn warnings_past_the_cap_are_counted_not_listed() {
    let text = "not an assignment\n".repeat(1_000);
    let imported = read_with(&text, ImportOptions::default()).expect("read");
    assert_eq!(imported.warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(
        imported.warnings.last(),
        Some(&DotenvWarning::More {
            count: 1_000 - MAX_WARNINGS
        })
    );
}

#[test]
fn a_value_taken_from_the_environment_is_pointed_out() {
    let env: BTreeMap<String, SecretValue> =
        [("AWS_SECRET".to_owned(), SecretValue::from("from-the-shell"))].into();
    let imported = read(
        b"A=1\nB=${A}\nSTOLEN=${AWS_SECRET}\n",
        ImportOptions::default(),
        &env,
    )
    .expect("read");
    assert_eq!(get(&imported, "STOLEN"), "from-the-shell");
    assert_eq!(
        imported.warnings,
        [DotenvWarning::FromEnvironment {
            line: 3,
            key: "STOLEN".into()
        }],
        "an earlier name is no news; the shell's variable is"
    );
}
