//! Where a request goes next (RFC 3261 §16.4–16.6): Route headers first
//! (loose routing), then the embedded registrar's bindings for our own
//! domains, then the configured upstream. Anything else is refused: the
//! proxy is not an open relay.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::registrar::{Binding, Registrar, aor_of};
use crate::sip::{self, Method, SipUri, split_list, uri_of};
use crate::transport::{ConnectionId, Target, Transport};

/// How long a DNS look-up of a next hop may take before the request is
/// answered 503 instead.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who this proxy is on the wire: what it writes in Via and Record-Route,
/// and what it recognises as itself in Route and Request-URI.
#[derive(Debug, Clone)]
pub struct Local {
    /// The host written in Via and Record-Route.
    pub advertise: String,
    /// Every bound listener.
    pub listeners: Vec<(Transport, SocketAddr)>,
}

impl Local {
    fn port(&self, transport: Transport) -> Option<u16> {
        self.listeners.iter().find(|(t, _)| *t == transport).map(|(_, a)| a.port())
    }

    /// The Via this proxy adds when sending over `transport`.
    pub fn via(&self, transport: Transport, branch: &str) -> String {
        let port = self.port(transport).unwrap_or(default_port(transport));
        format!("SIP/2.0/{} {}:{port};branch={branch};rport", transport.via_token(), self.advertise)
    }

    /// The Record-Route value that brings in-dialog requests back over
    /// `transport`.
    pub fn record_route(&self, transport: Transport) -> String {
        let port = self.port(transport).unwrap_or(default_port(transport));
        let scheme = if transport == Transport::Tls { "sips" } else { "sip" };
        let param = if transport == Transport::Udp || transport == Transport::Tls {
            String::new()
        } else {
            format!(";transport={}", transport.via_token().to_ascii_lowercase())
        };
        format!("<{scheme}:{}:{port}{param};lr>", self.advertise)
    }

    /// Whether a URI names this proxy (host and port; RFC 3261 §16.4).
    pub fn is_me(&self, uri: &SipUri<'_>) -> bool {
        let port = uri.port_or_default();
        let host = uri.host().trim_start_matches('[').trim_end_matches(']');
        let host_is_me = host.eq_ignore_ascii_case(&self.advertise)
            || host.parse::<IpAddr>().is_ok_and(|ip| {
                self.listeners.iter().any(|(_, a)| a.ip() == ip || (a.ip().is_unspecified() && ip.is_loopback()))
            });
        host_is_me && self.listeners.iter().any(|(_, a)| a.port() == port)
    }
}

pub fn default_port(transport: Transport) -> u16 {
    if transport.is_secure() { 5061 } else { 5060 }
}

/// The configured upstream next hop.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Where upstream requests go, resolved as any next hop is (see
    /// [`resolve`]): its `transport` parameter, its port or the transport's
    /// default, its host's first address.
    pub uri: SipUri<'static>,
    /// Request-URI domains sent upstream; empty: every domain the registrar
    /// does not serve.
    pub domains: Vec<String>,
}

/// One place to send a request to.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The new Request-URI (a registered Contact), if retargeted.
    pub uri: Option<String>,
    /// Route values to put in front (a binding's Path, RFC 3327).
    pub routes: Vec<String>,
    pub target: Target,
}

/// What to do with a request the chain let through.
#[derive(Debug)]
pub enum Decision {
    Forward(Vec<Hop>),
    /// A REGISTER for a domain the embedded registrar serves.
    Register,
    /// An OPTIONS addressed to the proxy itself: answered 200 here.
    Options,
    /// The request cannot be routed: answered here with the status.
    Refuse(Unroutable),
}

/// Why a request the chain let through cannot be routed. The `Display`
/// text is the reason phrase of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    /// The top Route entry is not a SIP URI.
    #[error("Bad Route Header")]
    BadRoute,
    /// A Request-URI that is not sip:/sips: with no upstream to take it.
    #[error("Unsupported URI Scheme")]
    UnsupportedScheme,
    /// Addressed to this proxy, not to a user, and not a method it answers.
    #[error("Not Found")]
    NotFound,
    /// A user of a domain served here with no usable binding.
    #[error("Temporarily Unavailable")]
    Unavailable,
    /// Neither served here nor going to a configured upstream.
    #[error("Relaying Denied")]
    RelayingDenied,
    /// The next hop could not be resolved to an address.
    #[error(transparent)]
    NextHop(#[from] Unresolvable),
}

