//! The batch upsert itself: parsing, validation, writing, and the response body.
//!
//! Hot path: the body is parsed straight from bytes with borrowed strings, validated
//! against the schema outside any lock, written under one store lock, and the results
//! are serialized into one buffer while the records are at hand (no per-record clones).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::marker::PhantomData;
use std::ops::Range;

use chrono::Utc;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::EmulatorConfig;
use crate::fast::{
    FastMap, FastSet, map_with_capacity, push_iso_ms_quoted, push_u64, set_with_capacity,
};
use crate::properties::Derived;
use crate::schema::{Detail, PropId, Schema, validate_value};
use crate::store::{Record, Store};

// ---------------------------------------------------------------------------------
// Request parsing (borrowing from the body).

struct StrVisitor<'a> {
    expecting: &'static str,
    _p: PhantomData<&'a ()>,
}

impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
    type Value = Cow<'a, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A JSON string, borrowed from the body when it has no escapes.
struct JStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor {
            expecting: "a string",
            _p: PhantomData,
        })
        .map(JStr)
    }
}

/// A property value: must be a JSON string (numbers, booleans and `null` are refused,
/// as HubSpot types every property value as a string).
struct PropValue<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for PropValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor {
            expecting: "a string property value (numbers, booleans and dates are sent as strings; \"\" clears a value)",
            _p: PhantomData,
        })
        .map(PropValue)
    }
}

/// `properties`: name/value pairs in body order.
struct Props<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Props<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Props<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of property names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(JStr(k)) = map.next_key::<JStr<'a>>()? {
                    let PropValue(v) = map.next_value::<PropValue<'a>>()?;
                    out.push((k, v));
                }
                Ok(Props(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInput<'a> {
    #[serde(borrow)]
    id: JStr<'a>,
    #[serde(borrow, default)]
    id_property: Option<JStr<'a>>,
    #[serde(borrow, default)]
    object_write_trace_id: Option<JStr<'a>>,
    #[serde(borrow)]
    properties: Props<'a>,
}

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    inputs: Vec<RawInput<'a>>,
}

fn invalid_json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    format!(
        "Invalid input JSON on line {}, column {}: {}",
        e.line(),
        e.column(),
        msg
    )
}

// ---------------------------------------------------------------------------------
// Response pieces.

#[derive(Serialize, Default)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailOut<'a> {
    message: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    context: BTreeMap<&'static str, [&'a str; 1]>,
}

impl<'a> From<&'a Detail> for DetailOut<'a> {
    fn from(d: &'a Detail) -> Self {
        let mut context = BTreeMap::new();
        if let Some(p) = &d.property {
            context.insert("propertyName", [p.as_str()]);
        }
        DetailOut {
            message: &d.message,
            code: d.code,
            context,
        }
    }
}

#[derive(Serialize)]
struct SubCategory {
    reason: &'static str,
}

/// One entry of a 207's `errors` (HubSpot's `StandardError`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InputErrorOut<'a> {
    status: &'static str,
    category: &'static str,
    sub_category: SubCategory,
    message: String,
    context: BTreeMap<&'static str, [&'a str; 1]>,
    links: Empty,
    errors: Vec<DetailOut<'a>>,
}

/// The body of a refused request (HubSpot's `Error`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiErrorOut<'a> {
    pub status: &'static str,
    pub message: &'a str,
    pub correlation_id: Uuid,
    pub category: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<&'static str, Vec<String>>,
    pub links: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<DetailOut<'a>>,
}

