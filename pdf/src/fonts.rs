//! Font discovery: the fonts of the system, found once per process on first use, plus the fonts bundled in
//! the binary (Typst's Libertinus Serif, New Computer Modern and DejaVu Sans Mono: Latin, Greek, Cyrillic),
//! so that a machine without fonts still renders.
//!
//! Searched: the platforms' font folders (Linux `/usr/share/fonts`, `/usr/local/share/fonts`,
//! `~/.local/share/fonts`; macOS and iOS `/System/Library/Fonts`, `/Library/Fonts`, `~/Library/Fonts`;
//! Android `/system/fonts`) and the folders listed in `CASEBOOK_FONT_DIRS` (separated like `PATH`). Only
//! the fonts' metadata is kept at discovery; a font's file is read when a document first needs it. Arabic,
//! Chinese, Japanese and emoji need a system font (e.g. Noto Sans Arabic or DejaVu Sans, WenQuanYi Micro
//! Hei or Noto Sans CJK, Noto Color Emoji): Typst falls back to any font that has the character.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use typst::foundations::Bytes;
use typst::text::{Font, FontBook, FontInfo};
use typst::utils::LazyHash;

/// The environment variable naming more font folders.
pub const FONT_DIRS_VAR: &str = "CASEBOOK_FONT_DIRS";

/// Where a font's data comes from.
#[derive(Debug)]
enum Source {
    /// Bundled in the binary.
    Embedded(&'static [u8]),
    /// A file, read on first use.
    File(PathBuf),
}

/// One face of a font file, loaded on first use.
#[derive(Debug)]
struct Slot {
    source: Source,
    index: u32,
    font: OnceLock<Option<Font>>,
}

/// The fonts a document can use: their metadata (Typst's font book) and lazily loaded faces.
#[derive(Debug)]
pub struct Fonts {
    book: LazyHash<FontBook>,
    slots: Vec<Slot>,
}

impl Fonts {
    /// The process's fonts, discovered on first call.
    pub fn shared() -> Arc<Fonts> {
        static FONTS: OnceLock<Arc<Fonts>> = OnceLock::new();
        FONTS.get_or_init(|| Arc::new(Fonts::discover(&search_dirs()))).clone()
    }

    /// The bundled fonts only (tests: rendering without any system font).
    pub fn embedded_only() -> Fonts {
        Fonts::discover(&[])
    }

    /// The fonts in `dirs` (recursively), then the bundled ones.
    pub fn discover(dirs: &[PathBuf]) -> Fonts {
        let mut book = FontBook::new();
        let mut slots = Vec::new();
        let mut files = Vec::new();
        for dir in dirs {
            collect_files(dir, 0, &mut files);
        }
        files.sort();
        files.dedup();
        for path in files {
            let Ok(data) = std::fs::read(&path) else { continue };
            for (index, info) in faces(&data) {
                book.push(info);
                slots.push(Slot { source: Source::File(path.clone()), index, font: OnceLock::new() });
            }
        }
        for data in typst_assets::fonts() {
            for (index, info) in faces(data) {
                book.push(info);
                slots.push(Slot { source: Source::Embedded(data), index, font: OnceLock::new() });
            }
        }
        Fonts { book: LazyHash::new(book), slots }
    }

    /// Typst's font book (the metadata of every face).
    pub fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }

    /// The face at `index` of the book, loaded on first use (`None`: out of range, or its file is gone).
    pub fn font(&self, index: usize) -> Option<Font> {
        let slot = self.slots.get(index)?;
        slot.font
            .get_or_init(|| {
                let data = match &slot.source {
                    Source::Embedded(data) => Bytes::new(*data),
                    Source::File(path) => Bytes::new(std::fs::read(path).ok()?),
                };
                Font::new(data, slot.index)
            })
            .clone()
    }

    /// How many faces are known.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no face is known (never: the bundled fonts are always there).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether a face of `family` (lower case, as Typst keeps it) is known.
    pub fn has_family(&self, family: &str) -> bool {
        self.book.contains_family(family)
    }
}

/// The faces of a font file (or collection) Typst can use, with their index in the file.
fn faces(data: &[u8]) -> impl Iterator<Item = (u32, FontInfo)> + '_ {
    // A collection (`ttcf`) gives its number of fonts at offset 8; a single font is one face.
    let count = match data {
        [b't', b't', b'c', b'f', _, _, _, _, a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]).min(256),
        _ => 1,
    };
    (0..count).filter_map(move |i| FontInfo::new(data, i).map(|info| (i, info)))
}

/// The folders searched for system fonts on this platform, then those of `CASEBOOK_FONT_DIRS`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(extra) = std::env::var_os(FONT_DIRS_VAR) {
        dirs.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(target_os = "android") {
        dirs.push("/system/fonts".into());
    } else if cfg!(target_vendor = "apple") {
        dirs.push("/System/Library/Fonts".into());
        dirs.push("/Library/Fonts".into());
        if let Some(h) = &home {
            dirs.push(h.join("Library/Fonts"));
        }
    } else if cfg!(windows) {
        if let Some(w) = std::env::var_os("WINDIR") {
            dirs.push(Path::new(&w).join("Fonts"));
        }
    } else {
        dirs.push("/usr/share/fonts".into());
        dirs.push("/usr/local/share/fonts".into());
        if let Some(h) = &home {
            dirs.push(h.join(".local/share/fonts"));
            dirs.push(h.join(".fonts"));
        }
    }
    dirs
}

/// Font files under `dir` (`.ttf`, `.otf`, `.ttc`, `.otc`), at most 8 folders deep.
fn collect_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            collect_files(&path, depth + 1, out);
        } else if meta.is_file() {
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("ttf" | "otf" | "ttc" | "otc")) {
                out.push(path);
            }
        }
    }
}
