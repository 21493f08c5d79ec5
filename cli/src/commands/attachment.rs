//! Attachments: `casebook attach`, `casebook attachments`, `casebook open-attachment`,
//! `casebook keep-offline`, and the blob transfers of `casebook sync` (upload what the relay lacks,
//! download what is pinned). Progress goes to standard error; file names are never logged.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use casebook_core::model::attachment::{AttachmentRef, NewAttachment};
use casebook_core::sync::attachments::{download_attachment, download_pinned, retain_attachments, upload_attachments};
use casebook_core::sync::{SyncError, TransferOptions};
use casebook_core::{CaseId, Store};
use clap::Args;

use crate::context::Ctx;
use crate::{failure, output};

/// `casebook attach TARGET FILE`.
#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Id (or unique id prefix) of a document of the chronology, a record request, an appointment or an
    /// opinion.
    target: String,
    /// The file to attach (photo, scan, PDF, recording).
    file: PathBuf,
    /// Its media type (default: guessed from the file name's extension).
    #[arg(long, value_name = "TYPE")]
    media_type: Option<String>,
    /// Keep a photo's location (its Exif and XMP segments), which is removed by default.
    #[arg(long)]
    keep_location: bool,
}

/// `casebook attachments [TARGET]`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only the attachments of this item (id or unique id prefix).
    target: Option<String>,
}

/// `casebook open-attachment ID --out FILE`.
#[derive(Debug, Args)]
pub(crate) struct OpenArgs {
    /// Attachment id.
    id: String,
    /// Where to write it (downloaded from the relay first if it is not on this device).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `casebook keep-offline ID [--off]`.
#[derive(Debug, Args)]
pub(crate) struct KeepOfflineArgs {
    /// Attachment id.
    id: String,
    /// Stop keeping it offline (it stays until collected).
    #[arg(long)]
    off: bool,
}

/// A media type from a file name's extension.
fn guess_media_type(file: &std::path::Path) -> &'static str {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "heic" => "image/heic",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "pdf" => "application/pdf",
        "dcm" => "application/dicom",
        "mp3" => "audio/mpeg",
        "m4a" | "mp4a" => "audio/mp4",
        "wav" => "audio/wav",
        "ogg" | "opus" => "audio/ogg",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// `casebook attach`: the blob goes to the local store, the reference to the case (offline; `casebook
/// sync` uploads it).
pub(crate) fn attach(ctx: &Ctx, a: AttachArgs) -> Result<()> {
    let file = std::fs::File::open(&a.file).with_context(|| "the file to attach cannot be opened".to_string())?;
    let name = a
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| failure::invalid("the file name is not valid text"))?
        .to_string();
    let media_type = a.media_type.clone().unwrap_or_else(|| guess_media_type(&a.file).to_string());
    let att = output::edit(ctx, |o| {
        let target = o.case.attach_target(&a.target)?;
        let author = ctx.author_opt(o)?;
        let mut new = NewAttachment::new(&name, &media_type, author.as_deref());
        new.keep_location = a.keep_location;
        Ok(o.case.attach(target, new, std::io::BufReader::new(file))?)
    })?;
    output::emit(ctx, &att, |att| {
        format!(
            "Attached {} ({} bytes, {}) to {} {}: on this device; `casebook sync` uploads it.",
            att.id,
            att.size,
            output::line(&att.media_type),
            noun(att),
            att.target.id
        )
    })
}

fn noun(a: &AttachmentRef) -> &'static str {
    a.target.kind.noun()
}

/// `casebook attachments`.
pub(crate) fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let open = ctx.open()?;
    let target = a.target.as_deref().map(|t| open.case.attach_target(t)).transpose()?;
    let list = open.case.attachments(target.as_ref());
    let pinned = open.store.pinned_attachments(open.case.id())?;
    output::emit(ctx, &list, |list| {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|x| {
                vec![
                    x.id.clone(),
                    format!("{} {}", noun(x), x.target.id),
                    output::line(&x.file_name),
                    output::line(&x.media_type),
                    x.size.to_string(),
                    if x.on_device {
                        "on this device".into()
                    } else if pinned.contains(&x.id) {
                        "pinned, not downloaded yet".into()
                    } else {
                        "on the relay".into()
                    },
                ]
            })
            .collect();
        output::table_or("No attachments.", &["ID", "ON", "FILE", "TYPE", "BYTES", "WHERE"], &rows)
    })
}

