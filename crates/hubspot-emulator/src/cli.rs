//! Command-line options of the standalone emulator, and the serve loop behind them.
//!
//! Shared by the `hubspot-emulator` binary and `hubspot-tickets emulator`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::{
    CustomObjectDef, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_ID_LENGTH, DEFAULT_MAX_INPUTS,
    DEFAULT_PORTAL_ID, DEFAULT_TOKEN, Emulator, EmulatorConfig, FaultConfig, FaultKind,
    PropertyDef, PropertyKind, RateLimitConfig, RequestedAt, StandardObject, WireShape,
    builtin_ticket_properties, validate_api_version, validate_property_name,
};

/// Help text listing the fault kinds, for `after_help`.
pub const FAULT_HELP: &str = "Fault kinds (for --fault KIND=PROBABILITY): rate_limit_429, \
rate_limit_429_no_retry_after, http_500, http_502, http_503, http_504, close_before_response, \
close_after_write, delayed_response, conflict_409, truncated_body, unexpected_201, \
partial_write_on_batch_error; plus html_error_body=SHARE (share of injected 5xx with HTML bodies).";

/// The emulator's command-line options, shared by the `hubspot-emulator` binary and the
/// `hubspot-tickets emulator` subcommand (flatten it into your own clap parser).
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), env = "HUBSPOT_EMULATOR_HOST")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free port; the URL is printed on stdout).
    #[arg(short, long, default_value_t = 8080, env = "HUBSPOT_EMULATOR_PORT")]
    pub port: u16,

    /// Accepted bearer token (repeat for several).
    #[arg(long = "token", value_name = "TOKEN", default_values_t = [DEFAULT_TOKEN.to_owned()])]
    pub tokens: Vec<String>,

    /// Accept any non-empty bearer token (each gets its own rate limits).
    #[arg(long)]
    pub any_token: bool,

    /// Requests allowed per rolling window, per token (X-HubSpot-RateLimit-Max).
    #[arg(long, value_name = "N", default_value_t = 190)]
    pub rate_limit: u32,

    /// Length of the rolling window in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub rate_window_ms: u64,

    /// Requests allowed per UTC day, per token (X-HubSpot-RateLimit-Daily).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub daily_limit: u64,

    /// No daily budget (and no daily headers), as for OAuth apps.
    #[arg(long)]
    pub no_daily_limit: bool,

    /// Turn rate limiting off entirely (for benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,

    /// Send Retry-After (seconds) on rate-limit 429s.
    #[arg(long)]
    pub retry_after: bool,

    /// Turn on the "chaos" preset: a few percent of every fault kind.
    #[arg(long)]
    pub faults: bool,

    /// Set one fault probability, e.g. --fault http_502=0.05 (repeatable; applied after --faults).
    #[arg(long = "fault", value_name = "KIND=P", value_parser = parse_fault)]
    pub fault: Vec<(String, f64)>,

    /// How long a delayed_response fault holds the answer back, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub delay_ms: u64,

    /// Answer processed upserts after a lognormal latency, as a remote HubSpot does:
    /// MEDIAN[,SIGMA], e.g. 300ms, 2s,0.3 (σ 0.3 when not given). Requests count
    /// against the rate window when they arrive.
    #[arg(long, value_name = "MEDIAN[,SIGMA]", value_parser = crate::Latency::parse)]
    pub latency: Option<crate::Latency>,

    /// Answer 423 Locked for --lock-for when more than N upserts (per token) arrive
    /// within WINDOW, e.g. 60/1s (HubSpot locks an object type on bursts of upserts).
    #[arg(long, value_name = "N/WINDOW", value_parser = crate::LockRule::parse_burst)]
    pub lock_burst: Option<(u32, Duration)>,

    /// Start a 423 lock on this share of upserts, at random (seeded), e.g. 0.05.
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub lock_share: Option<f64>,

    /// How long a 423 lock lasts (e.g. 2s).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::remote::parse_duration)]
    pub lock_for: Duration,

    /// Seed of the fault RNG (same seed + same request sequence = same faults).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Snapshot file: loaded on start if it exists, written on shutdown (Ctrl-C).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Add a custom unique text property usable as idProperty (external_ticket_id always exists).
    #[arg(long = "unique-property", value_name = "NAME", value_parser = parse_unique_name)]
    pub unique_properties: Vec<String>,

    /// Add a custom property: NAME[:TYPE[:OPT1,OPT2...]] with TYPE one of string, number,
    /// bool, enumeration, checkboxes, date, datetime, unique, readonly (text that cannot
    /// be written), calculated (a number HubSpot computes) (repeatable). An option may
    /// carry its label: VALUE=Label (e.g. tier:enumeration:gold=Gold tier,std=Standard).
    #[arg(long = "property", value_name = "SPEC", value_parser = parse_property)]
    pub properties: Vec<PropertyDef>,

    /// Add a property to another object type's schema: OBJECT=NAME[:TYPE[:OPTIONS]], with
    /// OBJECT a name (contacts), an object type id (0-1) or a custom object's id or fully
    /// qualified name, and the spec as for --property (repeatable),
    /// e.g. deals=external_deal_id:unique.
    #[arg(long = "object-property", value_name = "OBJECT=SPEC", value_parser = parse_object_property)]
    pub object_properties: Vec<(String, PropertyDef)>,

    /// Serve a custom object type: ID=FULLY_QUALIFIED_NAME, e.g. 2-123=p_2418337_cars
    /// (repeatable). Give it a unique property with --object-property.
    #[arg(long = "custom-object", value_name = "ID=NAME", value_parser = parse_custom_object)]
    pub custom_objects: Vec<(String, String)>,

    /// Serve a dated API version: VERSION[=LIKE], LIKE being a published version whose
    /// wire shape it copies (v3, 2026-03 or 2026-09; default 2026-09), e.g.
    /// 2027-03=2026-09 (repeatable; 2026-03 and 2026-09 are always served).
    #[arg(long = "api-version", value_name = "VERSION[=LIKE]", value_parser = parse_api_version)]
    pub api_versions: Vec<(String, WireShape)>,

    /// Accept TOKEN with only these scopes: TOKEN=SCOPE[,SCOPE...], e.g.
    /// t1=tickets,crm.objects.contacts.write (repeatable). Other tokens may write every
    /// object type.
    #[arg(long = "token-scopes", value_name = "TOKEN=SCOPES", value_parser = parse_token_scopes)]
    pub token_scopes: Vec<(String, Vec<String>)>,

    /// Property that a created ticket must have (repeatable), e.g. subject.
    #[arg(long = "required-on-create", value_name = "NAME")]
    pub required_on_create: Vec<String>,

    /// Most inputs per request.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_INPUTS)]
    pub max_inputs: usize,

    /// Longest accepted id (unique value), in characters.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ID_LENGTH)]
    pub max_id_length: usize,

    /// Portal id used in record URLs and 429 group names.
    #[arg(long, value_name = "ID", default_value_t = DEFAULT_PORTAL_ID)]
    pub portal_id: u64,

    /// Close a connection whose request headers have not all arrived within this many
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub header_read_timeout_ms: u64,

    /// Close a connection with no traffic and no request being handled for this many
    /// milliseconds (a half-sent body counts as idle).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub idle_timeout_ms: u64,

    /// Most connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// How requestedAt is sent on successful answers.
    #[arg(long, value_enum, default_value_t = RequestedAtArg::Alternate)]
    pub requested_at: RequestedAtArg,

    /// Serve HubSpot's OAuth token endpoint (POST /oauth/2026-03/token, refresh grant)
    /// for an app with this client id (with --oauth-client-secret and at least one
    /// --oauth-refresh-token). The app's access tokens share one rate-limit window.
    #[arg(long, value_name = "ID", requires_all = ["oauth_client_secret", "oauth_refresh_tokens"])]
    pub oauth_client_id: Option<String>,

    /// The OAuth app's client secret (a test value: this is an emulator).
    #[arg(
        long,
        value_name = "SECRET",
        env = "HUBSPOT_EMULATOR_CLIENT_SECRET",
        requires = "oauth_client_id"
    )]
    pub oauth_client_secret: Option<crate::oauth::Hidden>,

    /// A refresh token the token endpoint accepts for the OAuth app (repeatable).
    #[arg(
        long = "oauth-refresh-token",
        value_name = "TOKEN",
        requires = "oauth_client_id"
    )]
    pub oauth_refresh_tokens: Vec<crate::oauth::Hidden>,

    /// How long issued OAuth access tokens live (ms, s or m; HubSpot: 30m).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::remote::parse_duration)]
    pub access_token_lifetime: Duration,
}