impl<'a> ApiErrorOut<'a> {
    pub fn new(message: &'a str, correlation_id: Uuid, category: &'static str) -> Self {
        Self {
            status: "error",
            message,
            correlation_id,
            category,
            context: BTreeMap::new(),
            links: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    if serde_json::to_writer(&mut *buf, s).is_err() {
        buf.extend_from_slice(b"\"\"");
    }
}

// ---------------------------------------------------------------------------------
// Processing.

/// Everything [`process`] needs besides the body.
pub(crate) struct Ctx<'s> {
    pub schema: &'s Schema,
    pub store: &'s Store,
    pub config: &'s EmulatorConfig,
    pub correlation: Uuid,
    pub received_ms: i64,
    /// [`crate::WireShape::PartialIn200`]: `errors`/`numErrors` in a 200 instead of a 207.
    pub fold_errors: bool,
    /// Send `requestedAt: null` (else the receive time).
    pub requested_at_null: bool,
    /// If the batch is refused as a whole, write the valid prefix anyway.
    pub partial_write: bool,
}

/// What [`process`] answered.
#[derive(Debug)]
pub(crate) struct Processed {
    pub status: u16,
    pub body: Vec<u8>,
    pub inputs: usize,
    pub created: usize,
    pub updated: usize,
    pub errors: usize,
    pub partial_written: bool,
}

impl Processed {
    fn refused(status: u16, body: Vec<u8>, inputs: usize) -> Self {
        Self {
            status,
            body,
            inputs,
            created: 0,
            updated: 0,
            errors: 0,
            partial_written: false,
        }
    }
}

const CONFLICT_CODE: &str = "OBJECT_ALREADY_EXISTS";

fn category_of(details: &[Detail]) -> &'static str {
    if details.iter().any(|d| d.code == CONFLICT_CODE) {
        "CONFLICT"
    } else {
        "VALIDATION_ERROR"
    }
}

/// Problems spelled out in one input's `message`; the rest are counted.
const MESSAGE_DETAILS: usize = 10;
/// Entries of one input's `errors[]`. An input with 100,000 unknown properties would
/// otherwise make an answer of tens of megabytes (HubSpot's own answers stay small).
const LISTED_DETAILS: usize = 100;

/// The details listed in an input's `errors` (the first [`LISTED_DETAILS`]).
fn listed(details: &[Detail]) -> Vec<DetailOut<'_>> {
    details
        .iter()
        .take(LISTED_DETAILS)
        .map(DetailOut::from)
        .collect()
}

