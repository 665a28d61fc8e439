//! Decodes arbitrary bytes as a response (and as a request body) of one of the APIs kafkac
//! implements.
//!
//! Input layout: byte 0 picks the API, byte 1 the version within the API's range
//! (`MIN_VERSION + byte % count`), the rest is the response body without its size prefix
//! (correlation id, header tagged fields when flexible, then the body).
//!
//! Besides "no panic", a response that decodes must re-encode to bytes that decode to the
//! same value; the record sets of a Fetch response are decoded as well.
#![no_main]

use bytes::Bytes;
use kafkac::protocol::frame::{decode_request_body, decode_response, encode_response};
use kafkac::protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeTransactionsRequest,
    FetchRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest,
};
use kafkac::protocol::{Reader, Request};
use kafkac::record::{DecodeLimits, RecordSet};
use libfuzzer_sys::fuzz_target;

/// The APIs in selector order (byte 0 modulo the count).
const APIS: usize = 8;

fn version_of<R: Request>(selector: u8) -> i16 {
    let count = (R::MAX_VERSION - R::MIN_VERSION + 1) as u16;
    R::MIN_VERSION + (selector as u16 % count) as i16
}

fn check<R: Request>(selector: u8, body: &[u8]) -> Option<R::Response>
where
    R::Response: PartialEq,
{
    let version = version_of::<R>(selector);
    let body = Bytes::copy_from_slice(body);

    // The same bytes as a request body (what the test brokers decode).
    let mut r = Reader::shared(&body);
    let _ = decode_request_body::<R>(&mut r, version);

    let (correlation_id, resp) = decode_response::<R>(&body, version).ok()?;
    let frame = encode_response::<R>(&resp, version, correlation_id);
    let again = Bytes::copy_from_slice(&frame[4..]);
    match decode_response::<R>(&again, version) {
        Ok((cid, resp2)) => {
            assert_eq!(cid, correlation_id);
            assert!(
                resp2 == resp,
                "re-encoded {} v{version} response decodes differently",
                kafkac::protocol::api_key::name(R::API_KEY)
            );
        }
        Err(e) => panic!(
            "re-encoded {} v{version} response does not decode: {e}",
            kafkac::protocol::api_key::name(R::API_KEY)
        ),
    }
    Some(resp)
}

fn fetch_records(resp: &kafkac::protocol::messages::FetchResponse) {
    let limits = DecodeLimits {
        max_decompressed: 1 << 20,
        ..Default::default()
    };
    for topic in &resp.responses {
        for p in &topic.partitions {
            if let Some(records) = &p.records {
                if let Ok(set) = RecordSet::decode(records.clone(), &limits) {
                    let mut sum = 0usize;
                    for i in 0..set.len() {
                        let rec = set.get(i).expect("index below len");
                        sum += rec.key.map_or(0, <[u8]>::len) + rec.value.map_or(0, <[u8]>::len);
                    }
                    std::hint::black_box(sum);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (api, version, body) = (data[0] as usize % APIS, data[1], &data[2..]);
    match api {
        0 => {
            check::<ApiVersionsRequest>(version, body);
        }
        1 => {
            check::<MetadataRequest>(version, body);
        }
        2 => {
            check::<ProduceRequest>(version, body);
        }
        3 => {
            if let Some(resp) = check::<FetchRequest>(version, body) {
                fetch_records(&resp);
            }
        }
        4 => {
            check::<ListOffsetsRequest>(version, body);
        }
        5 => {
            check::<CreateTopicsRequest>(version, body);
        }
        6 => {
            check::<DeleteTopicsRequest>(version, body);
        }
        _ => {
            check::<DescribeTransactionsRequest>(version, body);
        }
    }
});