/// How `requestedAt` is sent (see [`RequestedAt`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RequestedAtArg {
    /// Always null.
    Null,
    /// Always the receive time.
    Timestamp,
    /// null and a timestamp in turn.
    Alternate,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|e| format!("bad share {s:?}: {e}"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("share {s:?} must be within 0..=1"));
    }
    Ok(p)
}

fn parse_fault(s: &str) -> Result<(String, f64), String> {
    let (kind, p) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KIND=PROBABILITY, got {s:?}"))?;
    let p: f64 = p
        .trim()
        .parse()
        .map_err(|e| format!("bad probability in {s:?}: {e}"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("probability in {s:?} must be within 0..=1"));
    }
    let kind = kind.trim();
    if kind != "html_error_body" && FaultKind::parse(kind).is_none() {
        return Err(format!("unknown fault kind {kind:?}. {FAULT_HELP}"));
    }
    Ok((kind.to_owned(), p))
}

fn parse_unique_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    validate_property_name(name)?;
    if let Some(def) = builtin_ticket_properties()
        .into_iter()
        .find(|d| d.name == name && d.read_only)
    {
        return Err(format!(
            "{:?} is a read-only property (computed by HubSpot); it cannot be a unique property",
            def.name
        ));
    }
    Ok(name.to_owned())
}

