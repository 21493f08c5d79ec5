//! A pre-check of inbound sync messages, in front of samod: automerge 0.12 panics on some hostile sync
//! messages while answering them (a Bloom filter with entries but zero bits divides by zero; a huge probe
//! count allocates gigabytes), and the panic kills samod's actor for that document — every member of the
//! case would stop syncing until the relay restarts. Found by `casebook-fuzz ws`.
//!
//! Only `request` and `sync` messages are inspected (a CBOR map with `type` and `data`); their `data` is
//! decoded as an automerge sync message, each `have` Bloom filter's parameters are checked and compressed
//! change chunks (deflate bombs) are refused. Anything
//! this check cannot read is passed on unchanged: samod's own decoder decides, as before.

use automerge::sync::Message;

/// Probes per Bloom filter lookup accepted (automerge writes 7).
const MAX_PROBES: u64 = 64;
/// Bits per entry accepted (automerge writes 10).
const MAX_BITS_PER_ENTRY: u64 = 64;

/// `Err(reason)` if the message must not reach samod.
pub(crate) fn check(bytes: &[u8]) -> Result<(), &'static str> {
    let Some(data) = sync_data(bytes) else { return Ok(()) };
    let decoded = std::panic::catch_unwind(|| Message::decode(data)).map_err(|_| "undecodable sync data")?;
    let Ok(message) = decoded else { return Ok(()) };
    for have in &message.have {
        check_bloom(&have.bloom.to_bytes())?;
    }
    // automerge inflates a compressed change chunk (type 2) without bound: a deflate bomb. Automerge and
    // automerge-repo clients send uncompressed changes (`raw_bytes`), so refuse compressed ones.
    if message.changes.iter().any(|c| c.len() > 8 && c[..4] == [0x85, 0x6f, 0x4a, 0x83] && c[8] == 2) {
        return Err("compressed change chunk in a sync message");
    }
    Ok(())
}

/// The `data` of a `request` or `sync` message, if `bytes` is one.
fn sync_data(bytes: &[u8]) -> Option<&[u8]> {
    let mut d = minicbor::Decoder::new(bytes);
    let n = d.map().ok()??;
    let (mut kind, mut data) = (None, None);
    for _ in 0..n {
        match d.str().ok()? {
            "type" => kind = Some(d.str().ok()?),
            "data" => data = Some(d.bytes().ok()?),
            _ => d.skip().ok()?,
        }
    }
    matches!(kind, Some("request" | "sync")).then_some(data).flatten()
}

/// A Bloom filter's wire form: nothing (empty filter), or LEB128 entries, bits per entry, probes, then
/// the bits.
fn check_bloom(b: &[u8]) -> Result<(), &'static str> {
    if b.is_empty() {
        return Ok(());
    }
    let mut rest = b;
    let mut next = || -> Result<u64, &'static str> {
        let (v, used) = leb128(rest).ok_or("malformed Bloom filter")?;
        rest = &rest[used..];
        Ok(v)
    };
    let (entries, bits_per_entry, probes) = (next()?, next()?, next()?);
    if entries == 0 {
        return Ok(());
    }
    if bits_per_entry == 0
        || bits_per_entry > MAX_BITS_PER_ENTRY
        || probes == 0
        || probes > MAX_PROBES
        || rest.is_empty()
    {
        return Err("hostile Bloom filter in a sync message");
    }
    Ok(())
}

fn leb128(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(kind: &str, data: &[u8]) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(3).unwrap();
        e.str("type").unwrap().str(kind).unwrap();
        e.str("senderId").unwrap().str("device-x").unwrap();
        e.str("data").unwrap().bytes(data).unwrap();
        e.into_writer()
    }

    /// A sync message with one `have` whose Bloom filter is `bloom` (wire form), built by hand: version
    /// byte 0x42, heads, need, have (last_sync, bloom), changes — each a LEB128-counted list.
    fn sync_with_bloom(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![0x42, 0, 0, 1, 0];
        m.push(bloom.len() as u8);
        m.extend(bloom);
        m.push(0);
        m
    }

    #[test]
    fn a_zero_bit_bloom_filter_is_refused_before_samod() {
        // Regression (casebook-fuzz ws): 1 entry, 0 bits per entry, 7 probes: automerge divides by zero.
        let hostile = sync_with_bloom(&[1, 0, 7]);
        assert!(Message::decode(&hostile).is_ok(), "automerge accepts it");
        assert!(check(&wire("sync", &hostile)).is_err());
        assert!(check(&wire("request", &hostile)).is_err());
        // A huge probe count (would allocate gigabytes): refused.
        assert!(check(&wire("sync", &sync_with_bloom(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]))).is_err());
        // A normal filter passes; so does anything this check cannot read.
        assert!(check(&wire("sync", &sync_with_bloom(&[1, 10, 7, 0, 0]))).is_ok());
        assert!(check(&wire("sync", b"not a sync message")).is_ok());
        assert!(check(b"\xff garbage").is_ok());
    }

    #[test]
    fn a_compressed_change_chunk_is_refused_before_samod_inflates_it() {
        // v1 sync message: no heads, needs or haves; one change chunk of type 2 (compressed change).
        let chunk = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 3, 0x4b, 0x04, 0x00];
        let mut m = vec![0x42, 0, 0, 0, 1, chunk.len() as u8];
        m.extend(chunk);
        assert!(Message::decode(&m).is_ok(), "automerge accepts the message");
        assert!(check(&wire("sync", &m)).is_err());
    }

    #[test]
    fn real_sync_messages_pass() {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let doc = doc.document().clone();
        let mut state = automerge::sync::State::new();
        let m = doc.generate_sync_message(&mut state).unwrap().encode();
        assert!(check(&wire("sync", &m)).is_ok());
        let mut b = automerge::Automerge::new();
        let mut sb = automerge::sync::State::new();
        b.receive_sync_message(&mut sb, Message::decode(&m).unwrap()).unwrap();
        let reply = b.generate_sync_message(&mut sb).unwrap().encode();
        assert!(check(&wire("sync", &reply)).is_ok());
    }
}
