//! Test helper for the attachment crash test: stores a pseudo-random blob in a sled store, prints
//! `STORED <sha256> <size>`, then uploads it to a case on the relay in chunks, printing `ACK <bytes>` after
//! each chunk the relay acknowledged (and `DONE` at the end). The parent kills it with SIGKILL mid-upload.
//!
//! Usage: `blob_uploader STORE_DIR URL TOKEN CASE BYTES SEED CHUNK_BYTES PAUSE_MS` (`PAUSE_MS` after each
//! acknowledged chunk, so that the parent's kill lands mid-upload).

use casebook_tests::bytes::pseudo_random;

use std::io::Write;
use std::time::Duration;

use casebook_core::model::attachment::BlobReader;
use casebook_core::sync::{RelayClient, TransferOptions};
use casebook_core::{CaseId, Store};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 9, "usage: blob_uploader STORE_DIR URL TOKEN CASE BYTES SEED CHUNK_BYTES PAUSE_MS");
    let store = Store::open(std::path::Path::new(&args[1]))?;
    let relay = RelayClient::with_token(&args[2], &args[3])?;
    let case: CaseId = args[4].parse()?;
    let (bytes, seed, chunk_bytes, pause): (usize, u64, usize, u64) =
        (args[5].parse()?, args[6].parse()?, args[7].parse()?, args[8].parse()?);
    let data = pseudo_random(bytes, seed);
    let blob = store.store_blob(&data[..], true, u64::MAX)?;
    drop(data);
    let mut out = std::io::stdout().lock();
    writeln!(out, "STORED {} {}", blob.sha256, blob.size)?;
    out.flush()?;
    let storage = store.storage();
    let options = TransferOptions { chunk_bytes, deadline: Duration::from_secs(60), ..Default::default() };
    let status = relay.upload_blob(
        &case,
        &blob.sha256,
        blob.size,
        |at| {
            let r = BlobReader::open(storage.clone(), &blob.sha256, at)
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::other("the blob is not on this device"))?;
            Ok(Box::new(r) as Box<dyn std::io::Read>)
        },
        &options,
        |done, _total| {
            let _ = writeln!(out, "ACK {done}");
            let _ = out.flush();
            std::thread::sleep(Duration::from_millis(pause));
        },
    )?;
    anyhow::ensure!(status.complete, "the relay did not complete the blob: {status:?}");
    println!("DONE");
    Ok(())
}
