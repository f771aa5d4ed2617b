//! What the fuzzer sends: proptest strategies for path segments, content
//! types and JSON bodies, and how a case becomes a request.

use super::*;

#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Real,
    /// The real id spelled another way Uuid parsing accepts.
    RealSpelledAs(u8),
    RandomUuid,
    /// Already percent-encoded where needed.
    Text(String),
}

#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Remove(Index),
    /// Any value, usually of the wrong type.
    Replace(Index, Value),
    /// A string of random content: reaches the validators.
    ReplaceString(Index, String),
    /// A number out of any sane range, as raw JSON.
    ReplaceNumber(Index, usize),
    Extra(String, Value),
    /// Wrap a field's value in this many arrays.
    Nest(Index, usize),
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// The route's template, with mutations applied to a random object in it.
    Mutated(Index, Vec<Mutation>),
    Json(Value),
    /// Random bytes, the canary spliced in the middle when the flag is set.
    Bytes(Vec<u8>, bool),
    /// Deeply nested JSON, well past serde_json's recursion limit.
    Deep {
        depth: usize,
        style: u8,
    },
    /// Larger than the route's body limit; generated from a seed to keep
    /// cases small.
    Oversized {
        extra: usize,
        style: u8,
        seed: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) segments: Vec<Segment>,
    pub(crate) content_type: Option<Vec<u8>>,
    pub(crate) body: Body,
    pub(crate) canary: String,
}

pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        8 => Just(Segment::Real),
        1 => (0u8..4).prop_map(Segment::RealSpelledAs),
        1 => Just(Segment::RandomUuid),
        1 => "[a-zA-Z0-9._~-]{0,40}".prop_map(Segment::Text),
        1 => prop::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Segment::Text(percent_encode(&String::from_iter(c)))),
        1 => prop::sample::select(vec![
            "", ".", "..", "%00", "%FF", "%C0%AF", "%2F", "%2e%2e", "%ZZ", "null",
            "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "00000000-0000-0000-0000-00000000000", "{}", "%7B%7D", "-1", "1e999",
        ])
        .prop_map(|s| Segment::Text(s.to_owned())),
        1 => (1000usize..8000).prop_map(|n| Segment::Text("a".repeat(n))),
    ]
}

pub(crate) fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        12 => Just(Some(b"application/json".to_vec())),
        1 => Just(None),
        2 => prop::sample::select(vec![
            "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.envv+json",
            "application/json; charset=latin1", "application/jsonx", "text/json", "text/plain",
            "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", ";",
            "", "application/", "/json", "application/json;;;", "application/json, text/plain",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => "[ -~]{0,60}".prop_map(|s| Some(s.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..60).prop_map(|bytes| {
            // Bytes a header value can't hold at all become `x`: the
            // client would refuse to send them, so they test nothing.
            Some(bytes.into_iter().map(|b| if (b < 32 && b != b'\t') || b == 127 { b'x' } else { b }).collect())
        }),
    ]
}

pub(crate) fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..32).prop_map(String::from_iter),
        1 => "\\PC{0,24}",
        2 => Just(PLANT.to_owned()),
        1 => "[ -~]{0,12}".prop_map(|s| format!("{s}{PLANT}@example.com")),
        1 => prop::collection::vec(any::<char>(), 0..8)
            .prop_map(|c| format!("{}{PLANT}{}", String::from_iter(c.iter()), String::from_iter(c.iter().rev()))),
        1 => (1usize..20_000).prop_map(|n| "a".repeat(n)),
        1 => prop::sample::select(vec![
            "", " ", "\u{0}", "\u{7f}", "\u{202e}", "\u{feff}", "\u{fffd}", "\n\r\t", "age1",
            "argon2id", "owner", "admin", "member", "OWNER", "a@b", "a@b\u{0}", "null", "true",
            "0", "envv_rt_", "Bearer ",
        ])
        .prop_map(str::to_owned),
    ]
}

pub(crate) fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "email", "name", "auth_key", "identity_public_key", "wrapped_identity", "kdf",
            "algorithm", "memory_kib", "iterations", "parallelism", "salt", "refresh_token",
            "role", "accept_token_hash", "statement", "accept_token", "proof", "consent",
            "signing_public_key", "",
        ])
        .prop_map(str::to_owned),
        1 => json_string(),
    ]
}

pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0..NUMBERS.len()).prop_map(|i| Value::String(number_placeholder(i))),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        4 => (any::<Index>(), json_string()).prop_map(|(i, v)| Mutation::ReplaceString(i, v)),
        1 => (any::<Index>(), 0..NUMBERS.len()).prop_map(|(i, n)| Mutation::ReplaceNumber(i, n)),
        2 => (json_key(), json_value()).prop_map(|(k, v)| Mutation::Extra(k, v)),
        1 => (any::<Index>(), 1usize..300).prop_map(|(i, n)| Mutation::Nest(i, n)),
    ]
}

pub(crate) fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        6 => (any::<Index>(), prop::collection::vec(mutation(), 0..4)).prop_map(|(i, m)| Body::Mutated(i, m)),
        // Well-typed but with random strings: gets past the parser to the
        // validators and the database.
        5 => (any::<Index>(), prop::collection::vec((any::<Index>(), json_string()), 1..4)).prop_map(|(i, f)| {
            Body::Mutated(i, f.into_iter().map(|(k, v)| Mutation::ReplaceString(k, v)).collect())
        }),
        3 => json_value().prop_map(Body::Json),
        2 => (prop::collection::vec(any::<u8>(), 0..1024), any::<bool>()).prop_map(|(b, p)| Body::Bytes(b, p)),
        1 => (100usize..5000, 0u8..4).prop_map(|(depth, style)| Body::Deep { depth, style }),
        1 => (1usize..128 * 1024, 0u8..3, any::<u64>())
            .prop_map(|(extra, style, seed)| Body::Oversized { extra, style, seed }),
    ]
}