impl Unroutable {
    /// The status the proxy answers with: 400, 416, 404, 480, 403 or 503,
    /// in the order of the variants.
    pub fn status(&self) -> u16 {
        match self {
            Unroutable::BadRoute => 400,
            Unroutable::UnsupportedScheme => 416,
            Unroutable::NotFound => 404,
            Unroutable::Unavailable => 480,
            Unroutable::RelayingDenied => 403,
            Unroutable::NextHop(_) => 503,
        }
    }
}

/// Why a URI names no next hop. The `Display` text is a reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unresolvable {
    /// A `transport=` parameter naming no transport sipwarden speaks.
    #[error("Unsupported Transport")]
    Transport,
    /// The host has no address, or the look-up failed or timed out.
    #[error("Next Hop Unresolvable")]
    Host,
}

/// Decide where a request goes, applying loose routing to it.
pub async fn route(
    local: &Local,
    registrar: Option<&Registrar>,
    upstream: Option<&Upstream>,
    request: &mut sip::Request,
) -> Decision {
    let routed_through_us = pop_own_routes(local, request);

    if let Some(routes) = request.headers.get("Route") {
        // A Route we cannot read is refused, never skipped: skipping it would
        // route by the Request-URI a request meant to go elsewhere.
        let top = split_list(routes).ok().and_then(|list| list.first().copied());
        return match top.and_then(|route| uri_of(route).ok()).map(SipUri::parse) {
            Some(Ok(uri)) => single(resolve(&uri).await),
            _ => Decision::Refuse(Unroutable::BadRoute),
        };
    }

    let Ok(ruri) = SipUri::parse(&request.uri) else {
        // tel: and other schemes: only an upstream can route them.
        return match upstream {
            Some(up) => single(resolve(&up.uri).await),
            None => Decision::Refuse(Unroutable::UnsupportedScheme),
        };
    };

    let addressed_to_me = local.is_me(&ruri);
    if routed_through_us && !addressed_to_me {
        // A previous hop routed the request through us (our Record-Route in
        // a dialog, or a Path): the Request-URI is where it goes next, not a
        // location look-up.
        return single(resolve(&ruri).await);
    }
    if addressed_to_me && ruri.user().is_none() {
        return match &request.method {
            m if *m == Method::REGISTER && registrar.is_some() => Decision::Register,
            m if *m == Method::OPTIONS => Decision::Options,
            _ => Decision::Refuse(Unroutable::NotFound),
        };
    }

    if let Some(registrar) = registrar
        && (registrar.serves(&request.uri) || addressed_to_me)
    {
        if request.method == Method::REGISTER {
            return Decision::Register;
        }
        let Some(aor) = aor_of(&request.uri) else { return Decision::Refuse(Unroutable::NotFound) };
        let bindings = registrar.lookup(&aor, Instant::now());
        if bindings.is_empty() {
            return Decision::Refuse(Unroutable::Unavailable);
        }
        let mut hops = Vec::new();
        for binding in &bindings {
            if let Some(hop) = binding_hop(binding).await {
                hops.push(hop);
            }
        }
        return if hops.is_empty() { Decision::Refuse(Unroutable::Unavailable) } else { Decision::Forward(hops) };
    }

    if let Some(up) = upstream
        && (up.domains.is_empty() || up.domains.iter().any(|d| d.eq_ignore_ascii_case(ruri.host())))
    {
        return single(resolve(&up.uri).await);
    }
    Decision::Refuse(Unroutable::RelayingDenied)
}

fn single(target: Result<Target, Unresolvable>) -> Decision {
    match target {
        Ok(target) => Decision::Forward(vec![Hop { uri: None, routes: Vec::new(), target }]),
        Err(why) => Decision::Refuse(why.into()),
    }
}

/// Remove the Route entries that name us (loose routing), and undo a strict
/// router's rewrite when the Request-URI is our own Record-Route URI.
/// Returns whether the request was routed to us by a Route.
fn pop_own_routes(local: &Local, request: &mut sip::Request) -> bool {
    if let Ok(ruri) = SipUri::parse(&request.uri)
        && local.is_me(&ruri)
        && ruri.param("lr").is_some()
    {
        let mut routes = route_entries(request);
        if let Some(last) = routes.pop()
            && let Ok(uri) = uri_of(&last)
        {
            request.uri = uri.to_string();
            set_routes(request, &routes);
            return true;
        }
    }
    let mut routes = route_entries(request);
    let before = routes.len();
    while let Some(first) = routes.first() {
        match uri_of(first).map(SipUri::parse) {
            Ok(Ok(uri)) if local.is_me(&uri) => {
                routes.remove(0);
            }
            _ => break,
        }
    }
    if routes.len() != before {
        set_routes(request, &routes);
    }
    routes.len() != before
}