/// `casebook keep-offline`.
pub(crate) fn keep_offline(ctx: &Ctx, a: KeepOfflineArgs) -> Result<()> {
    let open = ctx.open()?;
    let att = open.case.attachment(&a.id)?;
    open.store.pin_attachment(open.case.id(), &att.id, !a.off)?;
    output::saved(
        ctx,
        &if a.off {
            format!("Attachment {} is no longer kept offline.", att.id)
        } else {
            format!("Attachment {} is kept offline: `casebook sync` downloads it.", att.id)
        },
    )
}

/// A progress line on standard error, at most every 200 ms.
struct Progress {
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        Progress { last: None, shown: false }
    }
    fn show(&mut self, what: &str, id: &str, done: u64, total: u64) {
        let now = Instant::now();
        if done < total && self.last.is_some_and(|l| now.duration_since(l) < Duration::from_millis(200)) {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{what} attachment {id}: {:.1} of {:.1} MiB   ", mb(done), mb(total));
        let _ = err.flush();
    }
    fn end(&self) {
        if self.shown {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `casebook open-attachment`: write the attachment (verified by its hash) to a file, downloading it first
/// when it is not on this device.
pub(crate) fn open_attachment(ctx: &Ctx, a: OpenArgs) -> Result<()> {
    let open = ctx.open()?;
    let att = open.case.attachment(&a.id)?;
    let id = open.case.id().clone();
    let store = open.store.clone();
    drop(open);
    if !att.on_device {
        let account = crate::commands::relay::account(&store)?;
        let relay = crate::commands::relay::client(&account)?;
        let mut p = Progress::new();
        let r = download_attachment(&relay, &store, &id, &att, &TransferOptions::default(), |d, t| {
            p.show("downloading", &att.id, d, t)
        });
        p.end();
        r?;
    }
    let case = store.open_case(&id)?;
    let mut reader = case.open_attachment(&att.id)?;
    let tmp = a.out.with_extension("casebook-partial");
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).context("the output file cannot be created")?;
        std::io::copy(&mut reader, &mut f).context("the attachment could not be written (damaged on this device?)")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &a.out).context("the output file cannot be written")?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    output::emit(ctx, &att, |att| format!("Wrote attachment {} ({} bytes, verified).", att.id, att.size))
}

/// The attachment part of `casebook sync`: upload the blobs the relay lacks (editors and owners), tell the
/// relay which blobs the case still references, download those pinned "keep offline", and delete the
/// device's blobs no case references. A viewer's uploads are skipped. Returns (uploaded, downloaded).
pub(crate) fn transfer(store: &Store, id: &CaseId) -> Result<(usize, usize)> {
    let list = store.open_case(id)?.attachments(None);
    if list.is_empty() {
        return Ok((0, 0));
    }
    let account = crate::commands::relay::account(store)?;
    let relay = crate::commands::relay::client(&account)?;
    let opts = TransferOptions::default();
    let mut p = Progress::new();
    let up = match upload_attachments(&relay, store, id, &list, &opts, |a, d, t| p.show("uploading", &a.id, d, t)) {
        Ok(n) => {
            let _ = retain_attachments(&relay, id, &list);
            n
        }
        Err(SyncError::Forbidden { .. }) => 0,
        Err(e) => {
            p.end();
            return Err(e.into());
        }
    };
    let down = download_pinned(&relay, store, id, &list, &opts, |a, d, t| p.show("downloading", &a.id, d, t));
    p.end();
    let down = down?;
    // Blobs no case of this store references any more leave the device (those written within the hour stay).
    store.collect_blobs()?;
    Ok((up, down))
}