fn message_of(details: &[Detail]) -> String {
    let mut joined = details
        .iter()
        .take(MESSAGE_DETAILS)
        .map(|d| d.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if details.len() > MESSAGE_DETAILS {
        joined.push_str(&format!("; and {} more", details.len() - MESSAGE_DETAILS));
    }
    if details.iter().all(|d| d.property.is_some()) {
        format!("Property values were not valid: {joined}")
    } else {
        joined
    }
}

fn refuse(
    ctx: &Ctx<'_>,
    status: u16,
    message: &str,
    context: Vec<(&'static str, Vec<String>)>,
    inputs: usize,
) -> Processed {
    let mut body = ApiErrorOut::new(message, ctx.correlation, "VALIDATION_ERROR");
    body.context = context.into_iter().collect();
    Processed::refused(status, body.to_vec(), inputs)
}

/// Handles one authenticated, admitted request body.
pub(crate) fn process(ctx: &Ctx<'_>, body: &[u8]) -> Processed {
    let schema = ctx.schema;
    let batch: RawBatch<'_> = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return refuse(ctx, 400, &invalid_json_message(&e), Vec::new(), 0),
    };
    let started_ms = Utc::now().timestamp_millis();
    let n = batch.inputs.len();
    if n > ctx.config.max_inputs {
        return refuse(
            ctx,
            400,
            &format!(
                "Too many inputs: {n}. A batch may hold at most {} inputs",
                ctx.config.max_inputs
            ),
            vec![("inputs", vec![n.to_string()])],
            n,
        );
    }

    // Whole-batch checks, in input order; the first failure refuses the batch.
    let mut id_props: Vec<PropId> = Vec::with_capacity(n);
    for (i, input) in batch.inputs.iter().enumerate() {
        if input.id.0.is_empty() {
            return refuse(
                ctx,
                400,
                &format!("Input {i} has an empty id: each input needs the value of its idProperty"),
                vec![("index", vec![i.to_string()])],
                n,
            );
        }
        let Some(JStr(name)) = &input.id_property else {
            return refuse(
                ctx,
                400,
                &format!(
                    "Input {i} (id {:?}) has no idProperty: an upsert needs the name of a property with unique values",
                    input.id.0
                ),
                vec![("id", vec![input.id.0.to_string()])],
                n,
            );
        };
        // HubSpot's own words for an idProperty it refuses, unknown or not unique
        // alike (quoted live: "... by non-unique 0-3 property dealname"), with no
        // context naming it: clients must read the words, or do without them.
        let unique = schema
            .lookup(name)
            .filter(|p| schema.unique_slot[usize::from(*p)].is_some());
        let Some(p) = unique else {
            return refuse(
                ctx,
                400,
                &format!(
                    "Unable to perform update/upsert by non-unique {} property {name}",
                    schema.type_id
                ),
                Vec::new(),
                n,
            );
        };
        id_props.push(p);
    }
    {
        let mut seen: FastSet<(PropId, &str)> = set_with_capacity(n);
        let mut dups: Vec<String> = Vec::new();
        for (input, p) in batch.inputs.iter().zip(&id_props) {
            let id = input.id.0.as_ref();
            if !seen.insert((*p, id)) && !dups.iter().any(|d| d == id) {
                dups.push(id.to_owned());
            }
        }
        if !dups.is_empty() {
            return refuse(
                ctx,
                400,
                &format!(
                    "Duplicate IDs found in batch input: [{}]. IDs must be unique",
                    dups.join(", ")
                ),
                vec![("ids", dups)],
                n,
            );
        }
    }

    // Per-input errors come back one by one only when every input has a distinct trace id.
    let per_input = n > 0 && {
        let mut traces: FastSet<&str> = set_with_capacity(n);
        batch.inputs.iter().all(|input| {
            input
                .object_write_trace_id
                .as_ref()
                .is_some_and(|t| !t.0.is_empty() && traces.insert(t.0.as_ref()))
        })
    };

    // Schema validation, outside the lock.
    let total_props: usize = batch.inputs.iter().map(|i| i.properties.0.len()).sum();
    let mut ops: Vec<(PropId, Cow<'_, str>)> = Vec::with_capacity(total_props);
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(n);
    let mut ids: Vec<Cow<'_, str>> = Vec::with_capacity(n);
    let mut traces: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(n);
    let mut problems: Vec<Vec<Detail>> = Vec::with_capacity(n);
    let mut touches_other_unique = false;
    let max_id = ctx.config.max_id_length;
    for (input, id_prop) in batch.inputs.into_iter().zip(&id_props) {
        let mut details = Vec::new();
        let id = input.id.0;
        if id.len() > max_id && id.chars().count() > max_id {
            details.push(Detail::new(
                "ID_TOO_LONG",
                format!(
                    "id is {} characters long; the longest value of a unique property is {max_id} characters",
                    id.chars().count()
                ),
                None,
            ));
        }
        let start = ops.len();
        for (k, v) in input.properties.0 {
            let Some(p) = schema.lookup(&k) else {
                details.push(Detail::new(
                    "PROPERTY_DOESNT_EXIST",
                    format!("Property \"{k}\" does not exist"),
                    Some(&k),
                ));
                continue;
            };
            let def = schema.def(p);
            if def.read_only {
                details.push(Detail::new(
                    "READ_ONLY_VALUE",
                    format!("Property \"{k}\" is read-only and cannot be set"),
                    Some(&k),
                ));
                continue;
            }
            if p == *id_prop {
                if v != id {
                    details.push(Detail::new(
                        "CONFLICTING_ID_VALUE",
                        format!(
                            "Property \"{k}\" is this input's idProperty: its value {v:?} differs from the input's id {id:?}"
                        ),
                        Some(&k),
                    ));
                }
                continue;
            }
            if let Err(d) = validate_value(def, &v) {
                details.push(d);
                continue;
            }
            if schema.unique_slot[usize::from(p)].is_some() {
                touches_other_unique = true;
            }
            ops.push((p, v));
        }
        ranges.push(start..ops.len());
        ids.push(id);
        traces.push(input.object_write_trace_id.map(|t| t.0));
        problems.push(details);
    }

    // Under the store lock: resolve, check conflicts, write, serialize results.
    let mut g = ctx.store.lock();
    let now_ms = Utc::now().timestamp_millis();
    let targets: Vec<Option<u64>> = ids
        .iter()
        .zip(&id_props)
        .map(|(id, p)| g.holder(*p, id))
        .collect();
    if schema.unique_props.len() > 1 {
        let mut seen: FastMap<u64, usize> = map_with_capacity(n);
        for (i, t) in targets.iter().enumerate() {
            if let Some(t) = t
                && let Some(j) = seen.insert(*t, i)
            {
                drop(g);
                let pair = vec![ids[j].to_string(), ids[i].to_string()];
                return refuse(
                    ctx,
                    400,
                    &format!(
                        "Duplicate IDs found in batch input: [{}] resolve to the same {} {t}. IDs must be unique",
                        pair.join(", "),
                        schema.noun
                    ),
                    vec![("ids", pair)],
                    n,
                );
            }
        }
    }
    if touches_other_unique {
        let mut claims: FastMap<(PropId, &str), usize> = ids
            .iter()
            .zip(&id_props)
            .enumerate()
            .map(|(i, (id, p))| ((*p, id.as_ref()), i))
            .collect();
        for i in 0..n {
            if !problems[i].is_empty() {
                continue;
            }
            for (p, v) in &ops[ranges[i].clone()] {
                if v.is_empty() || schema.unique_slot[usize::from(*p)].is_none() {
                    continue;
                }
                let name = schema.name(*p);
                let holder = g.holder(*p, v);
                if holder.is_some() && holder != targets[i] {
                    problems[i].push(Detail::new(
                        CONFLICT_CODE,
                        format!(
                            "A {} with {name}={v:?} already exists: {}",
                            schema.noun,
                            holder.unwrap_or_default()
                        ),
                        Some(name),
                    ));
                } else if let Some(j) = claims.get(&(*p, v.as_ref())).copied()
                    && j != i
                {
                    problems[i].push(Detail::new(
                        CONFLICT_CODE,
                        format!("Input {j} of this batch already uses {name}={v:?}"),
                        Some(name),
                    ));
                } else {
                    claims.insert((*p, v.as_ref()), i);
                }
            }
        }
    }
    if !schema.required_on_create.is_empty() {
        for i in 0..n {
            if !problems[i].is_empty() || targets[i].is_some() {
                continue;
            }
            for p in &schema.required_on_create {
                let given = *p == id_props[i]
                    || ops[ranges[i].clone()]
                        .iter()
                        .any(|(q, v)| q == p && !v.is_empty())
                    || schema.create_defaults.iter().any(|(q, _)| q == p);
                if !given {
                    let name = schema.name(*p);
                    problems[i].push(Detail::new(
                        "REQUIRED_PROPERTY",
                        format!(
                            "Property \"{name}\" is required to create a {}",
                            schema.noun
                        ),
                        Some(name),
                    ));
                }
            }
        }
    }
    let failed = problems.iter().filter(|p| !p.is_empty()).count();

    let write = |g: &mut crate::store::StoreInner, i: usize| -> (u64, bool) {
        let it = ops[ranges[i].clone()].iter().map(|(p, v)| (*p, v.as_ref()));
        match targets[i] {
            Some(t) => {
                g.update(t, now_ms, it);
                (t, false)
            }
            None => (g.create(now_ms, id_props[i], &ids[i], it), true),
        }
    };

    if failed > 0 && !per_input {
        // Refused as a whole: report the first failing input only (as HubSpot does).
        let first = problems.iter().position(|p| !p.is_empty()).unwrap_or(0);
        let (mut created, mut updated) = (0, 0);
        if ctx.partial_write {
            for i in 0..first {
                if write(&mut g, i).1 {
                    created += 1;
                } else {
                    updated += 1;
                }
            }
        }
        drop(g);
        let details = &problems[first];
        let category = category_of(details);
        let message = message_of(details);
        let mut body = ApiErrorOut::new(&message, ctx.correlation, category);
        body.context.insert("id", vec![ids[first].to_string()]);
        if let Some(t) = &traces[first] {
            body.context
                .insert("objectWriteTraceId", vec![t.to_string()]);
        }
        body.errors = listed(details);
        let status = if category == "CONFLICT" { 409 } else { 400 };
        return Processed {
            status,
            body: body.to_vec(),
            inputs: n,
            created,
            updated,
            errors: failed,
            partial_written: created + updated > 0,
        };
    }

    let mut buf: Vec<u8> = Vec::with_capacity(256 + (n - failed) * 640);
    buf.extend_from_slice(b"{\"status\":\"COMPLETE\",\"results\":[");
    let mut echo = vec![false; schema.len()];
    let mut now_iso = Vec::with_capacity(26);
    push_iso_ms_quoted(&mut now_iso, now_ms);
    let (mut created, mut updated) = (0, 0);
    let mut first_result = true;
    for i in 0..n {
        if !problems[i].is_empty() {
            continue;
        }
        let (object_id, new) = write(&mut g, i);
        if new {
            created += 1;
        } else {
            updated += 1;
        }
        let Some(rec) = g.records.get(&object_id) else {
            continue;
        };
        if !first_result {
            buf.push(b',');
        }
        first_result = false;
        for p in &schema.echo_default {
            echo[usize::from(*p)] = true;
        }
        echo[usize::from(id_props[i])] = true;
        for (p, _) in &ops[ranges[i].clone()] {
            echo[usize::from(*p)] = true;
        }
        write_result(
            &mut buf,
            &ResultCtx {
                schema,
                portal_id: ctx.config.portal_id,
                now_ms,
                now_iso: &now_iso,
            },
            object_id,
            new,
            rec,
            &mut echo,
            traces[i].as_deref(),
        );
    }
    drop(g);
    buf.push(b']');

    // Both shapes carry `errors`/`numErrors` only when some input failed; they differ by
    // status (207 or 200).
    if failed > 0 {
        let errors: Vec<InputErrorOut<'_>> = problems
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, details)| {
                let mut context = BTreeMap::new();
                context.insert("id", [ids[i].as_ref()]);
                if let Some(t) = &traces[i] {
                    context.insert("objectWriteTraceId", [t.as_ref()]);
                }
                InputErrorOut {
                    status: "error",
                    category: category_of(details),
                    sub_category: SubCategory {
                        reason: details.first().map_or("INVALID", |d| d.code),
                    },
                    message: message_of(details),
                    context,
                    links: Empty {},
                    errors: listed(details),
                }
            })
            .collect();
        let _ = write!(buf, ",\"numErrors\":{failed},\"errors\":");
        if serde_json::to_writer(&mut buf, &errors).is_err() {
            buf.extend_from_slice(b"[]");
        }
    }
    buf.extend_from_slice(b",\"requestedAt\":");
    if ctx.requested_at_null {
        buf.extend_from_slice(b"null");
    } else {
        push_iso_ms_quoted(&mut buf, ctx.received_ms);
    }
    buf.extend_from_slice(b",\"startedAt\":");
    push_iso_ms_quoted(&mut buf, started_ms);
    buf.extend_from_slice(b",\"completedAt\":");
    push_iso_ms_quoted(&mut buf, Utc::now().timestamp_millis());
    buf.push(b'}');

    Processed {
        status: if failed > 0 && !ctx.fold_errors {
            207
        } else {
            200
        },
        body: buf,
        inputs: n,
        created,
        updated,
        errors: failed,
        partial_written: false,
    }
}