fn route_entries(request: &sip::Request) -> Vec<String> {
    // A value that does not split stays whole: the top Route check then
    // refuses it (Bad Route Header) rather than losing it.
    request
        .headers
        .get_all("Route")
        .flat_map(|value| split_list(value).unwrap_or_else(|_| vec![value]))
        .map(str::to_string)
        .collect()
}

fn set_routes(request: &mut sip::Request, routes: &[String]) {
    request.headers.remove("Route");
    for route in routes {
        // Entries of the message's own Route fields, as the lexer read them.
        request.headers.append(sip::Header::from_checked_parts("Route", route.clone()));
    }
}

async fn binding_hop(binding: &Binding) -> Option<Hop> {
    let source = &binding.source;
    // A client registered over a connection is reached over that connection
    // (RFC 5626): its Contact is often an address nobody can connect to. A
    // WebSocket client's always is (RFC 7118 §5: a random `.invalid` host),
    // and there is nothing to connect to once its connection is gone, so
    // its Contact is not even looked up.
    let contact = SipUri::parse(&binding.contact).ok();
    let websocket = matches!(source.transport, Transport::Ws | Transport::Wss);
    let resolved = match &contact {
        Some(contact) if !websocket => resolve(contact).await.ok(),
        _ => None,
    };
    let target = match (binding.flow, source.transport) {
        // Over the client's connection while it is open; if it has closed,
        // the transport connects to the Contact instead.
        (Some(flow), Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss) => Target {
            transport: source.transport,
            addr: resolved.as_ref().filter(|t| t.transport == source.transport).map_or(source.source, |t| t.addr),
            flow: Some(ConnectionId::from_raw(flow.0)),
            server_name: None,
        },
        _ => resolved?,
    };
    Some(Hop { uri: Some(binding.contact.clone()), routes: binding.path.clone(), target })
}

/// Resolve a SIP URI to a transport address: the `transport` parameter (or
/// TLS for `sips:`), the port (or the transport's default), and the host's
/// first address.
pub async fn resolve(uri: &SipUri<'_>) -> Result<Target, Unresolvable> {
    let transport = match uri.param("transport") {
        Some(t) => t.parse::<Transport>().map_err(|_| Unresolvable::Transport)?,
        None if uri.is_secure() => Transport::Tls,
        None => Transport::Udp,
    };
    let port = uri.port().unwrap_or(default_port(transport));
    let addr = match uri.ip() {
        Some(ip) => SocketAddr::new(ip, port),
        None => {
            let lookup = tokio::net::lookup_host((uri.host(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(mut addrs)) => addrs.next().ok_or(Unresolvable::Host)?,
                _ => return Err(Unresolvable::Host),
            }
        }
    };
    let server_name = uri.ip().is_none().then(|| uri.host().to_string());
    Ok(Target { transport, addr, flow: None, server_name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            advertise: "127.0.0.1".into(),
            listeners: vec![
                (Transport::Udp, "127.0.0.1:5060".parse().unwrap()),
                (Transport::Tls, "127.0.0.1:5061".parse().unwrap()),
            ],
        }
    }

    #[test]
    fn recognises_itself() {
        let l = local();
        assert!(l.is_me(&SipUri::parse("sip:127.0.0.1;lr").unwrap()));
        assert!(l.is_me(&SipUri::parse("sips:127.0.0.1").unwrap()));
        assert!(!l.is_me(&SipUri::parse("sip:127.0.0.1:5070").unwrap()));
        assert!(!l.is_me(&SipUri::parse("sip:192.0.2.1").unwrap()));
        assert_eq!(l.record_route(Transport::Udp), "<sip:127.0.0.1:5060;lr>");
        assert_eq!(l.record_route(Transport::Tls), "<sips:127.0.0.1:5061;lr>");
    }

    #[tokio::test]
    async fn resolves_uris() {
        let t = resolve(&SipUri::parse("sip:192.0.2.1:5070;transport=tcp").unwrap()).await.unwrap();
        assert_eq!((t.transport, t.addr), (Transport::Tcp, "192.0.2.1:5070".parse().unwrap()));
        let t = resolve(&SipUri::parse("sips:[::1]").unwrap()).await.unwrap();
        assert_eq!((t.transport, t.addr.port()), (Transport::Tls, 5061));
        assert!(resolve(&SipUri::parse("sip:a@b;transport=sctp").unwrap()).await.is_err());
    }
}
