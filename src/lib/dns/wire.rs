//! Reading an answer from the wire. hickory-proto refuses a whole message
//! when one record has no data at all (an RDLENGTH of 0 means something
//! only in dynamic updates to it), but a TXT record with no strings is
//! real zone data: it must not cost the records beside it (an SPF record,
//! spfquery(8)). Such a message is read again with empty records allowed;
//! an empty TXT becomes a TXT without strings, other empty records go.

use hickory_proto::op::{Header, Message, OpCode, Query};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

/// The message in `b`, or `None` if it is not one.
pub fn decode(b: &[u8]) -> Option<Message> {
    match Message::from_vec(b) {
        Ok(m) => Some(m),
        Err(DecodeError::InvalidEmptyRecord) => with_empty_records(b).ok(),
        Err(_) => None,
    }
}

fn with_empty_records(b: &[u8]) -> Result<Message, DecodeError> {
    let mut d = BinDecoder::new(b);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut d)?;
    let mut queries = Vec::new();
    for _ in 0..counts.queries {
        queries.push(Query::read(&mut d)?);
    }
    // Read as an update, which lets empty records through; the op code
    // of the message itself stays what it was.
    let mut section = |n: u16, additional: bool| {
        Message::read_records(&mut d, usize::from(n), additional, OpCode::Update)
    };
    let (answers, _, _) = section(counts.answers, false)?;
    let (authorities, _, _) = section(counts.authorities, false)?;
    let (additionals, edns, _) = section(counts.additionals, true)?;
    if let Some(e) = &edns {
        metadata.merge_response_code(e.rcode_high());
    }
    let mut m = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    m.metadata = metadata;
    m.queries = queries;
    m.answers = answers.into_iter().filter_map(fill_empty).collect();
    m.authorities = authorities.into_iter().filter_map(fill_empty).collect();
    m.additionals = additionals.into_iter().filter_map(fill_empty).collect();
    m.edns = edns;
    Ok(m)
}

/// An empty TXT is a TXT without strings; other empty records are dropped.
fn fill_empty(mut r: Record) -> Option<Record> {
    match r.data {
        RData::Update0(RecordType::TXT) => {
            r.data = RData::TXT(TXT::new(Vec::new()));
            Some(r)
        }
        RData::Update0(_) => None,
        _ => Some(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::MessageType;
    use hickory_proto::rr::rdata::A;

    fn txt(parts: &[&str]) -> Record {
        let n = super::super::name("a.example").unwrap();
        let strings = parts.iter().map(|s| s.to_string()).collect();
        Record::from_rdata(n, 60, RData::TXT(TXT::new(strings)))
    }

    #[test]
    fn an_empty_txt_keeps_its_neighbours() {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_answer(txt(&[]));
        m.add_answer(txt(&["v=spf1 ", "-all"]));
        let mut empty_a = Record::from_rdata(
            super::super::name("b.example").unwrap(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        );
        empty_a.data = RData::Update0(RecordType::A);
        m.add_additional(empty_a);
        let wire = m.to_vec().unwrap();
        assert!(
            Message::from_vec(&wire).is_err(),
            "hickory alone refuses it"
        );
        let got = decode(&wire).unwrap();
        assert_eq!(got.metadata.id, 7);
        assert_eq!(got.metadata.op_code, OpCode::Query);
        assert_eq!(got.answers, [txt(&[]), txt(&["v=spf1 ", "-all"])]);
        assert!(got.additionals.is_empty(), "an empty A record goes");
        assert!(decode(&wire[..wire.len() - 3]).is_none(), "truncated");
    }
}
