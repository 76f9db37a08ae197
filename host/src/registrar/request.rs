//! Reading a REGISTER into the change it asks for. Everything that can make
//! the request fail is checked here, before the location service is locked.

use super::RegistrarConfig;
use sipwarden_grammar::{Address, Uri, split_list, unquote};

use super::options::{lists_tag, option_tags};
use super::rejection::Rejection;
use crate::sip::{Method, Request};

/// The option tags of the extensions implemented here, which a REGISTER may
/// therefore Require.
const EXTENSIONS: [&str; 2] = ["path", "outbound"];

/// RFC 3261 §10.2.1.1: an interval that is not a number (an RFC 2543
/// absolute date, say) counts as an hour.
const MALFORMED_EXPIRES: u32 = 3600;

/// A REGISTER, checked and read.
pub(super) struct Registration {
    /// The canonical address-of-record, from To.
    pub aor: String,
    pub call_id: String,
    pub cseq: u32,
    pub action: Action,
    /// The Path entries (RFC 3327), in order.
    pub path: Vec<String>,
    /// Whether a binding is made under RFC 5626 outbound for a UA that
    /// supports it, so the 200 must carry `Require: outbound`.
    pub outbound: bool,
}

pub(super) enum Action {
    /// No Contact: the UA asks which bindings there are.
    Query,
    /// `Contact: *` with `Expires: 0`: remove every binding.
    RemoveAll,
    /// Contacts to add, refresh or (with `expires` 0) remove, in request order.
    Update(Vec<ContactUpdate>),
}

/// One Contact of a REGISTER.
pub(super) struct ContactUpdate {
    pub identity: Identity,
    /// The Contact URI as sent: where requests for the binding go.
    pub uri: String,
    pub q: Option<f32>,
    /// The granted interval in seconds, within the configured bounds; 0
    /// removes the binding.
    pub expires: u32,
}

/// What tells one binding of an address-of-record from another.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The Contact URI in comparable form ([`Uri::binding_key`]).
    pub key: String,
    /// `+sip.instance`, without its quotes.
    pub instance: Option<String>,
    /// `reg-id`, kept only under RFC 5626 outbound.
    pub reg_id: Option<u32>,
}

