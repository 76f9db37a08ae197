//! The module as the proxy uses it, through the public API only.

use sipwarden::sip::{Frame, Message, Method, ParseError, Response, frame, parse, salvage_request_headers};

const MAX: usize = 64 * 1024;

#[test]
fn forwards_a_request_read_from_a_stream() {
    let mut stream = b"\r\n\r\nMESSAGE sip:bob@example.com SIP/2.0\r\n\
        v: SIP/2.0/TCP alice.example.com;branch=z9hG4bKa1\r\n\
        Max-Forwards: 70\r\n\
        f: <sip:alice@example.com>;tag=49583\r\n\
        t: <sip:bob@example.com>\r\n\
        i: asd88asd77a@1.2.3.4\r\n\
        CSeq: 1 MESSAGE\r\n\
        c: text/plain\r\n\
        l: 5\r\n\r\nhello"
        .to_vec();

    assert_eq!(frame(&stream, MAX), Ok(Frame::KeepAlive(4)));
    stream.drain(..4);
    let Ok(Frame::Message(len)) = frame(&stream, MAX) else { panic!("no message framed") };
    assert_eq!(len, stream.len());

    let Ok(Message::Request(mut request)) = parse(&stream[..len]) else { panic!("not a request") };
    assert_eq!(request.method, Method::MESSAGE);
    let hops = request.max_forwards().unwrap();
    request.headers.set("Max-Forwards", (hops - 1).to_string()).unwrap();
    request.headers.push_front("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1").unwrap();

    let forwarded = String::from_utf8(request.to_bytes()).unwrap();
    assert!(forwarded.starts_with(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n\
         Via: SIP/2.0/TCP alice.example.com;branch=z9hG4bKa1\r\n\
         Max-Forwards: 69\r\n\
         From: <sip:alice@example.com>;tag=49583\r\n"
    ));
    assert!(forwarded.ends_with("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"));
}

#[test]
fn answers_a_broken_request_with_the_parse_error() {
    let datagram = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKa2\r\n\
        From: <sip:alice@example.com>;tag=1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: broken@alice\r\n\
        CSeq: 7 INVITE\r\n\
        Content-Length: 0\r\n\r\n";
    let error = parse(datagram).unwrap_err();
    assert!(matches!(error, ParseError::BadHeader { name: "CSeq", .. }));

    let headers = salvage_request_headers(datagram).expect("answerable");
    let answer = Response::to_request_headers(&headers, error.status_code(), &error.to_string());
    let Ok(Message::Response(reparsed)) = parse(&answer.to_bytes()) else { panic!("answer unreadable") };
    assert_eq!(reparsed.status, 400);
    assert_eq!(reparsed.reason, "malformed CSeq header: method \"INVITE\" differs from the request method \"OPTIONS\"");
    assert_eq!(reparsed.via_branch(), Some("z9hG4bKa2"));
    assert!(reparsed.to_tag().is_some());
}