struct ResultCtx<'a> {
    schema: &'a Schema,
    portal_id: u64,
    /// The write time, and its quoted ISO form (shared by every result of the request).
    now_ms: i64,
    now_iso: &'a [u8],
}

/// Appends the quoted ISO form of `ms`, reusing the request's `now` when it matches.
fn push_time(
    buf: &mut Vec<u8>,
    rc: &ResultCtx<'_>,
    ms: i64,
    cached: &mut Option<(i64, Range<usize>)>,
) {
    if ms == rc.now_ms {
        buf.extend_from_slice(rc.now_iso);
        return;
    }
    match cached {
        Some((m, range)) if *m == ms => buf.extend_from_within(range.clone()),
        _ => {
            let start = buf.len();
            push_iso_ms_quoted(buf, ms);
            *cached = Some((ms, start..buf.len()));
        }
    }
}

/// Serializes one `SimplePublicUpsertObject`, echoing the properties flagged in `echo`
/// (and clearing the flags).
fn write_result(
    buf: &mut Vec<u8>,
    rc: &ResultCtx<'_>,
    object_id: u64,
    new: bool,
    rec: &Record,
    echo: &mut [bool],
    trace: Option<&str>,
) {
    buf.extend_from_slice(b"{\"id\":\"");
    let id_start = buf.len();
    push_u64(buf, object_id);
    let id_end = buf.len();
    buf.extend_from_slice(if new {
        b"\",\"new\":true,\"properties\":{"
    } else {
        b"\",\"new\":false,\"properties\":{"
    });
    let mut first = true;
    let mut created: Option<(i64, Range<usize>)> = None;
    let mut updated: Option<(i64, Range<usize>)> = None;
    for (idx, flag) in echo.iter_mut().enumerate() {
        if !*flag {
            continue;
        }
        *flag = false;
        let Ok(p) = PropId::try_from(idx) else {
            continue;
        };
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.extend_from_slice(&rc.schema.key_json[idx]);
        match rc.schema.derived[idx] {
            Some(Derived::ObjectId) => {
                buf.push(b'"');
                buf.extend_from_within(id_start..id_end);
                buf.push(b'"');
            }
            Some(Derived::CreateDate) => push_time(buf, rc, rec.created_ms, &mut created),
            Some(Derived::LastModified) => push_time(buf, rc, rec.updated_ms, &mut updated),
            None => match rec.get(p) {
                Some(v) => push_json_str(buf, v),
                None => buf.extend_from_slice(b"null"),
            },
        }
    }
    buf.extend_from_slice(b"},\"createdAt\":");
    push_time(buf, rc, rec.created_ms, &mut created);
    buf.extend_from_slice(b",\"updatedAt\":");
    push_time(buf, rc, rec.updated_ms, &mut updated);
    buf.extend_from_slice(b",\"archived\":false,\"url\":\"https://app.hubspot.com/contacts/");
    push_u64(buf, rc.portal_id);
    buf.extend_from_slice(b"/record/");
    buf.extend_from_slice(rc.schema.type_id.as_bytes());
    buf.push(b'/');
    buf.extend_from_within(id_start..id_end);
    buf.push(b'"');
    if let Some(t) = trace {
        buf.extend_from_slice(b",\"objectWriteTraceId\":");
        push_json_str(buf, t);
    }
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    struct Fixture {
        schema: Arc<Schema>,
        store: Store,
        config: EmulatorConfig,
    }

    impl Fixture {
        fn new(config: EmulatorConfig) -> Self {
            let schema = Arc::new(
                Schema::standard(&config, crate::object_types::StandardObject::Tickets).unwrap(),
            );
            let store = Store::new(Arc::clone(&schema), 1);
            Self {
                schema,
                store,
                config,
            }
        }

        fn run(&self, body: &Value) -> (u16, Value) {
            let ctx = Ctx {
                schema: &self.schema,
                store: &self.store,
                config: &self.config,
                correlation: Uuid::nil(),
                received_ms: 0,
                fold_errors: false,
                requested_at_null: true,
                partial_write: false,
            };
            let out = process(&ctx, &serde_json::to_vec(body).unwrap());
            (out.status, serde_json::from_slice(&out.body).unwrap())
        }
    }

    #[test]
    fn create_then_update_with_escapes() {
        let f = Fixture::new(EmulatorConfig::default());
        let body = json!({"inputs": [{"idProperty": "external_ticket_id", "id": "A\"1",
            "properties": {"subject": "line\nbreak \u{e9}"}}]});
        let (status, v) = f.run(&body);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"][0]["new"], true);
        assert_eq!(
            v["results"][0]["properties"]["subject"],
            "line\nbreak \u{e9}"
        );
        assert_eq!(v["results"][0]["properties"]["external_ticket_id"], "A\"1");
        assert_eq!(
            v["results"][0]["properties"]["hs_ticket_priority"],
            Value::Null
        );
        let (status, v) = f.run(&body);
        assert_eq!(status, 200);
        assert_eq!(v["results"][0]["new"], false);
        assert_eq!(f.store.count(), 1);
    }

    #[test]
    fn invalid_json_message_has_position() {
        let f = Fixture::new(EmulatorConfig::default());
        let ctx = Ctx {
            schema: &f.schema,
            store: &f.store,
            config: &f.config,
            correlation: Uuid::nil(),
            received_ms: 0,
            fold_errors: false,
            requested_at_null: true,
            partial_write: false,
        };
        let out = process(&ctx, b"{\"inputs\": [}");
        assert_eq!(out.status, 400);
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Invalid input JSON on line 1, column "),
            "{msg}"
        );
    }
}