fn parse_property(s: &str) -> Result<PropertyDef, String> {
    let def = parse_property_spec(s)?;
    if builtin_ticket_properties()
        .iter()
        .any(|d| d.name == def.name && d.read_only)
    {
        return Err(format!(
            "{:?} is a read-only property (computed by HubSpot); it cannot be redefined",
            def.name
        ));
    }
    Ok(def)
}

fn parse_object_property(s: &str) -> Result<(String, PropertyDef), String> {
    let (object, spec) = s
        .split_once('=')
        .ok_or_else(|| format!("expected OBJECT=NAME[:TYPE[:OPTIONS]], got {s:?}"))?;
    let object = object.trim();
    if object.is_empty() {
        return Err(format!("no object type in {s:?}"));
    }
    // Read-only built-ins differ by object type; the schema refuses them at start.
    Ok((object.to_owned(), parse_property_spec(spec)?))
}

fn parse_custom_object(s: &str) -> Result<(String, String), String> {
    let (id, name) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=FULLY_QUALIFIED_NAME, got {s:?}"))?;
    // A placeholder unique property: only the id and name forms are checked here.
    CustomObjectDef::new(id.trim(), name.trim())
        .with_unique_property("placeholder")
        .validate()?;
    Ok((id.trim().to_owned(), name.trim().to_owned()))
}

fn parse_api_version(s: &str) -> Result<(String, WireShape), String> {
    let (version, like) = match s.split_once('=') {
        Some((v, l)) => (v.trim(), l.trim()),
        None => (s.trim(), "2026-09"),
    };
    validate_api_version(version)?;
    let shape = WireShape::of_known_version(like)
        .ok_or_else(|| format!("unknown version {like:?} to copy: use v3, 2026-03 or 2026-09"))?;
    Ok((version.to_owned(), shape))
}

fn parse_token_scopes(s: &str) -> Result<(String, Vec<String>), String> {
    let (token, scopes) = s
        .split_once('=')
        .ok_or_else(|| format!("expected TOKEN=SCOPE[,SCOPE...], got {s:?}"))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("no token in {s:?}"));
    }
    let scopes = scopes
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((token.to_owned(), scopes))
}