pub(crate) fn case(params: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(segment(), params..=params),
        content_type(),
        body(),
        "[a-zA-Z0-9]{16,24}",
    )
        .prop_map(|(segments, content_type, body, canary)| Case {
            segments,
            content_type,
            body,
            canary,
        })
}

pub(crate) fn path_params(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

pub(crate) fn render_path(ctx: &Ctx, pattern: &str, segments: &[Segment]) -> String {
    let mut path = pattern.to_owned();
    for (param, segment) in path_params(pattern).into_iter().zip(segments) {
        let id = ctx.real_id(param);
        let text = match segment {
            Segment::Real => id.to_string(),
            Segment::RealSpelledAs(0) => id.simple().to_string(),
            Segment::RealSpelledAs(1) => id.to_string().to_uppercase(),
            Segment::RealSpelledAs(2) => percent_encode(&id.braced().to_string()),
            Segment::RealSpelledAs(_) => percent_encode(&id.urn().to_string()),
            Segment::RandomUuid => Uuid::new_v4().to_string(),
            Segment::Text(text) => text.clone(),
        };
        path = path.replace(&format!("{{{param}}}"), &text);
    }
    path
}

/// The objects inside `value` (itself included), as JSON pointers.
pub(crate) fn object_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        out.push(at.clone());
        for (k, v) in map {
            object_pointers(v, format!("{at}/{k}"), out);
        }
    }
}

pub(crate) fn mutate(template: &Value, which: &Index, mutations: &[Mutation]) -> Value {
    let mut body = template.clone();
    let mut pointers = Vec::new();
    object_pointers(&body, String::new(), &mut pointers);
    let pointer = which.get(&pointers).clone();
    let Some(Value::Object(object)) = body.pointer_mut(&pointer) else {
        return body;
    };
    for mutation in mutations {
        let keys: Vec<String> = object.keys().cloned().collect();
        let key = |i: &Index| (!keys.is_empty()).then(|| i.get(&keys).clone());
        match mutation {
            Mutation::Remove(i) => {
                if let Some(k) = key(i) {
                    object.remove(&k);
                }
            }
            Mutation::Replace(i, v) => {
                if let Some(k) = key(i) {
                    object.insert(k, v.clone());
                }
            }
            Mutation::ReplaceString(i, v) => {
                if let Some(k) = key(i) {
                    object.insert(k, Value::String(v.clone()));
                }
            }
            Mutation::ReplaceNumber(i, n) => {
                if let Some(k) = key(i) {
                    object.insert(k, Value::String(number_placeholder(*n)));
                }
            }
            Mutation::Extra(k, v) => {
                object.insert(k.clone(), v.clone());
            }
            Mutation::Nest(i, depth) => {
                if let Some(k) = key(i) {
                    let mut v = object.remove(&k).unwrap_or(Value::Null);
                    for _ in 0..*depth {
                        v = Value::Array(vec![v]);
                    }
                    object.insert(k, v);
                }
            }
        }
    }
    body
}

/// Serialises with the placeholders swapped for the canary and raw numbers.
pub(crate) fn serialise(value: &Value, canary: &str) -> Vec<u8> {
    let mut text = serde_json::to_string(value).expect("a Value serialises");
    for (i, literal) in NUMBERS.iter().enumerate() {
        text = text.replace(&format!("\"{}\"", number_placeholder(i)), literal);
    }
    text.replace(PLANT, canary).into_bytes()
}

/// A cheap deterministic filler (xorshift), so oversized cases stay small.
pub(crate) fn filler(len: usize, mut seed: u64) -> Vec<u8> {
    seed |= 1;
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// The case's body for a route that accepts up to `limit` bytes.
pub(crate) fn render_body(template: &Value, case: &Case, limit: usize) -> Vec<u8> {
    match &case.body {
        Body::Mutated(which, mutations) => {
            serialise(&mutate(template, which, mutations), &case.canary)
        }
        Body::Json(value) => serialise(value, &case.canary),
        Body::Bytes(bytes, plant) => {
            let mut out = bytes.clone();
            if *plant {
                let mid = out.len() / 2;
                out.splice(mid..mid, case.canary.bytes());
            }
            out
        }
        Body::Deep { depth, style } => {
            let (open, leaf, close) = match style {
                0 => ("[", "", "]"),
                1 => ("{\"a\":", "1", "}"),
                2 => ("{\"email\":[", "\"x\"", "]}"),
                _ => ("[{\"name\":", "", ""),
            };
            format!("{}{leaf}{}", open.repeat(*depth), close.repeat(*depth)).into_bytes()
        }
        Body::Oversized { extra, style, seed } => {
            let len = limit + extra;
            match style {
                0 => {
                    let pad = len.saturating_sub(case.canary.len() + 12);
                    format!("{{\"email\":\"{}{}\"}}", case.canary, "a".repeat(pad)).into_bytes()
                }
                1 => {
                    let mut out = vec![b' '; len];
                    out.extend_from_slice(b"{}");
                    out
                }
                _ => filler(len, *seed),
            }
        }
    }
}