impl Identity {
    /// Two contacts that name the same device instance (and flow, with
    /// reg-id) are one binding whatever their URIs, so that a device that
    /// moved to another network replaces its binding (REG-4) while another
    /// device adds its own (REG-3). Without an instance on both sides, the
    /// Contact URI decides, as in RFC 3261.
    ///
    /// RFC 5626 §6 compares URIs when there is an instance but no reg-id; that
    /// would leave the old address of a moved device bound until it expired.
    pub fn same_binding(&self, other: &Identity) -> bool {
        match (&self.instance, &other.instance) {
            (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(theirs) && self.reg_id == other.reg_id,
            _ => self.key == other.key,
        }
    }
}

fn malformed(header: &'static str, reason: impl ToString) -> Rejection {
    Rejection::Malformed { header, reason: reason.to_string() }
}

/// Reads and checks `request` (RFC 3261 §10.3 steps 2, 5, 6 and 7; RFC 5626 §6).
pub(super) fn read(request: &Request, config: &RegistrarConfig) -> Result<Registration, Rejection> {
    if request.method != Method::REGISTER {
        return Err(Rejection::NotRegister);
    }
    let unsupported: Vec<String> = option_tags(request.headers.get_all("Require"))
        .filter(|tag| !EXTENSIONS.iter().any(|known| known.eq_ignore_ascii_case(tag)))
        .map(str::to_owned)
        .collect();
    if !unsupported.is_empty() {
        return Err(Rejection::BadExtension { unsupported });
    }
    let aor = address_of_record(request, config)?;
    let call_id = request.call_id().ok_or_else(|| malformed("Call-ID", "missing"))?.to_owned();
    let (cseq, _) = request.cseq().ok_or_else(|| malformed("CSeq", "missing or malformed"))?;
    let path = read_path(request)?;

    let mut contacts = Vec::new();
    for value in request.headers.get_all("Contact") {
        contacts.extend(split_list(value).map_err(|reason| malformed("Contact", reason))?);
    }
    let header_expires = request.headers.get("Expires").map(parse_delta);
    let (action, outbound) = if contacts.is_empty() {
        (Action::Query, false)
    } else if contacts.contains(&"*") {
        if contacts.len() > 1 {
            return Err(malformed("Contact", "* must be the only contact"));
        }
        if header_expires != Some(0) {
            return Err(malformed("Contact", "* requires Expires: 0"));
        }
        (Action::RemoveAll, false)
    } else {
        let flows = Flows::of(request, &path);
        let updates = contacts
            .into_iter()
            .map(|contact| read_contact(contact, header_expires, config, &flows))
            .collect::<Result<Vec<_>, _>>()?;
        // RFC 5626 §6: a registration over a flow binds a single contact.
        let active = updates.iter().filter(|update| update.expires > 0);
        if active.clone().count() > 1 && active.clone().any(|update| update.identity.reg_id.is_some()) {
            return Err(malformed("Contact", "reg-id with more than one contact"));
        }
        let outbound = flows.ua_supports && updates.iter().any(|update| update.identity.reg_id.is_some());
        (Action::Update(updates), outbound)
    };
    Ok(Registration { aor, call_id, cseq, action, path, outbound })
}

/// The address-of-record in To, if it belongs to a domain served here (§10.3 step 5).
fn address_of_record(request: &Request, config: &RegistrarConfig) -> Result<String, Rejection> {
    let to = request.headers.get("To").ok_or_else(|| malformed("To", "missing"))?;
    let uri = Address::split(to).map_err(|reason| malformed("To", reason))?.uri();
    match Uri::parse(uri) {
        Err(_) => Err(malformed("To", "invalid URI")),
        Ok(Uri::Sip(uri)) if config.serves_host(&uri.canonical_host()) => Ok(uri.aor()),
        Ok(_) => Err(Rejection::NotServed),
    }
}

/// The Path entries, each checked to be an address the proxy can route to.
fn read_path(request: &Request) -> Result<Vec<String>, Rejection> {
    let mut path = Vec::new();
    for value in request.headers.get_all("Path") {
        for entry in split_list(value).map_err(|reason| malformed("Path", reason))? {
            let address = Address::split(entry).map_err(|reason| malformed("Path", reason))?;
            Uri::parse(address.uri()).map_err(|_| malformed("Path", "invalid URI"))?;
            path.push(entry.to_owned());
        }
    }
    Ok(path)
}

/// What RFC 5626 §6 needs to know about the hops a REGISTER came through.
struct Flows {
    /// Whether the registrar can keep the UA's flow: the UA is its direct
    /// peer (a single Via), or the edge proxy in front put an `ob` parameter
    /// on its Path entry to say it keeps the flow.
    available: bool,
    /// Whether the UA lists `outbound` in Supported.
    ua_supports: bool,
}

impl Flows {
    fn of(request: &Request, path: &[String]) -> Flows {
        let vias: usize =
            request.headers.get_all("Via").map(|via| split_list(via).map_or(1, |parms| parms.len())).sum();
        let edge_keeps_flow = path
            .first()
            .and_then(|entry| Address::parse(entry).ok())
            .is_some_and(|edge| matches!(Uri::parse(edge.uri()), Ok(Uri::Sip(uri)) if uri.param("ob").is_some()));
        Flows {
            available: vias <= 1 || edge_keeps_flow,
            ua_supports: lists_tag(request.headers.get_all("Supported"), "outbound"),
        }
    }
}

fn read_contact(
    text: &str,
    header_expires: Option<u32>,
    config: &RegistrarConfig,
    flows: &Flows,
) -> Result<ContactUpdate, Rejection> {
    let bad = |reason: &dyn ToString| malformed("Contact", reason.to_string());
    // The address first, then its URI: a URI that does not parse is an
    // "invalid URI" whatever the grammar says is wrong with it.
    let contact = Address::split(text).map_err(|e| bad(&e))?;
    let key = Uri::parse(contact.uri()).map_err(|_| bad(&"invalid URI"))?.binding_key();
    let instance = contact.param("+sip.instance").map(unquote);
    if instance.as_deref() == Some("") {
        return Err(bad(&"empty +sip.instance"));
    }
    let reg_id = contact
        .param("reg-id")
        .map(|reg_id| reg_id.parse::<u32>().ok().filter(|&reg_id| reg_id > 0).ok_or_else(|| bad(&"malformed reg-id")))
        .transpose()?;
    if reg_id.is_some() && !flows.available && flows.ua_supports {
        return Err(Rejection::FirstHopLacksOutbound);
    }
    // Without an instance, or without a flow to keep, reg-id means nothing (RFC 5626 §6).
    let reg_id = reg_id.filter(|_| instance.is_some() && flows.available);
    let q = contact.param("q").map(|q| parse_q(q).ok_or_else(|| bad(&"malformed q"))).transpose()?;
    let requested = contact.param("expires").map(parse_delta).or(header_expires).unwrap_or(config.default_expires);
    let expires = match requested {
        0 => 0,
        brief if brief < config.min_expires => {
            return Err(Rejection::IntervalTooBrief { min_expires: config.min_expires });
        }
        long => long.min(config.max_expires),
    };
    Ok(ContactUpdate {
        identity: Identity { key, instance: instance.map(|instance| instance.into_owned()), reg_id },
        uri: contact.uri().to_owned(),
        q,
        expires,
    })
}

/// `delta-seconds`, saturated at 2³²−1 as RFC 3261 §10.2.1.1 allows.
fn parse_delta(text: &str) -> u32 {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return MALFORMED_EXPIRES;
    }
    text.parse::<u64>().map_or(u32::MAX, |seconds| u32::try_from(seconds).unwrap_or(u32::MAX))
}

/// `qvalue`: a number from 0 to 1 with up to three decimals.
fn parse_q(text: &str) -> Option<f32> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() != 1 || !digits(whole) || !digits(decimals) || decimals.len() > 3 {
        return None;
    }
    text.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))
}