/// `NAME[:TYPE[:OPTIONS]]`, with no check of which names are built in.
fn parse_property_spec(s: &str) -> Result<PropertyDef, String> {
    let mut parts = s.splitn(3, ':');
    let name = parts.next().unwrap_or_default().trim();
    validate_property_name(name)?;
    let kind = parts.next().unwrap_or("string").trim();
    // `VALUE=Label` gives an option its label; the value alone gets one made from it.
    let mut labels: Vec<(String, String)> = Vec::new();
    let options: Vec<String> = parts
        .next()
        .map(|o| {
            o.split(',')
                .map(|x| match x.split_once('=') {
                    Some((value, label)) => {
                        labels.push((value.trim().to_owned(), label.trim().to_owned()));
                        value.trim().to_owned()
                    }
                    None => x.trim().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let def = match kind {
        "string" | "text" => PropertyDef::string(name),
        "unique" => PropertyDef::string(name).unique(),
        "readonly" => PropertyDef::string(name).read_only(),
        "calculated" => PropertyDef::number(name).calculated(),
        "number" => PropertyDef::number(name),
        "bool" | "boolean" => PropertyDef::boolean(name),
        "date" => PropertyDef::date(name),
        "datetime" => PropertyDef::datetime(name),
        "enumeration" | "enum" | "checkboxes" if options.is_empty() => {
            return Err(format!(
                "{kind} property {name:?} needs options: NAME:{kind}:A,B"
            ));
        }
        "enumeration" | "enum" => PropertyDef::enumeration(name, options),
        "checkboxes" => PropertyDef::checkboxes(name, options),
        other => return Err(format!("unknown property type {other:?}")),
    };
    Ok(if labels.is_empty() {
        def
    } else {
        def.with_option_labels(labels)
    })
}

/// A property definition written back as its `--property` spec, for error messages.
fn property_spec(def: &PropertyDef) -> String {
    let (kind, options) = match &def.kind {
        PropertyKind::Number if def.calculated => ("calculated", None),
        PropertyKind::String if def.read_only => ("readonly", None),
        PropertyKind::String if def.unique => ("unique", None),
        PropertyKind::String => ("string", None),
        PropertyKind::Number => ("number", None),
        PropertyKind::Bool => ("bool", None),
        PropertyKind::Date => ("date", None),
        PropertyKind::DateTime => ("datetime", None),
        PropertyKind::Enumeration(o) => ("enumeration", Some(o)),
        PropertyKind::Checkboxes(o) => ("checkboxes", Some(o)),
    };
    match options {
        Some(o) => format!("{}:{kind}:{}", def.name, o.join(",")),
        None => format!("{}:{kind}", def.name),
    }
}

impl EmulatorArgs {
    /// The emulator configuration these options describe, or why they are invalid.
    pub fn to_config(&self) -> Result<EmulatorConfig, String> {
        build_config(self)
    }
}

fn build_config(cli: &EmulatorArgs) -> Result<EmulatorConfig, String> {
    let mut config = EmulatorConfig::default()
        .with_bind(SocketAddr::new(cli.host, cli.port))
        .with_tokens(cli.tokens.iter().cloned())
        .with_max_inputs(cli.max_inputs)
        .with_max_id_length(cli.max_id_length)
        .with_portal_id(cli.portal_id)
        .with_required_on_create(cli.required_on_create.iter().cloned())
        .with_header_read_timeout(Duration::from_millis(cli.header_read_timeout_ms))
        .with_idle_timeout(Duration::from_millis(cli.idle_timeout_ms))
        .with_max_connections(cli.max_connections)
        .with_requested_at(match cli.requested_at {
            RequestedAtArg::Null => RequestedAt::Null,
            RequestedAtArg::Timestamp => RequestedAt::Timestamp,
            RequestedAtArg::Alternate => RequestedAt::Alternate,
        });
    if cli.any_token {
        config = config.with_any_token();
    }
    config = if cli.no_rate_limits {
        config.without_rate_limits()
    } else {
        config.with_rate_limit(
            RateLimitConfig::per_window(cli.rate_limit, Duration::from_millis(cli.rate_window_ms))
                .with_daily((!cli.no_daily_limit).then_some(cli.daily_limit))
                .with_retry_after(cli.retry_after),
        )
    };
    let mut faults = if cli.faults {
        FaultConfig::chaos(cli.seed)
    } else {
        FaultConfig::none(cli.seed)
    };
    faults = faults.with_response_delay(Duration::from_millis(cli.delay_ms));
    for (kind, p) in &cli.fault {
        if kind == "html_error_body" {
            faults = faults.with_html_error_body(*p);
        } else if let Some(k) = FaultKind::parse(kind) {
            faults = faults.with(k, *p);
        }
    }
    faults.validate()?;
    config = config.with_faults(faults);
    if let Some(latency) = cli.latency {
        config = config.with_latency(latency);
    }
    if cli.lock_burst.is_some() || cli.lock_share.is_some() {
        config = config.with_lock(crate::LockRule {
            burst: cli.lock_burst,
            share: cli.lock_share.unwrap_or(0.0),
            lock_for: cli.lock_for,
        });
    }
    // Each custom property gets one definition: the same one given twice is fine,
    // two different ones are refused rather than the last silently winning.
    let defs = cli
        .unique_properties
        .iter()
        .map(|name| {
            (
                format!("--unique-property {name}"),
                PropertyDef::string(name.clone()).unique(),
            )
        })
        .chain(
            cli.properties
                .iter()
                .map(|def| (format!("--property {}", property_spec(def)), def.clone())),
        );
    let mut custom: Vec<CustomObjectDef> = Vec::new();
    for (id, name) in &cli.custom_objects {
        if custom
            .iter()
            .any(|c| c.object_type_id == *id || c.fully_qualified_name == *name)
        {
            return Err(format!(
                "--custom-object {id}={name} repeats another custom object's id or name"
            ));
        }
        custom.push(CustomObjectDef::new(id.clone(), name.clone()));
    }
    /// Where an `--object-property` goes.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Owner {
        Standard(StandardObject),
        Custom(usize),
    }
    let tickets = defs.map(|(flag, def)| (flag, Owner::Standard(StandardObject::Tickets), def));
    let mut others = Vec::new();
    for (object, def) in &cli.object_properties {
        let owner = match crate::object_types::resolve(&custom, object) {
            Some(crate::object_types::ObjectKey::Standard(o)) => Owner::Standard(o),
            Some(crate::object_types::ObjectKey::Custom(i)) => Owner::Custom(i),
            None => {
                return Err(format!(
                    "--object-property {object}={}: unknown object type {object:?} (use \
                     tickets, contacts, companies, deals, their ids, or a --custom-object)",
                    property_spec(def)
                ));
            }
        };
        let flag = format!("--object-property {object}={}", property_spec(def));
        others.push((flag, owner, def.clone()));
    }
    let mut seen: Vec<(String, Owner, PropertyDef)> = Vec::new();
    for (flag, owner, def) in tickets.chain(others) {
        if let Some((first, _, _)) = seen
            .iter()
            .find(|(_, o, d)| *o == owner && d.name == def.name && *d != def)
        {
            return Err(format!(
                "{first} and {flag} define property {:?} differently; give it one definition",
                def.name
            ));
        }
        seen.push((flag, owner, def.clone()));
        match owner {
            Owner::Standard(o) => config = config.with_object_property(o, def),
            Owner::Custom(i) => {
                if let Some(c) = custom.get_mut(i) {
                    *c = c.clone().with_property(def);
                }
            }
        }
    }
    for c in custom {
        config = config.with_custom_object(c);
    }
    for (version, shape) in &cli.api_versions {
        config = config.with_api_version(version.clone(), *shape);
    }
    for (token, scopes) in &cli.token_scopes {
        config = config.with_token_scopes(token.clone(), scopes.iter().cloned());
    }
    config = config.with_access_token_lifetime(cli.access_token_lifetime);
    if let (Some(id), Some(secret)) = (&cli.oauth_client_id, &cli.oauth_client_secret) {
        config = config.with_oauth_app(crate::OAuthApp::new(
            id.clone(),
            secret.0.clone(),
            cli.oauth_refresh_tokens.iter().map(|t| t.0.clone()),
        ));
    }
    config.validate_objects()?;
    if let Some(state) = &cli.state {
        config = config.with_state_file(state.clone());
    }
    Ok(config)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called (not
/// when the future is first polled), so call it before announcing readiness.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the emulator described by `args`, prints `hubspot-emulator listening on URL` on
/// stdout (the one line scripts read), serves until Ctrl-C or SIGTERM, then shuts down
/// (saving the state file if one is set).
pub async fn serve(args: &EmulatorArgs) -> Result<(), String> {
    let config = args.to_config()?;
    let emu = Emulator::start(config).await.map_err(|e| e.to_string())?;
    let c = emu.config();
    tracing::info!(
        tokens = c.tokens.len(),
        rate_limit = ?c.rate_limit,
        faults_active = c.faults.is_active(),
        seed = c.faults.seed,
        "ready"
    );
    let signal = shutdown_signal();
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "hubspot-emulator listening on {}", emu.base_url());
        let _ = out.flush();
    }
    signal.await;
    tracing::info!("shutting down");
    let stats = emu.stats();
    tracing::info!(
        requests = stats.requests,
        created = stats.records_created,
        updated = stats.records_updated,
        faults = stats.total_faults(),
        "final counters"
    );
    emu.shutdown().await.map_err(|e| e.to_string())
}
